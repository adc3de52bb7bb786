//go:build cgo

package population

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// This file is the definition of what a rule means, written independently of
// the compiler: it evaluates a rule over sample rows held in memory.

// row is one table row by warehouse column name. Values are nil, string,
// float64, int64, bool, time.Time or []any.
type row map[string]any

// sample is the data of one parent segment.
type sample struct {
	parent    *segment.Parent
	customers []row
	// joined maps table name -> key -> rows.
	joined map[string]map[string][]row
	// behaviors maps behavior name -> key -> rows.
	behaviors map[string]map[string][]row
}

type evaluator struct {
	s         *sample
	now       time.Time
	loc       *time.Location
	rules     map[string]*segment.Rule
	timeKinds map[string]TimeKind
}

// count is the number of customers r matches.
func (e *evaluator) count(r *segment.Rule) int64 {
	var n int64
	for _, c := range e.s.customers {
		if e.rule(r, c) {
			n++
		}
	}
	if r.Limit != nil {
		switch r.Limit.Type {
		case "Count":
			lim, _ := strconv.ParseInt(r.Limit.Number.String(), 10, 64)
			n = min(n, lim)
		case "Percent":
			p, _ := strconv.ParseFloat(r.Limit.Number.String(), 64)
			n = int64(float64(n) * p / 100)
		}
	}
	return n
}

func (e *evaluator) rule(r *segment.Rule, c row) bool {
	if r.IsEmpty() {
		return true
	}
	vals := make([]bool, len(r.Conditions))
	for i := range r.Conditions {
		vals[i] = e.set(&r.Conditions[i], c)
	}
	return combine(r.Type, r.Expr, vals)
}

func (e *evaluator) set(cs *segment.ConditionSet, c row) bool {
	if len(cs.Conditions) == 0 {
		return true
	}
	vals := make([]bool, len(cs.Conditions))
	for i := range cs.Conditions {
		vals[i] = e.condition(&cs.Conditions[i], c)
	}
	return combine(cs.Type, cs.Expr, vals)
}

func combine(typ, expr string, vals []bool) bool {
	switch typ {
	case segment.Or:
		return slices.Contains(vals, true)
	case segment.Composite:
		return evalExpr(expr, vals)
	}
	return !slices.Contains(vals, false)
}

// evalExpr evaluates "1 and (2 or 3)" by repeatedly reducing the innermost
// parentheses.
func evalExpr(expr string, vals []bool) bool {
	s := " " + strings.NewReplacer("(", " ( ", ")", " ) ").Replace(expr) + " "
	for _, f := range strings.Fields(s) {
		if len(f) == 1 && f[0] >= 'A' && f[0] <= 'Z' {
			s = strings.Replace(s, " "+f+" ", " "+strconv.Itoa(int(f[0]-'A')+1)+" ", 1)
		}
	}
	toks := strings.Fields(s)
	var pos int
	var or func() bool
	primary := func() bool {
		t := toks[pos]
		pos++
		if t == "(" {
			v := or()
			pos++ // )
			return v
		}
		i, _ := strconv.Atoi(t)
		return vals[i-1]
	}
	and := func() bool {
		v := primary()
		for pos < len(toks) && toks[pos] == "and" {
			pos++
			w := primary()
			v = v && w
		}
		return v
	}
	or = func() bool {
		v := and()
		for pos < len(toks) && toks[pos] == "or" {
			pos++
			w := and()
			v = v || w
		}
		return v
	}
	return or()
}

