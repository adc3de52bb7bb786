package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// Normalization makes server defaults, ordering and formatting compare
// equal, so that they never show up as perpetual diffs:
//   - descriptions: surrounding white space is ignored;
//   - rules: empty strings and absent members, `filter: {}` and no filter,
//     number formatting ("1000" and "1000.0"), a Reference's id when its
//     segment name is known (references compare by name), and an empty rule
//     whatever its root type;
//   - parents: attributes, behaviors and columns compare by name, in any
//     order; an empty column means the name; a type left out of the
//     repository matches any observed type; the Customers display name
//     defaults to the table name.

func normDescription(s string) string { return strings.TrimSpace(s) }

// rulesEqual compares two rules after normalization. Identical rules (the
// common case of an unchanged segment) and then identical encodings skip
// the normalization.
func rulesEqual(a, b *segment.Rule) bool {
	if sameRule(a, b) {
		return true
	}
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	if errA == nil && errB == nil && bytes.Equal(ja, jb) {
		return true
	}
	return canonicalRule(a) == canonicalRule(b)
}

// canonicalRule renders a rule as canonical JSON.
func canonicalRule(r *segment.Rule) string {
	if r.IsEmpty() && r.Limit == nil {
		return "{}"
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Sprintf("unencodable rule: %v", err)
	}
	v, err := decodeNumbers(b)
	if err != nil {
		return string(b)
	}
	v = normValue(v, "")
	return encodeCanonical(v)
}

func decodeNumbers(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

func encodeCanonical(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSpace(buf.String())
}

// normValue normalizes decoded JSON. key is the member name v was found
// under.
func normValue(v any, key string) any {
	switch x := v.(type) {
	case map[string]any:
		if _, ok := x["segment"]; ok {
			delete(x, "id")
		}
		for k, e := range x {
			if s, ok := e.(string); ok && s == "" {
				delete(x, k)
				continue
			}
			if m, ok := e.(map[string]any); ok && len(m) == 0 && k == "filter" {
				delete(x, k)
				continue
			}
			x[k] = normValue(e, k)
		}
		return x
	case []any:
		for i := range x {
			x[i] = normValue(x[i], key)
		}
		return x
	case json.Number:
		if f, err := strconv.ParseFloat(string(x), 64); err == nil {
			return json.Number(strconv.FormatFloat(f, 'f', -1, 64))
		}
		return x
	}
	return v
}

// ruleLines renders a rule as one line per condition, for diffs.
func ruleLines(r *segment.Rule) []string {
	var lines []string
	if r.Type != "" {
		head := "match " + r.Type
		if r.Expr != "" {
			head += " " + strconv.Quote(r.Expr)
		}
		lines = append(lines, head)
	}
	for i := range r.Conditions {
		cs := &r.Conditions[i]
		for j := range cs.Conditions {
			lines = append(lines, fmt.Sprintf("set %d (%s): %s", i+1, cs.Type, describeCondition(&cs.Conditions[j])))
		}
	}
	if r.Limit != nil {
		lines = append(lines, "limit "+compactJSON(r.Limit))
	}
	return lines
}

func compactJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	n, err := decodeNumbers(b)
	if err != nil {
		return string(b)
	}
	return encodeCanonical(normValue(n, ""))
}

// describeCondition renders a condition in one readable line.
func describeCondition(c *segment.Condition) string {
	var b strings.Builder
	if c.Exclude {
		b.WriteString("NOT ")
	}
	switch {
	case c.Type == segment.ReferenceCondition:
		name := c.Segment
		if name == "" {
			name = "#" + c.ID
		}
		b.WriteString("in segment " + strconv.Quote(name))
		return b.String()
	case c.Type != segment.ValueCondition || c.LeftValue == nil:
		cc := *c
		cc.Origin = segment.Origin{}
		b.WriteString(compactJSON(cc))
		return b.String()
	}
	lv := c.LeftValue
	if lv.Source != nil {
		b.WriteString(lv.Source.Name)
		if a := lv.Aggregation; a != nil {
			b.WriteString("." + a.Type + "(")
			args := slices.Clone(a.Columns)
			if a.Column != "" {
				args = append([]string{a.Column}, args...)
			}
			if a.OrderColumn != "" {
				args = append(args, "by "+a.OrderColumn)
			}
			b.WriteString(strings.Join(args, ", ") + ")")
		}
		if lv.Filter != nil && lv.Filter.Type != "" {
			b.WriteString(" where " + compactJSON(lv.Filter))
		}
		if lv.Window != nil {
			b.WriteString(" within " + compactJSON(lv.Window.Duration))
		}
	} else {
		b.WriteString(lv.Name)
	}
	if op := c.Operator; op != nil {
		b.WriteString(" ")
		if op.Not {
			b.WriteString("not ")
		}
		b.WriteString(op.Type)
		b.WriteString(operands(op))
	}
	if c.ArrayMatching != nil {
		b.WriteString(" arrayMatching " + compactJSON(c.ArrayMatching))
	}
	if c.Limit != nil {
		b.WriteString(" limit " + compactJSON(c.Limit))
	}
	return b.String()
}

