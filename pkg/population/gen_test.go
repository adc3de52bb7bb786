//go:build cgo

package population

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// gen makes random rules over the sample parent segment.
type gen struct {
	p   *segment.Parent
	rng *rand.Rand
}

func newGen(p *segment.Parent, seed uint64) *gen {
	return &gen{p: p, rng: rand.New(rand.NewPCG(seed, seed^0x5eed))}
}

var strValues = map[string][]string{
	"country": {"US", "CA", "JP", "DE", "XX"}, "loyalty_tier": {"bronze", "silver", "gold", "platinum"},
	"email": {"acme", "gmail.com", "user0001", "@globex.com", "example"}, "first_name": {"A", "Jo", "a", "n"},
	"interests": {"hiking", "camping", "books", "gaming", "x"}, "category": {"shoes", "bags", "home", "apparel"},
	"channel": {"web", "app", "store"}, "coupon_code": {"VIP50", "WELCOME10"}, "page_type": {"checkout", "cart", "home"},
	"device": {"ios", "android", "desktop"}, "referrer": {"https://www.", "direct", "/", "instagram"},
	"url": {"/checkout", "/sale", "/p/", "/"}, "event_type": {"open", "click", "sent"}, "campaign": {"holiday", "summer_sale"},
	"store_id": {"st001", "st002"}, "order_id": {"o0000100", "o0003000"},
}

var numRanges = map[string][2]float64{
	"ltv": {0, 3000}, "age": {16, 85}, "segment_score": {0, 1}, "amount": {5, 500}, "quantity": {1, 5},
	"duration_seconds": {1, 600}, "spend": {0, 300}, "count": {0, 12},
}

func (g *gen) pick(xs []string) string { return xs[g.rng.IntN(len(xs))] }

func (g *gen) num(name string) segment.Value {
	r, ok := numRanges[name]
	if !ok {
		r = [2]float64{0, 10}
	}
	f := r[0] + g.rng.Float64()*(r[1]-r[0])
	if r[1]-r[0] > 20 {
		f = float64(int(f))
	}
	return segment.Value{Kind: segment.NumberValue, Num: json.Number(strconv.FormatFloat(f, 'f', 3, 64))}
}

func (g *gen) timeValue() segment.Value {
	if g.rng.IntN(2) == 0 {
		return segment.Value{Kind: segment.RelativeValue, Last: 1 + g.rng.IntN(6), Unit: g.pick([]string{"day", "week", "month"})}
	}
	t := testNow.AddDate(0, 0, -g.rng.IntN(400)).Add(-hours(g.rng.IntN(24)))
	return segment.Value{Kind: segment.TimestampValue, Str: t.Format("2006-01-02T15:04:05Z")}
}

func (g *gen) value(name string, typ segment.IONType) segment.Value {
	switch typ {
	case segment.Number, segment.NumberArray:
		return g.num(name)
	case segment.Boolean:
		return segment.BoolOf(g.rng.IntN(2) == 0)
	case segment.Timestamp, segment.Date:
		return g.timeValue()
	}
	vs := strValues[name]
	if len(vs) == 0 {
		vs = []string{"a", "b"}
	}
	return segment.StringOf(g.pick(vs))
}

