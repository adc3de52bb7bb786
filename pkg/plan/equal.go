package plan

import (
	"reflect"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// sameRule reports whether two rules are identical apart from what is never
// written to Treasure Data: source positions (Origin fields), and the id of
// a Reference condition that names its segment on both sides. It is the
// fast path of rulesEqual: true means equal; false means "compare the
// normalized encodings".
func sameRule(a, b *segment.Rule) bool {
	return sameValue(reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem())
}

var (
	originType    = reflect.TypeFor[segment.Origin]()
	conditionType = reflect.TypeFor[segment.Condition]()
)

func sameValue(a, b reflect.Value) bool {
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return sameValue(a.Elem(), b.Elem())
	case reflect.Struct:
		t := a.Type()
		skipID := false
		if t == conditionType {
			sa, sb := a.FieldByName("Segment").String(), b.FieldByName("Segment").String()
			skipID = sa != "" && sa == sb
		}
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Type == originType || (skipID && f.Name == "ID") {
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
