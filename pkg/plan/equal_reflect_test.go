package plan

import (
	"reflect"
	"sync"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// sameRuleReflect is the reflection-based comparator sameRule replaced,
// kept as the oracle of the differential tests: two rules are the same
// when every field but Origin is equal, nil and empty slices and maps
// alike, and the ID of a Reference condition is skipped when its Segment
// is set and equal on both sides.
func sameRuleReflect(a, b *segment.Rule) bool {
	return sameValue(reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem())
}

var (
	originType    = reflect.TypeFor[segment.Origin]()
	conditionType = reflect.TypeFor[segment.Condition]()
	// Field indexes of Condition, looked up once (FieldByName searches).
	conditionSegment = fieldIndex(conditionType, "Segment")
	conditionID      = fieldIndex(conditionType, "ID")
)

// comparedFields caches, per struct type, the indexes of the fields that
// sameValue compares (all but Origin).
var comparedFields sync.Map // reflect.Type → []int

func fieldsOf(t reflect.Type) []int {
	if v, ok := comparedFields.Load(t); ok {
		return v.([]int)
	}
	var idx []int
	for i := range t.NumField() {
		if t.Field(i).Type != originType {
			idx = append(idx, i)
		}
	}
	comparedFields.Store(t, idx)
	return idx
}

func fieldIndex(t reflect.Type, name string) int {
	f, ok := t.FieldByName(name)
	if !ok || len(f.Index) != 1 {
		panic("plan: " + t.String() + " has no field " + name)
	}
	return f.Index[0]
}

func sameValue(a, b reflect.Value) bool {
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return sameValue(a.Elem(), b.Elem())
	case reflect.Struct:
		t := a.Type()
		skipID := -1
		if t == conditionType {
			sa, sb := a.Field(conditionSegment).String(), b.Field(conditionSegment).String()
			if sa != "" && sa == sb {
				skipID = conditionID
			}
		}
		for _, i := range fieldsOf(t) {
			if i == skipID {
				continue
			}
			if !sameValue(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice:
		if a.Len() != b.Len() {
			return false
		}
		if a.Type().Elem().Kind() == reflect.Uint8 {
			return string(a.Bytes()) == string(b.Bytes())
		}
		for i := range a.Len() {
			if !sameValue(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.Len() != b.Len() {
			return false
		}
		it := a.MapRange()
		for it.Next() {
			bv := b.MapIndex(it.Key())
			if !bv.IsValid() || !sameValue(it.Value(), bv) {
				return false
			}
		}
		return true
	case reflect.String:
		return a.String() == b.String()
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() == b.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return a.Uint() == b.Uint()
	case reflect.Float32, reflect.Float64:
		return a.Float() == b.Float()
	}
	// Kinds a rule does not hold: let the encodings decide.
	return false
}
