package plan

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// A mutation changes one field of a fully filled rule. prep, if set, runs
// on both rules first.
type mutation struct {
	name        string
	prep, apply func(root reflect.Value)
	same        bool
}

type locate func(root reflect.Value) reflect.Value

// fill sets every field reachable from v: strings "s", numbers 1, booleans
// true, pointers to filled values, slices of one filled element, maps of
// one filled entry under "k". A type recursive through itself (Filter) is
// filled two levels deep.
func fill(t *testing.T, v reflect.Value, depth map[reflect.Type]int) {
	switch v.Kind() {
	case reflect.Struct:
		if depth[v.Type()] >= 2 {
			return
		}
		depth[v.Type()]++
		for i := range v.NumField() {
			fill(t, v.Field(i), depth)
		}
		depth[v.Type()]--
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem(), depth)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(t, v.Index(0), depth)
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			t.Fatalf("fill: map key type %s not supported", v.Type().Key())
		}
		v.Set(reflect.MakeMap(v.Type()))
		val := reflect.New(v.Type().Elem()).Elem()
		fill(t, val, depth)
		v.SetMapIndex(reflect.ValueOf("k").Convert(v.Type().Key()), val)
	case reflect.String:
		v.SetString("s")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	default:
		t.Fatalf("fill: kind %s (%s) not supported: extend sameRule and this test", v.Kind(), v.Type())
	}
}

// changeLeaf changes a filled scalar or byte slice in place.
func changeLeaf(t *testing.T, v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "x")
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(v.Uint() + 1)
	case reflect.Slice:
		v.Set(reflect.AppendSlice(reflect.MakeSlice(v.Type(), 0, v.Len()+1), v))
		v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem())))
	default:
		t.Fatalf("changeLeaf: kind %s (%s) not supported", v.Kind(), v.Type())
	}
}

// mutations lists, for the value of type typ found by at, one mutation per
// field at every depth: nil for pointers, slices and maps, a changed value
// for scalars and map entries, a zeroed Origin (which must compare same).
func mutations(t *testing.T, typ reflect.Type, name string, at locate, depth map[reflect.Type]int, out *[]mutation) {
	zero := func(r reflect.Value) { v := at(r); v.Set(reflect.Zero(v.Type())) }
	switch typ.Kind() {
	case reflect.Struct:
		switch {
		case typ == originType:
			*out = append(*out, mutation{name: name + " zeroed", apply: zero, same: true})
			return
		case depth[typ] >= 1:
			// Nested once more (Filter in Filter): its fields are covered
			// at the outer level; it must still be compared.
			*out = append(*out, mutation{name: name + " zeroed", apply: zero})
			return
		}
		depth[typ]++
		for i := range typ.NumField() {
			f := typ.Field(i)
			fat := func(r reflect.Value) reflect.Value { return at(r).Field(i) }
			if typ == conditionType && f.Name == "ID" {
				clear := func(r reflect.Value) { at(r).FieldByName("Segment").SetString("") }
				*out = append(*out,
					mutation{name: name + ".ID with Segment set", apply: func(r reflect.Value) { changeLeaf(t, fat(r)) }, same: true},
					mutation{name: name + ".ID without Segment", prep: clear, apply: func(r reflect.Value) { changeLeaf(t, fat(r)) }})
				continue
			}
			mutations(t, f.Type, name+"."+f.Name, fat, depth, out)
		}
		depth[typ]--
	case reflect.Pointer:
		*out = append(*out, mutation{name: name + " nil", apply: zero})
		mutations(t, typ.Elem(), name, func(r reflect.Value) reflect.Value { return at(r).Elem() }, depth, out)
	case reflect.Slice:
		*out = append(*out, mutation{name: name + " nil", apply: zero})
		if typ.Elem().Kind() == reflect.Uint8 {
			*out = append(*out, mutation{name: name + " longer", apply: func(r reflect.Value) { changeLeaf(t, at(r)) }})
			return
		}
		mutations(t, typ.Elem(), name+"[0]", func(r reflect.Value) reflect.Value { return at(r).Index(0) }, depth, out)
	case reflect.Map:
		*out = append(*out, mutation{name: name + " nil", apply: zero},
			mutation{name: name + " value", apply: func(r reflect.Value) {
				m := at(r)
				k := m.MapKeys()[0]
				v := reflect.New(typ.Elem()).Elem()
				v.Set(m.MapIndex(k))
				changeLeaf(t, v)
				m.SetMapIndex(k, v)
			}},
			mutation{name: name + " key", apply: func(r reflect.Value) {
				m := at(r)
				k := m.MapKeys()[0]
				v := m.MapIndex(k)
				m.SetMapIndex(k, reflect.Value{})
				m.SetMapIndex(reflect.ValueOf(k.String()+"x").Convert(typ.Key()), v)
			}})
	default:
		*out = append(*out, mutation{name: name, apply: func(r reflect.Value) { changeLeaf(t, at(r)) }})
	}
}

