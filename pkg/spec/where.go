package spec

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// testDoc is one short test (#Test in the schema).
type testDoc struct {
	Not         bool              `json:"not,omitempty"`
	Equals      *segment.Value    `json:"equals,omitempty"`
	GreaterThan *segment.Value    `json:"greaterThan,omitempty"`
	LessThan    *segment.Value    `json:"lessThan,omitempty"`
	AtLeast     *segment.Value    `json:"atLeast,omitempty"`
	AtMost      *segment.Value    `json:"atMost,omitempty"`
	Between     []segment.Value   `json:"between,omitempty"`
	OneOf       []segment.Value   `json:"oneOf,omitempty"`
	Contains    []string          `json:"contains,omitempty"`
	StartsWith  []string          `json:"startsWith,omitempty"`
	EndsWith    []string          `json:"endsWith,omitempty"`
	Matches     *string           `json:"matches,omitempty"`
	IsNull      *bool             `json:"isNull,omitempty"`
	WithinPast  map[string]int    `json:"withinPast,omitempty"`
	WithinNext  map[string]int    `json:"withinNext,omitempty"`
	Today       *bool             `json:"today,omitempty"`
	Operator    *segment.Operator `json:"operator,omitempty"`
}

// aggregateDoc is one aggregation of a short behavior condition.
type aggregateDoc struct {
	testDoc
	Of      json.RawMessage `json:"of,omitempty"`
	By      string          `json:"by,omitempty"`
	GroupBy []string        `json:"groupBy,omitempty"`
}

type filterTestDoc struct {
	testDoc
	Column        string                 `json:"column"`
	ArrayMatching *segment.ArrayMatching `json:"arrayMatching,omitempty"`
}

// whereDoc is one short condition (#Where in the schema).
type whereDoc struct {
	testDoc
	Attribute     string                 `json:"attribute,omitempty"`
	Behavior      string                 `json:"behavior,omitempty"`
	In            string                 `json:"in,omitempty"`
	NotIn         string                 `json:"notIn,omitempty"`
	Count         *aggregateDoc          `json:"count,omitempty"`
	CountDistinct *aggregateDoc          `json:"countDistinct,omitempty"`
	Sum           *aggregateDoc          `json:"sum,omitempty"`
	Min           *aggregateDoc          `json:"min,omitempty"`
	Max           *aggregateDoc          `json:"max,omitempty"`
	Average       *aggregateDoc          `json:"average,omitempty"`
	First         *aggregateDoc          `json:"first,omitempty"`
	Last          *aggregateDoc          `json:"last,omitempty"`
	Within        map[string]int         `json:"within,omitempty"`
	Filter        []filterTestDoc        `json:"filter,omitempty"`
	FilterMatch   string                 `json:"filterMatch,omitempty"`
	Exclude       bool                   `json:"exclude,omitempty"`
	ArrayMatching *segment.ArrayMatching `json:"arrayMatching,omitempty"`
}

// whereExpander expands the short conditions of one segment into the full
// v5 rule.
type whereExpander struct {
	d    *decoder
	path string
	skip map[int]bool // conditions that failed the schema
}

func (w *whereExpander) expand(items []whereDoc, match string, limit *segment.Limit) segment.Rule {
	cs := segment.ConditionSet{Type: segment.And, Conditions: []segment.Condition{}, Origin: w.d.pos.origin(w.path)}
	if match == "any" {
		cs.Type = segment.Or
	}
	for i := range items {
		if w.skip[i] {
			continue
		}
		if c, ok := w.condition(w.path+pathSep+strconv.Itoa(i), &items[i]); ok {
			cs.Conditions = append(cs.Conditions, c)
		}
	}
	r := segment.Rule{Limit: limit}
	if len(items) > 0 {
		r.Type = segment.And
		r.Conditions = []segment.ConditionSet{cs}
	}
	return r
}

// condition expands one short condition: a segment reference, an attribute
// test or a behavior aggregation.
func (w *whereExpander) condition(path string, it *whereDoc) (segment.Condition, bool) {
	subjects := setKeys(map[string]bool{"attribute": it.Attribute != "", "behavior": it.Behavior != "",
		"in": it.In != "", "notIn": it.NotIn != ""})
	if len(subjects) != 1 {
		d := w.d.errorf(w.d.pos.label(path), "where", "condition needs exactly one of attribute, behavior, in, notIn")
		if len(subjects) > 1 {
			d.Detail = "it names " + strings.Join(subjects, " and ") + "; write one condition per subject"
		}
		return segment.Condition{}, false
	}
	agg := it.aggregations()
	switch subjects[0] {
	case "in", "notIn":
		return w.reference(path, it, agg)
	case "attribute":
		return w.attribute(path, it, agg)
	}
	return w.behavior(path, it, agg)
}