func (e *evaluator) condition(cond *segment.Condition, c row) bool {
	var v bool
	switch {
	case cond.Type == segment.ReferenceCondition:
		v = e.rule(e.rules[cond.Segment], c)
	case cond.IsBehavior():
		v = e.behavior(cond, c)
	default:
		a, _ := e.s.parent.Attribute(cond.LeftValue.Name)
		if a.Join == nil {
			v = e.test(c[a.Column], a.Type, cond.Operator, cond.ArrayMatching)
		} else {
			// A joined attribute has one value per joined row of the
			// profile, or one missing value when it has none; the condition
			// holds when any value passes.
			vals := []any{}
			for _, j := range e.s.joined[a.Join.Table.Table][c[e.s.parent.Customers.Key].(string)] {
				vals = append(vals, j[a.Column])
			}
			if len(vals) == 0 {
				vals = append(vals, nil)
			}
			for _, x := range vals {
				if e.test(x, a.Type, cond.Operator, cond.ArrayMatching) {
					v = true
				}
			}
		}
	}
	return v != cond.Exclude
}

func (e *evaluator) behavior(cond *segment.Condition, c row) bool {
	lv := cond.LeftValue
	b, _ := e.s.parent.Behavior(lv.Source.Name)
	var rows []row
	for _, r := range e.s.behaviors[b.Name][c[e.s.parent.Customers.Key].(string)] {
		if lv.Filter != nil && !e.filter(b, lv.Filter, r) {
			continue
		}
		if lv.Window != nil {
			from := e.now.In(e.loc) // calendar units in the parent's time zone
			for _, u := range segment.TimeUnits {
				if n, ok := lv.Window.Duration[u]; ok {
					from = move(from, u, -n)
				}
			}
			t := r[b.Time]
			if t == nil {
				continue
			}
			var tt time.Time
			switch x := t.(type) {
			case int64:
				tt = time.Unix(x, 0)
			case time.Time:
				tt = x
			}
			if tt.Before(from) || tt.After(e.now) {
				continue
			}
		}
		rows = append(rows, r)
	}
	if len(lv.Aggregation.GroupingColumns) == 0 {
		val, typ := e.aggregate(b, lv.Aggregation, rows)
		return e.test(val, typ, cond.Operator, cond.ArrayMatching)
	}
	// Grouped: the aggregate of each group of rows with the same grouping
	// values (nil a value of its own); the condition holds when any group
	// passes, and a profile with no rows has no group.
	groups := map[string][]row{}
	var order []string
	for _, r := range rows {
		var k strings.Builder
		for _, name := range lv.Aggregation.GroupingColumns {
			gc, _ := b.Column(name)
			fmt.Fprintf(&k, "%T:%v\x00", r[gc.SourceColumn()], r[gc.SourceColumn()])
		}
		if _, ok := groups[k.String()]; !ok {
			order = append(order, k.String())
		}
		groups[k.String()] = append(groups[k.String()], r)
	}
	for _, k := range order {
		val, typ := e.aggregate(b, lv.Aggregation, groups[k])
		if e.test(val, typ, cond.Operator, cond.ArrayMatching) {
			return true
		}
	}
	return false
}

// aggregate is the value of aggregation ag over rows, and its type.
func (e *evaluator) aggregate(b *segment.Behavior, ag *segment.Aggregation, rows []row) (any, segment.IONType) {
	col := func(name string) (string, segment.IONType) {
		if cc, ok := b.Column(name); ok {
			return cc.SourceColumn(), cc.Type
		}
		return name, segment.Timestamp
	}
	var val any
	typ := segment.Number
	switch ag.Type {
	case segment.Count:
		val = float64(len(rows))
	case segment.CountDistinct:
		name := ag.Column
		if len(ag.Columns) > 0 {
			name = ag.Columns[0]
		}
		cn, _ := col(name)
		seen := map[any]bool{}
		for _, r := range rows {
			if r[cn] != nil {
				seen[r[cn]] = true
			}
		}
		val = float64(len(seen))
	case segment.Sum, segment.Average:
		cn, _ := col(ag.Column)
		var sum float64
		n := 0
		for _, r := range rows {
			if f, ok := r[cn].(float64); ok {
				sum += f
				n++
			}
		}
		if n > 0 {
			val = sum
			if ag.Type == segment.Average {
				val = sum / float64(n)
			}
		}
	case segment.Min, segment.Max:
		cn, ct := col(ag.Column)
		typ = ct
		for _, r := range rows {
			x := r[cn]
			if x == nil {
				continue
			}
			if val == nil || (ag.Type == segment.Min) == (compare(x, val, ct) < 0) && compare(x, val, ct) != 0 {
				val = x
			}
		}
	case segment.First, segment.Last:
		cn, ct := col(ag.Column)
		typ = ct
		on := b.Time
		if ag.OrderColumn != "" {
			on, _ = col(ag.OrderColumn)
		}
		var best any
		for _, r := range rows {
			if r[cn] == nil || r[on] == nil {
				continue
			}
			if best == nil || (ag.Type == segment.First) == (compare(r[on], best, segment.Timestamp) < 0) && compare(r[on], best, segment.Timestamp) != 0 {
				best, val = r[on], r[cn]
			}
		}
	}
	return val, typ
}

