package segment

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fill sets every field reachable from v (a settable value) to something
// non-zero: pointers allocated, slices of two elements, maps of one entry,
// recursing depth levels. A field added to a rule type later is filled too,
// so the aliasing check below covers it without changes.
func fill(v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(3)
	case reflect.Uint8:
		v.SetUint(1)
	case reflect.Pointer:
		if depth == 0 {
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), depth-1)
	case reflect.Slice:
		if depth == 0 {
			return
		}
		if v.Type() == reflect.TypeFor[json.RawMessage]() {
			v.SetBytes([]byte(`{"k":1}`))
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(v.Index(i), depth-1)
		}
	case reflect.Map:
		if depth == 0 {
			return
		}
		v.Set(reflect.MakeMap(v.Type()))
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, depth-1)
		fill(e, depth-1)
		v.SetMapIndex(k, e)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), depth)
			}
		}
	}
}

// shared reports the path of the first slice, map or pointer of b that
// shares memory with a (RawMessage values excepted: they are immutable
// bytes by convention).
func shared(a, b reflect.Value, path string) string {
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() {
			return ""
		}
		if a.Pointer() == b.Pointer() {
			return path
		}
		return shared(a.Elem(), b.Elem(), path)
	case reflect.Slice:
		if a.Type() == reflect.TypeFor[json.RawMessage]() || a.Len() == 0 {
			return ""
		}
		if a.Pointer() == b.Pointer() {
			return path
		}
		for i := range a.Len() {
			if p := shared(a.Index(i), b.Index(i), path+"[]"); p != "" {
				return p
			}
		}
	case reflect.Map:
		if a.IsNil() {
			return ""
		}
		if a.Pointer() == b.Pointer() {
			return path
		}
		for _, k := range a.MapKeys() {
			if p := shared(a.MapIndex(k), b.MapIndex(k), path+"{}"); p != "" {
				return p
			}
		}
	case reflect.Struct:
		for i := range a.NumField() {
			if a.Type().Field(i).IsExported() {
				if p := shared(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); p != "" {
					return p
				}
			}
		}
	}
	return ""
}

func TestCloneSharesNothing(t *testing.T) {
	var r Rule
	fill(reflect.ValueOf(&r).Elem(), 8)
	if r.Conditions[0].Conditions[0].LeftValue.Filter.Conditions[0].Operator.From.Last == nil {
		t.Fatal("fill did not reach the nested fields")
	}
	c := r.Clone()
	if diff := cmp.Diff(r, c); diff != "" {
		t.Fatalf("clone differs (-original +clone):\n%s", diff)
	}
	if p := shared(reflect.ValueOf(r), reflect.ValueOf(c), "Rule"); p != "" {
		t.Errorf("clone shares %s with the original", p)
	}
}

func TestCloneOfWireRuleEncodesTheSame(t *testing.T) {
	raw, err := os.ReadFile("testdata/wire_rule.json")
	if err != nil {
		t.Fatal(err)
	}
	var r Rule
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	c := r.Clone()
	want, _ := json.Marshal(r)
	got, _ := json.Marshal(c)
	if string(got) != string(want) {
		t.Errorf("clone encodes as\n%s\nwant\n%s", got, want)
	}
	// Changing the clone leaves the original alone.
	c.Conditions[0].Conditions[0].Segment = "changed"
	c.Conditions[0].Type = "changed"
	if r.Conditions[0].Conditions[0].Segment == "changed" || r.Conditions[0].Type == "changed" {
		t.Error("changing the clone changed the original")
	}
	var empty Rule
	if e := empty.Clone(); e.Conditions != nil || e.Extra != nil {
		t.Errorf("clone of the empty rule = %+v", e)
	}
}