// chosenAggregations are the aggregations a short condition sets: the last
// one in the order of segment.Aggregations, and the keys of all of them.
type chosenAggregations struct {
	typ   string
	doc   *aggregateDoc
	names []string
}

func (it *whereDoc) aggregations() chosenAggregations {
	aggs := map[string]*aggregateDoc{segment.Count: it.Count, segment.CountDistinct: it.CountDistinct,
		segment.Sum: it.Sum, segment.Min: it.Min, segment.Max: it.Max, segment.Average: it.Average,
		segment.First: it.First, segment.Last: it.Last}
	var c chosenAggregations
	for _, t := range segment.Aggregations {
		if aggs[t] != nil {
			c.typ, c.doc = t, aggs[t]
			c.names = append(c.names, lowerFirst(t))
		}
	}
	return c
}

// reference expands {in: NAME} and {notIn: NAME}.
func (w *whereExpander) reference(path string, it *whereDoc, agg chosenAggregations) (segment.Condition, bool) {
	pos := w.d.pos
	name, key := it.In, "in"
	if it.NotIn != "" {
		name, key = it.NotIn, "notIn"
	}
	if n := it.testDoc.tests(); len(n) > 0 || agg.doc != nil {
		w.d.errorf(pos.label(path), "where", "a segment reference takes no test").
			Detail = "remove " + strings.Join(append(n, agg.names...), ", ") + " from this condition"
		return segment.Condition{}, false
	}
	c := segment.Condition{Type: segment.ReferenceCondition, Segment: name, Exclude: key == "notIn" || it.Exclude,
		Origin: segment.Origin{Pos: pos.label(path)}}
	pos.field(&c.Origin, "segment", path, key)
	return c, true
}

// attribute expands a test of an attribute.
func (w *whereExpander) attribute(path string, it *whereDoc, agg chosenAggregations) (segment.Condition, bool) {
	pos := w.d.pos
	if agg.doc != nil || it.Within != nil || it.Filter != nil {
		w.d.errorf(pos.label(path), "where", "attribute condition cannot aggregate, filter or use within").
			Detail = "aggregations (count, sum, ...), filter and within apply to behaviors only"
		return segment.Condition{}, false
	}
	op, ok := w.operator(path, &it.testDoc)
	if !ok {
		return segment.Condition{}, false
	}
	c := segment.Condition{Type: segment.ValueCondition, Operator: op, ArrayMatching: it.ArrayMatching,
		Exclude: it.Exclude, Origin: segment.Origin{Pos: pos.label(path)},
		LeftValue: &segment.LeftValue{Name: it.Attribute, Origin: segment.Origin{Pos: pos.label(path)}}}
	pos.field(&c.LeftValue.Origin, "name", path, "attribute")
	pos.field(&c.Origin, "arrayMatching", path, "arrayMatching")
	return c, true
}

// behavior expands an aggregation of a behavior, with its window and
// filter.
func (w *whereExpander) behavior(path string, it *whereDoc, agg chosenAggregations) (segment.Condition, bool) {
	pos := w.d.pos
	if agg.doc == nil || len(agg.names) > 1 {
		w.d.errorf(pos.label(path), "where", "behavior condition needs exactly one aggregation").
			Detail = "write one of count, countDistinct, sum, min, max, average, first, last, for example count: {atLeast: 1}"
		return segment.Condition{}, false
	}
	aggPath := path + pathSep + agg.names[0]
	test, testPath := &agg.doc.testDoc, aggPath
	if len(test.tests()) == 0 && len(it.testDoc.tests()) > 0 {
		test, testPath = &it.testDoc, path
	}
	op, ok := w.operator(testPath, test)
	if !ok {
		return segment.Condition{}, false
	}
	a, ok := w.aggregation(aggPath, agg)
	if !ok {
		return segment.Condition{}, false
	}
	lv := &segment.LeftValue{Source: &segment.SourceRef{Name: it.Behavior}, Aggregation: a, Filter: &segment.Filter{},
		Origin: segment.Origin{Pos: pos.label(path)}}
	pos.field(&lv.Origin, "source.name", path, "behavior")
	if it.Within != nil {
		dur, ok := w.span(path+pathSep+"within", it.Within, false)
		if !ok {
			return segment.Condition{}, false
		}
		lv.Window = &segment.Window{Type: "TimeSliding", Duration: dur}
		pos.field(&lv.Origin, "window", path, "within")
	}
	if len(it.Filter) > 0 {
		f, ok := w.filter(path, it)
		if !ok {
			return segment.Condition{}, false
		}
		lv.Filter = f
	}
	c := segment.Condition{Type: segment.ValueCondition, LeftValue: lv, Operator: op, ArrayMatching: it.ArrayMatching,
		Exclude: it.Exclude, Origin: segment.Origin{Pos: pos.label(path)}}
	return c, true
}

