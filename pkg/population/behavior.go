package population

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

func (c *compiler) behaviorCond(cond *segment.Condition, path string) (string, error) {
	lv := cond.LeftValue
	b, ok := c.parent.Behavior(lv.Source.Name)
	if !ok {
		return "", c.errf(ReasonUnknownName, path+".leftValue.source.name", "behavior %q is not declared by parent segment %q", lv.Source.Name, c.parent.Name)
	}
	if lv.Aggregation == nil {
		return "", c.errf(ReasonInvalid, path+".leftValue.aggregation", "a behavior condition needs an aggregation")
	}
	ag := lv.Aggregation
	if len(ag.Extra) > 0 || len(lv.Extra) > 0 {
		return "", c.errf(ReasonUnsupported, path+".leftValue", "fields %s are not counted", extraNames(ag.Extra)+extraNames(lv.Extra))
	}
	row, err := c.behaviorRows(b, lv, path)
	if err != nil {
		return "", err
	}
	if len(ag.GroupingColumns) > 0 {
		return c.groupedCond(cond, b, row, path)
	}
	expr, typ, err := c.aggregationSQL(b, ag, row, path)
	if err != nil {
		return "", err
	}
	ref := c.aggregate(b, expr)
	use := ref
	if ag.Type == segment.Count || ag.Type == segment.CountDistinct {
		use = fmt.Sprintf("COALESCE(%s, 0) /* no rows counts 0 */", ref)
	}
	return c.test(use, typ, cond.Operator, cond.ArrayMatching, path)
}

// behaviorRows returns the condition on the behavior rows an aggregation
// takes: its filter and its window, or TRUE.
func (c *compiler) behaviorRows(b *segment.Behavior, lv *segment.LeftValue, path string) (string, error) {
	rows := []string{}
	if lv.Filter != nil && lv.Filter.Type != "" {
		f, err := c.filter(b, lv.Filter, path+".leftValue.filter")
		if err != nil {
			return "", err
		}
		rows = append(rows, f)
	}
	if lv.Window != nil {
		w, err := c.window(b, lv.Window, path+".leftValue.window")
		if err != nil {
			return "", err
		}
		rows = append(rows, w)
	}
	if len(rows) == 0 {
		return "TRUE", nil
	}
	return strings.Join(rows, " AND "), nil
}

// aggregationSQL returns the SQL aggregate of ag over the rows where row
// holds, and the type of its value.
func (c *compiler) aggregationSQL(b *segment.Behavior, ag *segment.Aggregation, row, path string) (string, segment.IONType, error) {
	switch ag.Type {
	case segment.Count:
		if row == "TRUE" {
			return "count(*)", segment.Number, nil
		}
		return fmt.Sprintf("count_if(%s)", row), segment.Number, nil
	case segment.Sum, segment.Average, segment.Min, segment.Max:
		return c.numericAggregation(b, ag, row, path)
	case segment.CountDistinct:
		cols := ag.Columns
		if len(cols) == 0 && ag.Column != "" {
			cols = []string{ag.Column}
		}
		if len(cols) != 1 {
			return "", "", c.errf(ReasonUnsupported, path+".leftValue.aggregation.columns", "CountDistinct of %d columns is not counted", len(cols))
		}
		col, ok := b.Column(cols[0])
		if !ok {
			return "", "", c.errf(ReasonUnknownName, path+".leftValue.aggregation.columns[0]", "behavior %q has no column %q", b.Name, cols[0])
		}
		// The size of the set of values is COUNT(DISTINCT): both leave
		// out NULL, and no row is an empty set. One set per aggregate costs
		// the warehouse less than one distinct aggregation each.
		return "size(" + filtered("collect_set", Quote(col.SourceColumn()), row) + ")", segment.Number, nil
	case segment.First, segment.Last:
		return c.orderedAggregation(b, ag, row, path)
	}
	return "", "", c.errf(ReasonUnsupported, path+".leftValue.aggregation.type", "aggregation %q is not counted", ag.Type)
}

// aggregatedColumn returns the column ag aggregates, which must have a
// type.
func (c *compiler) aggregatedColumn(b *segment.Behavior, ag *segment.Aggregation, path string) (*segment.Column, error) {
	col, ok := b.Column(ag.Column)
	if !ok {
		return nil, c.errf(ReasonUnknownName, path+".leftValue.aggregation.column", "behavior %q has no column %q", b.Name, ag.Column)
	}
	if col.Type == "" {
		return nil, c.errf(ReasonInvalid, path+".leftValue.aggregation.column", "column %q has no type", ag.Column)
	}
	return col, nil
}

// numericAggregation compiles Sum and Average (of a number column), Min and
// Max (of a scalar column other than a boolean).
func (c *compiler) numericAggregation(b *segment.Behavior, ag *segment.Aggregation, row, path string) (string, segment.IONType, error) {
	col, err := c.aggregatedColumn(b, ag, path)
	if err != nil {
		return "", "", err
	}
	typ := segment.Number
	fn := map[string]string{segment.Sum: "sum", segment.Average: "avg", segment.Min: "min", segment.Max: "max"}[ag.Type]
	if fn == "sum" || fn == "avg" {
		if col.Type != segment.Number {
			return "", "", c.errf(ReasonTypeMismatch, path+".leftValue.aggregation.column", "%s of a %s column", ag.Type, col.Type)
		}
	} else {
		typ = col.Type
		if typ.IsArray() || typ == segment.Boolean {
			return "", "", c.errf(ReasonUnsupported, path+".leftValue.aggregation.column", "%s of a %s column is not counted", ag.Type, typ)
		}
	}
	return filtered(fn, Quote(col.SourceColumn()), row), typ, nil
}