func (e *evaluator) filter(b *segment.Behavior, f *segment.Filter, r row) bool {
	switch f.Type {
	case segment.And:
		for i := range f.Conditions {
			if !e.filter(b, &f.Conditions[i], r) {
				return false
			}
		}
		return true
	case segment.Or:
		if len(f.Conditions) == 0 {
			return true
		}
		for i := range f.Conditions {
			if e.filter(b, &f.Conditions[i], r) {
				return true
			}
		}
		return false
	case segment.ColumnFilter:
		cc, _ := b.Column(f.Column)
		return e.test(r[cc.SourceColumn()], cc.Type, f.Operator, f.ArrayMatching)
	}
	return true
}

// test applies op (with its not) to v; a missing value fails every operator
// but IsNull, before not.
func (e *evaluator) test(v any, typ segment.IONType, op *segment.Operator, am *segment.ArrayMatching) bool {
	var ok bool
	if typ.IsArray() {
		elem := segment.String
		if typ == segment.NumberArray {
			elem = segment.Number
		}
		if list, isList := v.([]any); isList {
			n := 0
			for _, x := range list {
				if e.op(x, elem, op) {
					n++
				}
			}
			mode := segment.ArrayMatching{Mode: "any"}
			if am != nil {
				mode = *am
			}
			switch mode.Mode {
			case "any":
				ok = n > 0
			case "all":
				ok = n == len(list)
			case "atLeast":
				ok = n >= mode.N
			case "atMost":
				ok = n <= mode.N
			case "exactly":
				ok = n == mode.N
			}
		}
	} else {
		ok = e.op(v, typ, op)
	}
	return ok != op.Not
}

func (e *evaluator) op(v any, typ segment.IONType, op *segment.Operator) bool {
	if op.Type == segment.IsNull {
		return v == nil
	}
	if v == nil {
		return false
	}
	cmp := func(w segment.Value) int { return compare(v, e.operand(w, typ), typ) }
	switch op.Type {
	case segment.Equal:
		return cmp(*op.RightValue) == 0
	case segment.Greater:
		return cmp(*op.RightValue) > 0
	case segment.Less:
		return cmp(*op.RightValue) < 0
	case segment.GreaterEqual:
		return cmp(*op.RightValue) >= 0
	case segment.LessEqual:
		return cmp(*op.RightValue) <= 0
	case segment.Between:
		return cmp(*op.MinValue) >= 0 && cmp(*op.MaxValue) <= 0
	case segment.In:
		for _, w := range op.RightValues {
			if cmp(w) == 0 {
				return true
			}
		}
		return false
	case segment.Contain, segment.StartWith, segment.EndWith:
		f := map[string]func(string, string) bool{segment.Contain: strings.Contains, segment.StartWith: strings.HasPrefix, segment.EndWith: strings.HasSuffix}[op.Type]
		for _, w := range op.RightValues {
			if f(v.(string), w.Str) {
				return true
			}
		}
		return false
	case segment.Regexp:
		return regexp.MustCompile(op.RightValue.Str).MatchString(v.(string))
	}
	// Time operators: [from, to] or [from, to).
	now := e.now.In(e.loc)
	var from, to time.Time
	incl := true
	switch op.Type {
	case segment.TimeWithinPast:
		n, _ := strconv.Atoi(op.Value)
		from, to = move(now, op.Unit, -n), now
	case segment.TimeWithinNext:
		n, _ := strconv.Atoi(op.Value)
		from, to = now, move(now, op.Unit, n)
	case segment.TimeToday:
		from, incl = calendarStart(now, "day"), false
		to = from.AddDate(0, 0, 1)
	case segment.TimeThis, segment.TimeNext:
		from, incl = calendarStart(now, op.From.Unit), false
		if op.Type == segment.TimeNext {
			from = move(from, op.From.Unit, 1)
		}
		to = move(from, op.From.Unit, 1)
	case segment.TimeRange:
		from, incl = move(now, op.From.Unit, -*op.From.Last), false
		to = from
		for _, u := range segment.TimeUnits {
			if n, ok := op.Duration[u]; ok {
				to = move(to, u, n)
			}
		}
	case segment.TimeInBetweenNext:
		from, to = move(now, op.From.Unit, *op.From.Next), move(now, op.To.Unit, *op.To.Next)
	}
	t := v.(time.Time)
	if typ == segment.Date {
		from, to = localDate(from), localDate(to)
	}
	if t.Before(from) {
		return false
	}
	if incl {
		return !t.After(to)
	}
	return t.Before(to)
}