// parentFields renders the comparable fields of a parent segment. When
// ignoreTypes holds a field path, the observed type is not compared (the
// repository left the type to the warehouse).
func parentFields(p *segment.Parent, desired *segment.Parent) map[string]string {
	m := map[string]string{
		"description":    normDescription(p.Description),
		"timezone":       p.Timezone,
		"customers":      p.Customers.Table.String() + " key " + p.Customers.Key,
		"customers_name": cmpDefault(p.CustomersName, p.Customers.Table.Table),
	}
	for _, a := range p.Attributes {
		v := "column " + cmpDefault(a.Column, a.Name)
		if t := typeFor(a.Type, desired, func(d *segment.Parent) (segment.IONType, bool) {
			da, ok := d.Attribute(a.Name)
			if !ok {
				return "", false
			}
			return da.Type, true
		}); t != "" {
			v += " type " + string(t)
		}
		if a.Join != nil {
			v += " join " + a.Join.Table.String() + " key " + a.Join.Key
		}
		if a.Group != "" {
			v += " group " + a.Group
		}
		m["attributes."+a.Name] = v
	}
	for _, bh := range p.Behaviors {
		m["behaviors."+bh.Name] = bh.Table.String() + " key " + bh.Key + " time " + bh.Time
		for _, c := range bh.Columns {
			v := "column " + cmpDefault(c.Column, c.Name)
			if t := typeFor(c.Type, desired, func(d *segment.Parent) (segment.IONType, bool) {
				db, ok := d.Behavior(bh.Name)
				if !ok {
					return "", false
				}
				dc, ok := db.Column(c.Name)
				if !ok {
					return "", false
				}
				return dc.Type, true
			}); t != "" {
				v += " type " + string(t)
			}
			m["behaviors."+bh.Name+".columns."+c.Name] = v
		}
	}
	return m
}

// typeFor returns the type to compare: empty when the desired side leaves
// the type open.
func typeFor(t segment.IONType, desired *segment.Parent, lookup func(*segment.Parent) (segment.IONType, bool)) segment.IONType {
	if desired == nil {
		return t
	}
	if dt, ok := lookup(desired); ok && dt == "" {
		return ""
	}
	return t
}

func cmpDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// diffFields compares two field maps and returns sorted diffs.
func diffFields(before, after map[string]string) []FieldDiff {
	var out []FieldDiff
	for k, a := range after {
		if b, ok := before[k]; !ok || a != b {
			out = append(out, FieldDiff{Path: k, Before: before[k], After: a})
		}
	}
	for k, b := range before {
		if _, ok := after[k]; !ok {
			out = append(out, FieldDiff{Path: k, Before: b})
		}
	}
	slices.SortFunc(out, func(x, y FieldDiff) int { return strings.Compare(x.Path, y.Path) })
	return out
}

// operands renders an operator's values.
func operands(op *segment.Operator) string {
	vals := func(vs []segment.Value) string {
		parts := make([]string, len(vs))
		for i, v := range vs {
			parts[i] = v.String()
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	switch {
	case op.MinValue != nil || op.MaxValue != nil:
		var lo, hi string
		if op.MinValue != nil {
			lo = op.MinValue.String()
		}
		if op.MaxValue != nil {
			hi = op.MaxValue.String()
		}
		return " " + lo + " and " + hi
	case len(op.RightValues) > 0:
		return " " + vals(op.RightValues)
	case op.RightValue != nil:
		return " " + op.RightValue.String()
	}
	rest := *op
	rest.Type, rest.Not, rest.Origin = "", false, segment.Origin{}
	if s := compactJSON(rest); s != `{"not":false}` {
		return " " + strings.Replace(s, `"not":false,`, "", 1)
	}
	return ""
}