func filledRule(t *testing.T) *segment.Rule {
	r := &segment.Rule{}
	fill(t, reflect.ValueOf(r).Elem(), map[reflect.Type]int{})
	return r
}

// TestSameRuleComparesEveryField changes each field of a fully filled rule,
// at every depth, found by reflection: sameRule must tell the rules apart
// (so a field added to the rule types and not compared fails here), except
// for Origin fields and the ID of a condition whose Segment is set. The
// reflection oracle must agree.
func TestSameRuleComparesEveryField(t *testing.T) {
	var ms []mutation
	mutations(t, reflect.TypeFor[segment.Rule](), "Rule", func(r reflect.Value) reflect.Value { return r }, map[reflect.Type]int{}, &ms)
	if len(ms) < 100 {
		t.Fatalf("only %d mutations: the walk is broken", len(ms))
	}
	a0, b0 := filledRule(t), filledRule(t)
	if !sameRule(a0, b0) || !sameRuleReflect(a0, b0) {
		t.Fatal("two filled rules differ")
	}
	for _, m := range ms {
		a, b := filledRule(t), filledRule(t)
		ra, rb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
		if m.prep != nil {
			m.prep(ra)
			m.prep(rb)
		}
		m.apply(rb)
		if got := sameRule(a, b); got != m.same {
			t.Errorf("%s: sameRule = %v, want %v", m.name, got, m.same)
		}
		if got := sameRuleReflect(a, b); got != m.same {
			t.Errorf("%s: oracle = %v, want %v (the test is wrong)", m.name, got, m.same)
		}
		if got := sameRule(b, a); got != m.same {
			t.Errorf("%s: sameRule swapped = %v, want %v", m.name, got, m.same)
		}
	}
}

// noisyRand draws from a seeded source; past a divergence it draws from
// another, so that two rules generated with the same seed are equal or
// differ a little.
type noisyRand struct {
	base, other *rand.Rand
	p           float64
}

func (n *noisyRand) IntN(k int) int {
	if n.p > 0 && n.other.Float64() < n.p {
		return n.other.IntN(k)
	}
	return n.base.IntN(k)
}

// gen fills v at random over small domains, so that equal and unequal
// fields are both common: strings "", "a", "b"; small numbers; nil or set
// pointers; nil, empty or short slices and maps.
func gen(t *testing.T, r *noisyRand, v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			gen(t, r, v.Field(i), depth+1)
		}
	case reflect.Pointer:
		if depth < 12 && r.IntN(3) > 0 {
			v.Set(reflect.New(v.Type().Elem()))
			gen(t, r, v.Elem(), depth+1)
		}
	case reflect.Slice:
		n := r.IntN(4) - 1 // -1: nil
		if depth >= 12 || n < 0 {
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), n, n))
		for i := range n {
			gen(t, r, v.Index(i), depth+1)
		}
	case reflect.Map:
		n := r.IntN(4) - 1
		if n < 0 {
			return
		}
		v.Set(reflect.MakeMap(v.Type()))
		for range n {
			k := reflect.New(v.Type().Key()).Elem()
			gen(t, r, k, depth+1)
			val := reflect.New(v.Type().Elem()).Elem()
			gen(t, r, val, depth+1)
			v.SetMapIndex(k, val)
		}
	case reflect.String:
		v.SetString([]string{"", "a", "b"}[r.IntN(3)])
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(r.IntN(2)))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(r.IntN(2)))
	default:
		t.Fatalf("gen: kind %s (%s) not supported", v.Kind(), v.Type())
	}
}

// TestSameRuleMatchesReflection compares sameRule with the reflection
// oracle over random pairs of rules, equal or nearly so.
func TestSameRuleMatchesReflection(t *testing.T) {
	counts := map[bool]int{}
	for seed := range uint64(20000) {
		p := []float64{0, 0.002, 0.01, 0.05}[seed%4]
		var a, b segment.Rule
		gen(t, &noisyRand{base: rand.New(rand.NewPCG(seed, 1)), other: rand.New(rand.NewPCG(seed, 2))}, reflect.ValueOf(&a).Elem(), 0)
		gen(t, &noisyRand{base: rand.New(rand.NewPCG(seed, 1)), other: rand.New(rand.NewPCG(seed, 3)), p: p}, reflect.ValueOf(&b).Elem(), 0)
		want := sameRuleReflect(&a, &b)
		if got := sameRule(&a, &b); got != want {
			t.Fatalf("seed %d: sameRule = %v, oracle %v\na: %+v\nb: %+v", seed, got, want, a, b)
		}
		counts[want]++
	}
	if counts[true] < 2000 || counts[false] < 2000 {
		t.Fatalf("generated pairs too one-sided: %v", counts)
	}
}