// operator returns a random operator that applies to typ.
func (g *gen) operator(name string, typ segment.IONType) *segment.Operator {
	op := &segment.Operator{Not: g.rng.IntN(4) == 0}
	elem := typ
	if typ == segment.StringArray {
		elem = segment.String
	}
	var kinds []string
	switch elem {
	case segment.String:
		kinds = []string{segment.Equal, segment.In, segment.Contain, segment.StartWith, segment.EndWith, segment.Regexp, segment.IsNull, segment.Greater, segment.Less}
	case segment.Number:
		kinds = []string{segment.Equal, segment.Greater, segment.Less, segment.GreaterEqual, segment.LessEqual, segment.Between, segment.In, segment.IsNull}
	case segment.Boolean:
		kinds = []string{segment.Equal, segment.IsNull}
	case segment.Timestamp, segment.Date:
		kinds = []string{segment.Greater, segment.LessEqual, segment.Between, segment.IsNull, segment.TimeWithinPast, segment.TimeWithinNext,
			segment.TimeToday, segment.TimeThis, segment.TimeNext, segment.TimeRange, segment.TimeInBetweenNext}
	}
	op.Type = g.pick(kinds)
	unit := g.pick([]string{"day", "week", "month", "quarter", "year", "hour"})
	n := 1 + g.rng.IntN(40)
	switch op.Type {
	case segment.Equal, segment.Greater, segment.Less, segment.GreaterEqual, segment.LessEqual:
		v := g.value(name, elem)
		op.RightValue = &v
	case segment.Regexp:
		v := segment.StringOf(g.pick([]string{"^a", "[0-9]{3}5", "(acme|globex)\\.com$", "o+", "^US$"}))
		op.RightValue = &v
	case segment.Between:
		a, b := g.value(name, elem), g.value(name, elem)
		op.MinValue, op.MaxValue = &a, &b
	case segment.In, segment.Contain, segment.StartWith, segment.EndWith:
		for range 1 + g.rng.IntN(3) {
			op.RightValues = append(op.RightValues, g.value(name, elem))
		}
	case segment.TimeWithinPast, segment.TimeWithinNext:
		op.Value, op.Unit = strconv.Itoa(n), unit
	case segment.TimeThis, segment.TimeNext:
		op.From = &segment.TimeRef{Unit: g.pick([]string{"day", "week", "month", "quarter", "year"})}
	case segment.TimeRange:
		op.From = &segment.TimeRef{Last: &n, Unit: unit}
		op.Duration = segment.Duration{g.pick([]string{"day", "week", "month"}): 1 + g.rng.IntN(20)}
	case segment.TimeInBetweenNext:
		m := n + g.rng.IntN(30)
		op.From, op.To = &segment.TimeRef{Next: &n, Unit: "day"}, &segment.TimeRef{Next: &m, Unit: "day"}
	}
	return op
}

func (g *gen) arrayMatching() *segment.ArrayMatching {
	switch g.rng.IntN(6) {
	case 0:
		return nil
	case 1:
		return &segment.ArrayMatching{Mode: "all"}
	case 2:
		return &segment.ArrayMatching{Mode: "atLeast", N: g.rng.IntN(3)}
	case 3:
		return &segment.ArrayMatching{Mode: "atMost", N: g.rng.IntN(3)}
	case 4:
		return &segment.ArrayMatching{Mode: "exactly", N: g.rng.IntN(3)}
	}
	return &segment.ArrayMatching{Mode: "any"}
}