// aggregation builds the aggregation at aggPath with the column (or, for
// countDistinct, columns) it is of.
func (w *whereExpander) aggregation(aggPath string, agg chosenAggregations) (*segment.Aggregation, bool) {
	pos := w.d.pos
	a := &segment.Aggregation{Type: agg.typ, OrderColumn: agg.doc.By, GroupingColumns: agg.doc.GroupBy,
		Origin: segment.Origin{Pos: pos.label(aggPath)}}
	if len(agg.doc.Of) > 0 {
		var one string
		var many []string
		if err := json.Unmarshal(agg.doc.Of, &one); err == nil {
			many = []string{one}
		} else if err := json.Unmarshal(agg.doc.Of, &many); err != nil {
			w.d.errorf(pos.value(aggPath+pathSep+"of"), "where", "of must be a column name or a list of names")
			return nil, false
		}
		if agg.typ == segment.CountDistinct {
			a.Columns = many
			pos.field(&a.Origin, "columns", aggPath, "of")
		} else {
			if len(many) != 1 {
				w.d.errorf(pos.value(aggPath+pathSep+"of"), "where", "%s aggregates one column", agg.names[0])
				return nil, false
			}
			a.Column = many[0]
			pos.field(&a.Origin, "column", aggPath, "of")
		}
	}
	pos.field(&a.Origin, "orderColumn", aggPath, "by")
	pos.field(&a.Origin, "groupingColumns", aggPath, "groupBy")
	return a, true
}

// filter builds the filter of the behavior rows a condition aggregates.
func (w *whereExpander) filter(path string, it *whereDoc) (*segment.Filter, bool) {
	pos := w.d.pos
	f := segment.Filter{Type: segment.And, Origin: segment.Origin{Pos: pos.label(path + pathSep + "filter")}}
	if it.FilterMatch == "any" {
		f.Type = segment.Or
	}
	for i := range it.Filter {
		ft := &it.Filter[i]
		fp := path + pathSep + "filter" + pathSep + strconv.Itoa(i)
		op, ok := w.operator(fp, &ft.testDoc)
		if !ok {
			return nil, false
		}
		col := segment.Filter{Type: segment.ColumnFilter, Column: ft.Column, Operator: op, ArrayMatching: ft.ArrayMatching,
			Origin: segment.Origin{Pos: pos.label(fp)}}
		pos.field(&col.Origin, "column", fp, "column")
		f.Conditions = append(f.Conditions, col)
	}
	return &f, true
}

// tests lists the test keys set in t.
func (t *testDoc) tests() []string {
	return setKeys(map[string]bool{
		"equals": t.Equals != nil, "greaterThan": t.GreaterThan != nil, "lessThan": t.LessThan != nil,
		"atLeast": t.AtLeast != nil, "atMost": t.AtMost != nil, "between": t.Between != nil,
		"oneOf": t.OneOf != nil, "contains": t.Contains != nil, "startsWith": t.StartsWith != nil,
		"endsWith": t.EndsWith != nil, "matches": t.Matches != nil, "isNull": t.IsNull != nil,
		"withinPast": t.WithinPast != nil, "withinNext": t.WithinNext != nil, "today": t.Today != nil,
		"operator": t.Operator != nil,
	})
}

