package segment

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
)

// The rule types keep unknown wire fields in Extra and write them back, and
// they emit the fields the wire format requires even when empty
// (arrayMatching: null on Value conditions, exclude, groupingColumns on
// Count). The helpers below do this once for every type.

var jsonNull = json.RawMessage("null")

// jsonKeys returns the JSON field names declared by struct type t.
func jsonKeys(t reflect.Type) map[string]bool {
	keys := map[string]bool{}
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		keys[name] = true
	}
	return keys
}

var (
	ruleKeys         = jsonKeys(reflect.TypeFor[Rule]())
	conditionSetKeys = jsonKeys(reflect.TypeFor[ConditionSet]())
	conditionKeys    = jsonKeys(reflect.TypeFor[Condition]())
	leftValueKeys    = jsonKeys(reflect.TypeFor[LeftValue]())
	aggregationKeys  = jsonKeys(reflect.TypeFor[Aggregation]())
	filterKeys       = jsonKeys(reflect.TypeFor[Filter]())
	windowKeys       = jsonKeys(reflect.TypeFor[Window]())
	operatorKeys     = jsonKeys(reflect.TypeFor[Operator]())
	limitKeys        = jsonKeys(reflect.TypeFor[Limit]())
	orderColumnKeys  = jsonKeys(reflect.TypeFor[OrderColumn]())
)

// decodeExtra decodes b into dst (a pointer to a struct without custom
// methods) and returns the members of b that dst does not declare.
func decodeExtra(b []byte, dst any, known map[string]bool) (map[string]json.RawMessage, error) {
	if err := json.Unmarshal(b, dst); err != nil {
		return nil, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, err
	}
	var extra map[string]json.RawMessage
	for k, v := range all {
		if !known[k] {
			if extra == nil {
				extra = map[string]json.RawMessage{}
			}
			var c bytes.Buffer
			if err := json.Compact(&c, v); err != nil {
				return nil, err
			}
			extra[k] = c.Bytes()
		}
	}
	return extra, nil
}