func (g *gen) condition(earlier []Named) segment.Condition {
	c := segment.Condition{Type: segment.ValueCondition, Exclude: g.rng.IntN(6) == 0}
	switch k := g.rng.IntN(10); {
	case k == 0 && len(earlier) > 0 && earlier[len(earlier)-1].Rule.Limit == nil:
		// The last one only: references to a rule with a limit are not counted.
		c.Type, c.Segment = segment.ReferenceCondition, earlier[len(earlier)-1].Name
	case k < 5:
		a := g.p.Attributes[g.rng.IntN(len(g.p.Attributes))]
		c.LeftValue = &segment.LeftValue{Name: a.Name}
		c.Operator = g.operator(a.Name, a.Type)
		if a.Type.IsArray() {
			c.ArrayMatching = g.arrayMatching()
		}
	default:
		b := g.p.Behaviors[g.rng.IntN(len(g.p.Behaviors))]
		lv := &segment.LeftValue{Source: &segment.SourceRef{Name: b.Name}, Aggregation: &segment.Aggregation{}}
		cols := b.Columns
		col := cols[g.rng.IntN(len(cols))]
		numCols := []segment.Column{}
		for _, cc := range cols {
			if cc.Type == segment.Number {
				numCols = append(numCols, cc)
			}
		}
		ag := lv.Aggregation
		ag.Type = g.pick(segment.Aggregations)
		if len(numCols) == 0 && (ag.Type == segment.Sum || ag.Type == segment.Average) {
			ag.Type = segment.Count
		}
		var typ segment.IONType = segment.Number
		name := "count"
		switch ag.Type {
		case segment.Sum, segment.Average:
			nc := numCols[g.rng.IntN(len(numCols))]
			ag.Column, name = nc.Name, nc.Name
		case segment.Min, segment.Max, segment.First, segment.Last:
			ag.Column, typ, name = col.Name, col.Type, col.Name
			if ag.Type == segment.First || ag.Type == segment.Last {
				ag.OrderColumn = b.Time
			}
		case segment.CountDistinct:
			ag.Columns = []string{col.Name}
		}
		if g.rng.IntN(2) == 0 {
			lv.Filter = g.filter(b, 2)
		}
		if g.rng.IntN(4) == 0 {
			// Grouped by one or two scalar columns.
			for range 1 + g.rng.IntN(2) {
				gc := cols[g.rng.IntN(len(cols))]
				if !gc.Type.IsArray() && !slices.Contains(ag.GroupingColumns, gc.Name) {
					ag.GroupingColumns = append(ag.GroupingColumns, gc.Name)
				}
			}
		}
		if g.rng.IntN(2) == 0 {
			lv.Window = &segment.Window{Type: "TimeSliding", Duration: segment.Duration{g.pick([]string{"day", "hour", "week"}): 1 + g.rng.IntN(90)}}
		}
		c.LeftValue = lv
		c.Operator = g.operator(name, typ)
	}
	return c
}

func (g *gen) filter(b segment.Behavior, depth int) *segment.Filter {
	if depth > 0 && g.rng.IntN(3) == 0 {
		f := &segment.Filter{Type: g.pick([]string{segment.And, segment.Or})}
		for range 1 + g.rng.IntN(3) {
			f.Conditions = append(f.Conditions, *g.filter(b, depth-1))
		}
		return f
	}
	col := b.Columns[g.rng.IntN(len(b.Columns))]
	return &segment.Filter{Type: segment.ColumnFilter, Column: col.Name, Operator: g.operator(col.Name, col.Type)}
}

func (g *gen) rule(earlier []Named) *segment.Rule {
	r := &segment.Rule{Type: g.pick([]string{segment.And, segment.Or, segment.Composite})}
	nsets := 1 + g.rng.IntN(3)
	for range nsets {
		cs := segment.ConditionSet{Type: g.pick([]string{segment.And, segment.Or})}
		for range 1 + g.rng.IntN(3) {
			cs.Conditions = append(cs.Conditions, g.condition(earlier))
		}
		r.Conditions = append(r.Conditions, cs)
	}
	if r.Type == segment.Composite {
		r.Expr = g.expr(nsets)
	}
	if g.rng.IntN(10) == 0 {
		if g.rng.IntN(2) == 0 {
			r.Limit = &segment.Limit{Type: "Count", Number: json.Number(strconv.Itoa(g.rng.IntN(300)))}
		} else {
			r.Limit = &segment.Limit{Type: "Percent", Number: json.Number(strconv.Itoa(g.rng.IntN(101)))}
		}
	}
	return r
}

// expr is a random Composite expression using items 1..n.
func (g *gen) expr(n int) string {
	s := "1"
	for i := 2; i <= n; i++ {
		op := g.pick([]string{"and", "or"})
		if g.rng.IntN(2) == 0 {
			s = fmt.Sprintf("(%s) %s %d", s, op, i)
		} else {
			s = fmt.Sprintf("%d %s (%s)", i, op, s)
		}
	}
	return s
}

func hours(n int) time.Duration { return time.Duration(n) * time.Hour }