// filtered is the aggregate fn of arg over the rows where row holds.
func filtered(fn, arg, row string) string {
	if row == "TRUE" {
		return fn + "(" + arg + ")"
	}
	return fmt.Sprintf("%s(%s) FILTER (WHERE %s)", fn, arg, row)
}

// orderedAggregation compiles First and Last: the value of the row with the
// lowest or highest order column (the behavior's time by default).
func (c *compiler) orderedAggregation(b *segment.Behavior, ag *segment.Aggregation, row, path string) (string, segment.IONType, error) {
	col, err := c.aggregatedColumn(b, ag, path)
	if err != nil {
		return "", "", err
	}
	if col.Type.IsArray() {
		return "", "", c.errf(ReasonUnsupported, path+".leftValue.aggregation.column", "%s of a %s column is not counted", ag.Type, col.Type)
	}
	ord := b.Time
	if ag.OrderColumn != "" {
		oc, ok := b.Column(ag.OrderColumn)
		switch {
		case ok:
			ord = oc.SourceColumn()
		case ag.OrderColumn == b.Time:
		default:
			return "", "", c.errf(ReasonUnknownName, path+".leftValue.aggregation.orderColumn", "behavior %q has no column %q", b.Name, ag.OrderColumn)
		}
	}
	fn := "min_by"
	if ag.Type == segment.Last {
		fn = "max_by"
	}
	v, o := Quote(col.SourceColumn()), Quote(ord)
	if col.SourceColumn() == ord {
		// The value of the row with the lowest order is the lowest value.
		fn := map[string]string{"min_by": "min", "max_by": "max"}[fn]
		return filtered(fn, v, row) + fmt.Sprintf(" /* %s of the order column: its %s value */", ag.Type, fn), col.Type, nil
	}
	expr := fmt.Sprintf("%s(%s, %s) FILTER (WHERE %s AND %s IS NOT NULL AND %s IS NOT NULL) /* %s: the value of the row with the %s order among rows where both are set */",
		fn, v, o, row, v, o, ag.Type, map[string]string{"min_by": "lowest", "max_by": "highest"}[fn])
	return expr, col.Type, nil
}

// aggregate adds expr to the behavior's grouped subquery, once.
func (c *compiler) aggregate(b *segment.Behavior, expr string) string {
	a, ok := c.behaviors[b.Name]
	if !ok {
		a = &behaviorAgg{alias: "b" + strconv.Itoa(len(c.behOrder)+1), b: b, index: map[string]int{}}
		c.behaviors[b.Name] = a
		c.behOrder = append(c.behOrder, b.Name)
	}
	return c.column(a.alias, "a"+strconv.Itoa(addOnce(&a.exprs, a.index, expr)+1))
}

func (c *compiler) filter(b *segment.Behavior, f *segment.Filter, path string) (string, error) {
	switch f.Type {
	case "":
		return "TRUE", nil
	case segment.And, segment.Or:
		if len(f.Conditions) == 0 {
			return "TRUE", nil
		}
		var ps []string
		for i := range f.Conditions {
			p, err := c.filter(b, &f.Conditions[i], fmt.Sprintf("%s.conditions[%d]", path, i))
			if err != nil {
				return "", err
			}
			ps = append(ps, p)
		}
		return "(" + strings.Join(ps, " "+strings.ToUpper(f.Type)+" ") + ")", nil
	case segment.ColumnFilter:
		col, ok := b.Column(f.Column)
		if !ok {
			return "", c.errf(ReasonUnknownName, path+".column", "behavior %q has no column %q", b.Name, f.Column)
		}
		if col.Type == "" {
			return "", c.errf(ReasonInvalid, path+".column", "column %q has no type", f.Column)
		}
		if f.Operator == nil {
			return "", c.errf(ReasonInvalid, path+".operator", "a column filter needs an operator")
		}
		return c.test(Quote(col.SourceColumn()), col.Type, f.Operator, f.ArrayMatching, path)
	}
	return "", c.errf(ReasonUnsupported, path+".type", "filter type %q is not counted", f.Type)
}

func (c *compiler) window(b *segment.Behavior, w *segment.Window, path string) (string, error) {
	if w.Type != "TimeSliding" {
		return "", c.errf(ReasonUnsupported, path+".type", "window %q is not counted", w.Type)
	}
	if b.Time == "" {
		return "", c.errf(ReasonInvalid, path, "behavior %q has no time column", b.Name)
	}
	from := c.now
	for _, u := range segment.TimeUnits {
		n, ok := w.Duration[u]
		if !ok {
			continue
		}
		d, err := c.shift(from, u, n, path+".duration."+u)
		if err != nil {
			return "", err
		}
		from = d[1]
	}
	if len(w.Duration) == 0 {
		return "", c.errf(ReasonInvalid, path+".duration", "a window needs a duration")
	}
	t := Quote(b.Time)
	lo, hi := c.param(from.UTC()), c.param(c.now.UTC())
	kind := "a timestamp"
	switch c.opts.TimeKinds[b.Name] {
	case TimeDate:
		lo, hi, kind = c.dateParam(from), c.dateParam(c.now), "a date in the parent's time zone"
	case TimeEpochSeconds:
		lo, hi, kind = c.param(from.Unix()), c.param(c.now.Unix()), "epoch seconds"
	}
	return fmt.Sprintf("(%s >= %s AND %s <= %s /* window: rows from now back by the duration, both ends included, the time column %s */)", t, lo, t, hi, kind), nil
}
