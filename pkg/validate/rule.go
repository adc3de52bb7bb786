package validate

import (
	"fmt"
	"slices"

	"github.com/cas-reconciler/reconciler/pkg/catalog"
	"github.com/cas-reconciler/reconciler/pkg/diag"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// rule checks the behavior conditions of a segment rule against the real
// column types. Unknown behaviors and columns are the spec's to report.
func (c *checker) rule(p *segment.Parent, r *segment.Rule) {
	for _, cs := range r.Conditions {
		for i := range cs.Conditions {
			cond := &cs.Conditions[i]
			if !cond.IsBehavior() {
				continue
			}
			b, ok := p.Behavior(cond.LeftValue.Source.Name)
			if !ok {
				continue
			}
			wt := c.cat.Table(b.Table)
			if wt == nil || !wt.Found || len(wt.Access.Missing) > 0 {
				continue
			}
			lv := cond.LeftValue
			if agg := lv.Aggregation; agg != nil && agg.Column != "" {
				if col, name := behaviorColumn(b, wt, agg.Column); col != nil {
					pos := agg.Origin.At("column")
					switch agg.Type {
					case segment.Sum, segment.Average:
						if col.ION != segment.Number {
							c.add(diag.Errorf(pos, CodeRuleType, "%s of behavior column %s.%s needs a number, but the column is %s",
								agg.Type, b.Name, name, col.Type))
						}
					case segment.Min, segment.Max, segment.First, segment.Last:
						c.operator(cond.Operator, col, b.Name+"."+name, pos)
					}
				}
			}
			if lv.Filter != nil {
				c.filter(b, wt, lv.Filter)
			}
		}
	}
}

func (c *checker) filter(b *segment.Behavior, wt *catalog.Table, f *segment.Filter) {
	for i := range f.Conditions {
		c.filter(b, wt, &f.Conditions[i])
	}
	if f.Type != segment.ColumnFilter || f.Column == "" {
		return
	}
	if col, name := behaviorColumn(b, wt, f.Column); col != nil {
		c.operator(f.Operator, col, b.Name+"."+name, f.Origin.At("column"))
	}
}

// behaviorColumn resolves a column name used in a rule: a declared behavior
// column (by its rule name), else a warehouse column of the table.
func behaviorColumn(b *segment.Behavior, wt *catalog.Table, name string) (*catalog.Column, string) {
	src := name
	if bc, ok := b.Column(name); ok {
		src = bc.SourceColumn()
	}
	col, ok := wt.Column(src)
	if !ok || !col.Supported {
		return nil, ""
	}
	return col, name
}

var timeOperators = []string{segment.TimeWithinPast, segment.TimeWithinNext, segment.TimeRange, segment.TimeToday,
	segment.TimeThis, segment.TimeNext, segment.TimeInBetweenNext}

var textOperators = []string{segment.Contain, segment.StartWith, segment.EndWith, segment.Regexp}

// operator reports an operator or operand that does not fit the real type
// of the column it compares.
func (c *checker) operator(op *segment.Operator, col *catalog.Column, name string, pos diag.Pos) {
	if op == nil || op.Type == segment.IsNull {
		return
	}
	if op.Origin.Pos.IsValid() {
		pos = op.Origin.Pos
	}
	t := col.ION
	isTime := t == segment.Date || t == segment.Timestamp
	bad := func(format string, args ...any) {
		c.add(diag.Errorf(pos, CodeRuleType, "%s compares behavior column %s, which is %s, %s",
			op.Type, name, describe(col), fmt.Sprintf(format, args...)))
	}
	switch {
	case slices.Contains(timeOperators, op.Type):
		if !isTime {
			bad("but the operator needs a date or timestamp column")
		}
		return
	case slices.Contains(textOperators, op.Type):
		if t != segment.String && t != segment.StringArray {
			bad("but the operator needs a string column")
		}
		return
	}
	var vals []segment.Value
	for _, v := range []*segment.Value{op.RightValue, op.MinValue, op.MaxValue} {
		if v != nil {
			vals = append(vals, *v)
		}
	}
	vals = append(vals, op.RightValues...)
	for _, v := range vals {
		ok := true
		switch v.Kind {
		case segment.NumberValue:
			ok = t == segment.Number || t == segment.NumberArray
		case segment.StringValue:
			ok = t == segment.String || t == segment.StringArray || isTime
		case segment.BoolValue:
			ok = t == segment.Boolean
		case segment.TimestampValue, segment.RelativeValue:
			ok = isTime
		}
		if !ok {
			bad("with %s", v)
			return
		}
	}
}