// encodeExtra encodes v (a struct without custom methods), then adds the
// forced members when v omitted them and the extra members.
func encodeExtra(v any, extra map[string]json.RawMessage, force map[string]json.RawMessage) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil || (len(extra) == 0 && len(force) == 0) {
		return b, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, x := range force {
		if _, ok := m[k]; !ok {
			m[k] = x
		}
	}
	for k, x := range extra {
		if _, ok := m[k]; !ok {
			m[k] = x
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// MarshalJSON encodes the wire form; the empty rule is `{}`.
func (r Rule) MarshalJSON() ([]byte, error) {
	type plain Rule
	return encodeExtra(plain(r), r.Extra, nil)
}

// UnmarshalJSON decodes the wire form, keeping unknown fields.
func (r *Rule) UnmarshalJSON(b []byte) error {
	type plain Rule
	var p plain
	extra, err := decodeExtra(b, &p, ruleKeys)
	p.Extra, p.Origin = extra, r.Origin
	*r = Rule(p)
	return err
}

// MarshalJSON encodes the wire form.
func (c ConditionSet) MarshalJSON() ([]byte, error) {
	type plain ConditionSet
	if c.Conditions == nil {
		c.Conditions = []Condition{}
	}
	return encodeExtra(plain(c), c.Extra, nil)
}

// UnmarshalJSON decodes the wire form, keeping unknown fields.
func (c *ConditionSet) UnmarshalJSON(b []byte) error {
	type plain ConditionSet
	var p plain
	extra, err := decodeExtra(b, &p, conditionSetKeys)
	p.Extra, p.Origin = extra, c.Origin
	*c = ConditionSet(p)
	return err
}

// MarshalJSON encodes the wire form: Value conditions always carry
// arrayMatching (null for scalars) and exclude; references carry exclude.
func (c Condition) MarshalJSON() ([]byte, error) {
	type plain Condition
	var force map[string]json.RawMessage
	switch c.Type {
	case ValueCondition:
		force = map[string]json.RawMessage{"arrayMatching": jsonNull, "exclude": json.RawMessage("false")}
	case ReferenceCondition:
		force = map[string]json.RawMessage{"exclude": json.RawMessage("false")}
	}
	return encodeExtra(plain(c), c.Extra, force)
}

// UnmarshalJSON decodes the wire form, keeping unknown fields.
func (c *Condition) UnmarshalJSON(b []byte) error {
	type plain Condition
	var p plain
	extra, err := decodeExtra(b, &p, conditionKeys)
	p.Extra, p.Origin = extra, c.Origin
	*c = Condition(p)
	return err
}

// MarshalJSON encodes the wire form.
func (l LeftValue) MarshalJSON() ([]byte, error) {
	type plain LeftValue
	return encodeExtra(plain(l), l.Extra, nil)
}

// UnmarshalJSON decodes the wire form, keeping unknown fields.
func (l *LeftValue) UnmarshalJSON(b []byte) error {
	type plain LeftValue
	var p plain
	extra, err := decodeExtra(b, &p, leftValueKeys)
	p.Extra, p.Origin = extra, l.Origin
	*l = LeftValue(p)
	return err
}

// MarshalJSON encodes the wire form; Count always carries groupingColumns.
func (a Aggregation) MarshalJSON() ([]byte, error) {
	type plain Aggregation
	var force map[string]json.RawMessage
	if a.Type == Count {
		force = map[string]json.RawMessage{"groupingColumns": json.RawMessage("[]")}
	}
	return encodeExtra(plain(a), a.Extra, force)
}

// UnmarshalJSON decodes the wire form, keeping unknown fields.
func (a *Aggregation) UnmarshalJSON(b []byte) error {
	type plain Aggregation
	var p plain
	extra, err := decodeExtra(b, &p, aggregationKeys)
	p.Extra, p.Origin = extra, a.Origin
	*a = Aggregation(p)
	return err
}

// MarshalJSON encodes the wire form; a Column filter always carries
// arrayMatching.
func (f Filter) MarshalJSON() ([]byte, error) {
	type plain Filter
	var force map[string]json.RawMessage
	if f.Type == ColumnFilter {
		force = map[string]json.RawMessage{"arrayMatching": jsonNull}
	}
	return encodeExtra(plain(f), f.Extra, force)
}

// UnmarshalJSON decodes the wire form, keeping unknown fields.
func (f *Filter) UnmarshalJSON(b []byte) error {
	type plain Filter
	var p plain
	extra, err := decodeExtra(b, &p, filterKeys)
	p.Extra, p.Origin = extra, f.Origin
	*f = Filter(p)
	return err
}

// MarshalJSON encodes the wire form.
func (w Window) MarshalJSON() ([]byte, error) {
	type plain Window
	return encodeExtra(plain(w), w.Extra, nil)
}

// UnmarshalJSON decodes the wire form, keeping unknown fields.
func (w *Window) UnmarshalJSON(b []byte) error {
	type plain Window
	var p plain
	extra, err := decodeExtra(b, &p, windowKeys)
	p.Extra = extra
	*w = Window(p)
	return err
}

// MarshalJSON encodes the wire form; IsNull always carries rightValue.
func (o Operator) MarshalJSON() ([]byte, error) {
	type plain Operator
	var force map[string]json.RawMessage
	if o.Type == IsNull {
		force = map[string]json.RawMessage{"rightValue": jsonNull}
	}
	return encodeExtra(plain(o), o.Extra, force)
}

// UnmarshalJSON decodes the wire form, keeping unknown fields.
func (o *Operator) UnmarshalJSON(b []byte) error {
	type plain Operator
	var p plain
	extra, err := decodeExtra(b, &p, operatorKeys)
	p.Extra, p.Origin = extra, o.Origin
	*o = Operator(p)
	// rightValue: null decodes as a nil pointer, which is what IsNull means.
	return err
}

// MarshalJSON encodes the wire form.
func (l Limit) MarshalJSON() ([]byte, error) {
	type plain Limit
	return encodeExtra(plain(l), l.Extra, nil)
}

// UnmarshalJSON decodes the wire form, keeping unknown fields.
func (l *Limit) UnmarshalJSON(b []byte) error {
	type plain Limit
	var p plain
	extra, err := decodeExtra(b, &p, limitKeys)
	p.Extra = extra
	*l = Limit(p)
	return err
}

// MarshalJSON encodes the wire form.
func (o OrderColumn) MarshalJSON() ([]byte, error) {
	type plain OrderColumn
	return encodeExtra(plain(o), o.Extra, nil)
}

// UnmarshalJSON decodes the wire form, keeping unknown fields.
func (o *OrderColumn) UnmarshalJSON(b []byte) error {
	type plain OrderColumn
	var p plain
	extra, err := decodeExtra(b, &p, orderColumnKeys)
	p.Extra = extra
	*o = OrderColumn(p)
	return err
}
