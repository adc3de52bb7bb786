package segment

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Rule is the root of a segment rule (Treasure's v5 rule). The zero Rule is
// the empty rule `{}`.
//
// A rule has two levels: the root combines condition sets, and each condition
// set combines leaf conditions.
type Rule struct {
	// Type is And, Or or Composite; empty for the empty rule.
	Type string `json:"type,omitempty"`
	// Expr is the boolean expression over condition sets for Composite
	// ("1 and (2 or 3)").
	Expr       string         `json:"expr,omitempty"`
	Conditions []ConditionSet `json:"conditions,omitempty"`
	Limit      *Limit         `json:"limit,omitempty"`

	Extra  map[string]json.RawMessage `json:"-"`
	Origin Origin                     `json:"-"`
}

// IsEmpty reports whether the rule has no condition at all.
func (r *Rule) IsEmpty() bool {
	for _, cs := range r.Conditions {
		if len(cs.Conditions) > 0 {
			return false
		}
	}
	return true
}

// Rule combinators.
const (
	And       = "And"
	Or        = "Or"
	Composite = "Composite"
)

// ConditionSet combines leaf conditions.
type ConditionSet struct {
	// Type is And, Or or Composite.
	Type        string      `json:"type"`
	Description string      `json:"description,omitempty"`
	Expr        string      `json:"expr,omitempty"`
	Conditions  []Condition `json:"conditions"`

	Extra  map[string]json.RawMessage `json:"-"`
	Origin Origin                     `json:"-"`
}

// Condition types.
const (
	// ValueCondition compares an attribute or a behavior aggregation.
	ValueCondition = "Value"
	// ReferenceCondition includes (or, with Exclude, excludes) the profiles of
	// another segment.
	ReferenceCondition = "Reference"
)

// Condition is a leaf condition: a Value condition on an attribute or a
// behavior aggregation, or a Reference to another segment. Other reference
// kinds (FunnelStageReference, PredictiveScoreReference, ...) decode with
// their fields kept in Extra.
type Condition struct {
	Type string `json:"type"`

	// LeftValue is what a Value condition tests.
	LeftValue *LeftValue `json:"leftValue,omitempty"`
	Operator  *Operator  `json:"operator,omitempty"`
	// ArrayMatching says how an operator applies to an array value; nil is
	// JSON null (scalar values).
	ArrayMatching *ArrayMatching `json:"arrayMatching,omitempty"`
	// Exclude negates the whole condition (profiles NOT matching).
	Exclude bool   `json:"exclude,omitempty"`
	Limit   *Limit `json:"limit,omitempty"`

	// ID is the wire id of the referenced object of a reference condition.
	ID string `json:"id,omitempty"`
	// Segment names the referenced segment of a Reference condition (in the
	// same parent segment). It replaces ID in desired state; package treasure
	// resolves it to ID on write and back on read.
	Segment string `json:"segment,omitempty"`

	Extra  map[string]json.RawMessage `json:"-"`
	Origin Origin                     `json:"-"`
}

// IsBehavior reports whether the condition aggregates a behavior.
func (c *Condition) IsBehavior() bool { return c.LeftValue != nil && c.LeftValue.Source != nil }

// LeftValue is the subject of a Value condition: an attribute by Name, or an
// aggregation over the rows of a behavior (Source).
type LeftValue struct {
	// Name is the attribute name (for attribute conditions).
	Name       string `json:"name,omitempty"`
	Visibility string `json:"visibility,omitempty"`

	// Source names the behavior for aggregations.
	Source      *SourceRef   `json:"source,omitempty"`
	Aggregation *Aggregation `json:"aggregation,omitempty"`
	// Filter restricts the behavior rows before aggregating. A non-nil empty
	// Filter is the JSON `{}`.
	Filter *Filter `json:"filter,omitempty"`
	Window *Window `json:"window,omitempty"`

	Extra  map[string]json.RawMessage `json:"-"`
	Origin Origin                     `json:"-"`
}

// SourceRef names a behavior.
type SourceRef struct {
	Name string `json:"name"`
}

// Aggregation types.
const (
	Count         = "Count"
	Sum           = "Sum"
	Min           = "Min"
	Max           = "Max"
	Average       = "Average"
	CountDistinct = "CountDistinct"
	First         = "First"
	Last          = "Last"
)

// Aggregations lists every aggregation type.
var Aggregations = []string{Count, Sum, Min, Max, Average, CountDistinct, First, Last}

// Aggregation aggregates behavior rows per profile.
type Aggregation struct {
	Type string `json:"type"`
	// Column is aggregated by Sum, Min, Max, Average, First and Last.
	Column string `json:"column,omitempty"`
	// Columns are counted by CountDistinct.
	Columns []string `json:"columns,omitempty"`
	// OrderColumn orders rows for First and Last.
	OrderColumn     string   `json:"orderColumn,omitempty"`
	GroupingColumns []string `json:"groupingColumns,omitempty"`

	Extra  map[string]json.RawMessage `json:"-"`
	Origin Origin                     `json:"-"`
}

// Filter restricts behavior rows: a Column test, or an And/Or of filters.
// The zero Filter is the JSON `{}` (no restriction).
type Filter struct {
	// Type is And, Or or Column; empty for no restriction.
	Type          string         `json:"type,omitempty"`
	Conditions    []Filter       `json:"conditions,omitempty"`
	Column        string         `json:"column,omitempty"`
	Operator      *Operator      `json:"operator,omitempty"`
	ArrayMatching *ArrayMatching `json:"arrayMatching,omitempty"`

	Extra  map[string]json.RawMessage `json:"-"`
	Origin Origin                     `json:"-"`
}

// ColumnFilter is the Filter type that tests one column.
const ColumnFilter = "Column"

// Window limits aggregated rows to a sliding time window.
type Window struct {
	// Type is TimeSliding.
	Type     string   `json:"type"`
	Duration Duration `json:"duration"`

	Extra map[string]json.RawMessage `json:"-"`
}

// Duration is a length of time as Treasure writes it: unit name to count,
// for example {"day": 30}.
type Duration map[string]int

// Operator types. Each can be negated with Not.
const (
	Equal             = "Equal"
	Greater           = "Greater"
	Less              = "Less"
	GreaterEqual      = "GreaterEqual"
	LessEqual         = "LessEqual"
	Between           = "Between"
	In                = "In"
	Contain           = "Contain"
	StartWith         = "StartWith"
	EndWith           = "EndWith"
	Regexp            = "Regexp"
	IsNull            = "IsNull"
	TimeWithinPast    = "TimeWithinPast"
	TimeWithinNext    = "TimeWithinNext"
	TimeRange         = "TimeRange"
	TimeToday         = "TimeToday"
	TimeThis          = "TimeThis"
	TimeNext          = "TimeNext"
	TimeInBetweenNext = "TimeInBetweenNext"
)

// Operators lists every documented operator type.
var Operators = []string{Equal, Greater, Less, GreaterEqual, LessEqual, Between, In, Contain,
	StartWith, EndWith, Regexp, IsNull, TimeWithinPast, TimeWithinNext, TimeRange, TimeToday,
	TimeThis, TimeNext, TimeInBetweenNext}

// TimeUnits lists the units of time operators.
var TimeUnits = []string{"year", "quarter", "month", "week", "day", "hour", "minute", "second"}

// Operator is a comparison. Which value fields are set depends on Type.
type Operator struct {
	Type string `json:"type"`
	Not  bool   `json:"not"`

	// RightValue is the operand of Equal, Greater, Less, GreaterEqual,
	// LessEqual, Regexp and IsNull.
	RightValue *Value `json:"rightValue,omitempty"`
	// RightValues are the operands of In, Contain, StartWith and EndWith.
	RightValues []Value `json:"rightValues,omitempty"`
	// MinValue and MaxValue bound Between.
	MinValue *Value `json:"minValue,omitempty"`
	MaxValue *Value `json:"maxValue,omitempty"`

	// Value and Unit are the operands of TimeWithinPast and TimeWithinNext
	// (Value is a string of digits on the wire).
	Value string `json:"value,omitempty"`
	Unit  string `json:"unit,omitempty"`
	// From, To, Duration and Reverse are the operands of TimeRange, TimeThis,
	// TimeNext and TimeInBetweenNext.
	From     *TimeRef `json:"from,omitempty"`
	To       *TimeRef `json:"to,omitempty"`
	Duration Duration `json:"duration,omitempty"`
	Reverse  *bool    `json:"reverse,omitempty"`

	Extra  map[string]json.RawMessage `json:"-"`
	Origin Origin                     `json:"-"`
}

// TimeRef is a relative point in time: {last: n, unit}, {next: n, unit} or
// just {unit} (this unit).
type TimeRef struct {
	Last *int   `json:"last,omitempty"`
	Next *int   `json:"next,omitempty"`
	Unit string `json:"unit"`
}

// ValueKind tells which field of a Value is set.
type ValueKind uint8

// Value kinds.
const (
	NullValue ValueKind = iota
	StringValue
	NumberValue
	BoolValue
	// TimestampValue is {"timestamp": "..."}.
	TimestampValue
	// RelativeValue is {"last": n, "unit": u}.
	RelativeValue
)

// Value is an operand: a string, number or boolean, an absolute time
// {timestamp}, or a relative time {last, unit}.
type Value struct {
	Kind ValueKind
	// Str holds a string, or the timestamp of a TimestampValue.
	Str string
	// Num holds a number exactly as written.
	Num  json.Number
	Bool bool
	// Last and Unit hold a RelativeValue.
	Last int
	Unit string
}

// StringOf returns a string Value.
func StringOf(s string) Value { return Value{Kind: StringValue, Str: s} }

// NumberOf returns a number Value.
func NumberOf(f float64) Value {
	return Value{Kind: NumberValue, Num: json.Number(strconv.FormatFloat(f, 'f', -1, 64))}
}

// BoolOf returns a boolean Value.
func BoolOf(b bool) Value { return Value{Kind: BoolValue, Bool: b} }

// String renders the value as it would appear in a rule, for messages.
func (v Value) String() string {
	switch v.Kind {
	case StringValue:
		return strconv.Quote(v.Str)
	case NumberValue:
		return v.Num.String()
	case BoolValue:
		return strconv.FormatBool(v.Bool)
	case TimestampValue:
		return "timestamp " + strconv.Quote(v.Str)
	case RelativeValue:
		return fmt.Sprintf("last %d %s", v.Last, v.Unit)
	}
	return "null"
}

// MarshalJSON encodes the value in its wire form.
func (v Value) MarshalJSON() ([]byte, error) {
	switch v.Kind {
	case StringValue:
		return json.Marshal(v.Str)
	case NumberValue:
		if v.Num == "" {
			return []byte("0"), nil
		}
		return []byte(v.Num), nil
	case BoolValue:
		return json.Marshal(v.Bool)
	case TimestampValue:
		return json.Marshal(struct {
			Timestamp string `json:"timestamp"`
		}{v.Str})
	case RelativeValue:
		return json.Marshal(struct {
			Last int    `json:"last"`
			Unit string `json:"unit"`
		}{v.Last, v.Unit})
	}
	return []byte("null"), nil
}

// UnmarshalJSON decodes any wire form of a value.
func (v *Value) UnmarshalJSON(b []byte) error {
	*v = Value{}
	b = trimSpace(b)
	if len(b) == 0 {
		return fmt.Errorf("empty value")
	}
	switch b[0] {
	case 'n':
		return nil
	case '"':
		v.Kind = StringValue
		return json.Unmarshal(b, &v.Str)
	case 't', 'f':
		v.Kind = BoolValue
		return json.Unmarshal(b, &v.Bool)
	case '{':
		var o struct {
			Timestamp *string `json:"timestamp"`
			Last      *int    `json:"last"`
			Unit      string  `json:"unit"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		switch {
		case o.Timestamp != nil:
			v.Kind, v.Str = TimestampValue, *o.Timestamp
		case o.Last != nil:
			v.Kind, v.Last, v.Unit = RelativeValue, *o.Last, o.Unit
		default:
			return fmt.Errorf("value object needs timestamp or last and unit")
		}
		return nil
	case '[':
		return fmt.Errorf("a list is not a single value")
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	v.Kind, v.Num = NumberValue, n
	return nil
}

// ArrayMatching says how an operator applies to array values: "all", "any",
// or {atLeast|atMost|exactly: n}.
type ArrayMatching struct {
	// Mode is all, any, atLeast, atMost or exactly.
	Mode string
	// N is the count for atLeast, atMost and exactly.
	N int
}

// MarshalJSON encodes the wire form.
func (a ArrayMatching) MarshalJSON() ([]byte, error) {
	switch a.Mode {
	case "all", "any":
		return json.Marshal(a.Mode)
	}
	return json.Marshal(map[string]int{a.Mode: a.N})
}

// UnmarshalJSON decodes the wire form.
func (a *ArrayMatching) UnmarshalJSON(b []byte) error {
	b = trimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		*a = ArrayMatching{}
		if err := json.Unmarshal(b, &a.Mode); err != nil {
			return err
		}
		if a.Mode != "all" && a.Mode != "any" {
			return fmt.Errorf("arrayMatching %q is not all or any", a.Mode)
		}
		return nil
	}
	var m map[string]int
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	if len(m) != 1 {
		return fmt.Errorf("arrayMatching needs exactly one of atLeast, atMost, exactly")
	}
	for k, n := range m {
		switch k {
		case "atLeast", "atMost", "exactly":
			*a = ArrayMatching{Mode: k, N: n}
		default:
			return fmt.Errorf("arrayMatching %q is not atLeast, atMost or exactly", k)
		}
	}
	return nil
}

// Limit caps the number of matching profiles.
type Limit struct {
	// Type is Count or Percent.
	Type         string        `json:"type"`
	Number       json.Number   `json:"number"`
	OrderColumns []OrderColumn `json:"orderColumns,omitempty"`

	Extra map[string]json.RawMessage `json:"-"`
}

// OrderColumn orders profiles before a Limit.
type OrderColumn struct {
	// Type is Column or Aggregation.
	Type   string `json:"type"`
	Column string `json:"column,omitempty"`
	// Order is asc or desc.
	Order string `json:"order,omitempty"`

	Extra map[string]json.RawMessage `json:"-"`
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}