// operand converts a rule value to the representation of rows.
func (e *evaluator) operand(w segment.Value, typ segment.IONType) any {
	switch w.Kind {
	case segment.NumberValue:
		f, _ := strconv.ParseFloat(w.Num.String(), 64)
		return f
	case segment.BoolValue:
		return w.Bool
	case segment.RelativeValue:
		t := move(e.now.In(e.loc), w.Unit, -w.Last)
		if typ == segment.Date {
			return localDate(t)
		}
		return t
	case segment.TimestampValue:
		t, err := time.Parse(time.RFC3339, w.Str)
		if err != nil {
			t, _ = time.ParseInLocation(time.DateOnly, w.Str, e.loc)
		}
		if typ == segment.Date {
			return localDate(t)
		}
		return t
	}
	return w.Str
}

// localDate is the calendar day of t in its location, as midnight UTC (how
// dates are read from the warehouse).
func localDate(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func move(t time.Time, unit string, n int) time.Time {
	switch unit {
	case "year":
		return t.AddDate(n, 0, 0)
	case "quarter":
		return t.AddDate(0, 3*n, 0)
	case "month":
		return t.AddDate(0, n, 0)
	case "week":
		return t.AddDate(0, 0, 7*n)
	case "day":
		return t.AddDate(0, 0, n)
	case "hour":
		return t.Add(time.Duration(n) * time.Hour)
	case "minute":
		return t.Add(time.Duration(n) * time.Minute)
	}
	return t.Add(time.Duration(n) * time.Second)
}

func calendarStart(t time.Time, unit string) time.Time {
	y, m, d := t.Date()
	switch unit {
	case "year":
		return time.Date(y, 1, 1, 0, 0, 0, 0, t.Location())
	case "quarter":
		return time.Date(y, m-(m-1)%3, 1, 0, 0, 0, 0, t.Location())
	case "month":
		return time.Date(y, m, 1, 0, 0, 0, 0, t.Location())
	case "week":
		return time.Date(y, m, d-(int(t.Weekday())+6)%7, 0, 0, 0, 0, t.Location())
	}
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}

func compare(a, b any, typ segment.IONType) int {
	switch x := a.(type) {
	case float64:
		y := b.(float64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	case string:
		return strings.Compare(x, b.(string))
	case bool:
		y := b.(bool)
		if x == y {
			return 0
		}
		if !x {
			return -1
		}
		return 1
	case time.Time:
		return x.Compare(b.(time.Time))
	case int64:
		return compare(float64(x), float64(b.(int64)), typ)
	}
	return 0
}