// operator turns a short test into a v5 operator.
func (w *whereExpander) operator(path string, t *testDoc) (*segment.Operator, bool) {
	pos := w.d.pos
	keys := t.tests()
	if len(keys) != 1 {
		d := w.d.errorf(pos.label(path), "where", "condition needs exactly one test")
		if len(keys) == 0 {
			d.Detail = "add one of equals, greaterThan, lessThan, atLeast, atMost, between, oneOf, contains, startsWith, endsWith, matches, isNull, withinPast, withinNext, today, operator"
		} else {
			d.Detail = "it has " + strings.Join(keys, " and ") + "; split it into several conditions"
		}
		return nil, false
	}
	key := keys[0]
	kp := path + pathSep + key
	op := &segment.Operator{Not: t.Not}
	switch key {
	case "equals":
		op.Type, op.RightValue = segment.Equal, t.Equals
	case "greaterThan":
		op.Type, op.RightValue = segment.Greater, t.GreaterThan
	case "lessThan":
		op.Type, op.RightValue = segment.Less, t.LessThan
	case "atLeast":
		op.Type, op.RightValue = segment.GreaterEqual, t.AtLeast
	case "atMost":
		op.Type, op.RightValue = segment.LessEqual, t.AtMost
	case "between":
		op.Type, op.MinValue, op.MaxValue = segment.Between, &t.Between[0], &t.Between[1]
	case "oneOf":
		op.Type, op.RightValues = segment.In, t.OneOf
	case "contains":
		op.Type, op.RightValues = segment.Contain, stringValues(t.Contains)
	case "startsWith":
		op.Type, op.RightValues = segment.StartWith, stringValues(t.StartsWith)
	case "endsWith":
		op.Type, op.RightValues = segment.EndWith, stringValues(t.EndsWith)
	case "matches":
		v := segment.StringOf(*t.Matches)
		op.Type, op.RightValue = segment.Regexp, &v
	case "isNull":
		op.Type, op.Not = segment.IsNull, t.Not == *t.IsNull
	case "withinPast", "withinNext":
		span := t.WithinPast
		op.Type = segment.TimeWithinPast
		if key == "withinNext" {
			span, op.Type = t.WithinNext, segment.TimeWithinNext
		}
		d, ok := w.span(kp, span, true)
		if !ok {
			return nil, false
		}
		for u, n := range d {
			op.Value, op.Unit = strconv.Itoa(n), u
		}
	case "today":
		op.Type = segment.TimeToday
	case "operator":
		o := *t.Operator
		if t.Not {
			o.Not = !o.Not
		}
		w.d.operatorOrigins(&o, kp)
		return &o, true
	}
	op.Origin = segment.Origin{Pos: pos.label(kp)}
	for _, f := range []string{"rightValue", "rightValues", "value", "unit"} {
		pos.field(&op.Origin, f, path, key)
	}
	if key == "between" {
		pos.field(&op.Origin, "minValue", kp, "0")
		pos.field(&op.Origin, "maxValue", kp, "1")
	}
	return op, true
}

// stringValues turns strings into values.
func stringValues(ss []string) []segment.Value {
	out := make([]segment.Value, len(ss))
	for i, s := range ss {
		out[i] = segment.StringOf(s)
	}
	return out
}

// spanUnits maps the plural unit names of the short form to v5 units.
var spanUnits = map[string]string{"years": "year", "quarters": "quarter", "months": "month", "weeks": "week",
	"days": "day", "hours": "hour", "minutes": "minute", "seconds": "second"}

// span converts {days: 30} into a v5 duration. With one, exactly one unit
// must be given; windows accept days, hours, minutes and seconds only.
func (w *whereExpander) span(path string, m map[string]int, one bool) (segment.Duration, bool) {
	d := segment.Duration{}
	for k, n := range m {
		u, ok := spanUnits[k]
		if !ok || (!one && (u == "year" || u == "quarter" || u == "month" || u == "week")) {
			w.d.errorf(w.d.pos.label(path+pathSep+k), "where", "%s is not a unit here", k).
				Detail = "a window (within) takes days, hours, minutes or seconds"
			return nil, false
		}
		d[u] = n
	}
	if len(d) == 0 || (one && len(d) != 1) {
		w.d.errorf(w.d.pos.label(path), "where", "give exactly one unit, such as {days: 30}")
		return nil, false
	}
	return d, true
}

// setKeys returns the keys whose value is true, sorted.
func setKeys(m map[string]bool) []string {
	var out []string
	for k, v := range m {
		if v {
			out = append(out, k)
		}
	}
	sortStrings(out)
	return out
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
