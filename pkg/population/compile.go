package population

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

type compiler struct {
	parent *segment.Parent
	opts   Options
	loc    *time.Location
	now    time.Time
	params []Param
	// joins maps a joined table (and key) to its grouped subquery.
	joins     map[string]*joinAgg
	joinOrder []string
	behaviors map[string]*behaviorAgg
	behOrder  []string
	// grouped maps a behavior, row condition and grouping columns to the
	// subquery of a grouped aggregation (grouped.go).
	grouped    map[string]*groupedAgg
	groupOrder []string
	// seg is the segment being compiled, stack the references followed.
	seg   string
	stack []string
	// layered compiles every referenced rule once, into a column of its
	// own (see layers.go), instead of inlining it at each use.
	layered bool
	rows    rowColumns
	refs    refColumns
}

// joinAgg is the grouped subquery of a joined attribute table: one row per
// key with one bool_or column per distinct condition test.
type joinAgg struct {
	alias string
	t     segment.KeyedTable
	exprs []string
	index map[string]int
}

type behaviorAgg struct {
	alias string
	b     *segment.Behavior
	exprs []string
	index map[string]int
}

func (c *compiler) errf(reason Reason, path, format string, a ...any) error {
	return &Error{Reason: reason, Segment: c.seg, Path: path, Msg: fmt.Sprintf(format, a...)}
}

// param returns the marker of a parameter holding v, one per distinct value,
// so that equal aggregations share one column.
func (c *compiler) param(v any) string {
	for _, p := range c.params {
		if sameValue(p.Value, v) {
			return ":" + p.Name
		}
	}
	name := "p" + strconv.Itoa(len(c.params)+1)
	c.params = append(c.params, Param{Name: name, Value: v})
	return ":" + name
}

// commentText makes s safe inside a /* */ comment: a name holding "*/"
// would end the comment (and what follows would be SQL), one holding "/*"
// would open a nested one (Databricks nests them).
func commentText(s string) string { return commentEscaper.Replace(s) }

var commentEscaper = strings.NewReplacer("*/", `*\/`, "/*", `/\*`)

// maskBits is the number of segments one mask column holds: bits 0 to 62,
// so that every mask is a positive BIGINT.
const maskBits = 63

func (c *compiler) statement(segs []Named, preds, limits []string) Statement {
	key := Quote(c.parent.Customers.Key)
	var b strings.Builder
	// One pass: each customer key is one row of the inner query, with one
	// bit per segment in a BIGINT mask (set when any row of the key passes,
	// so that a key that is not unique is still counted once); the outer
	// query counts the set bits. A few bit_or aggregates group the keys
	// more cheaply than one bool_or per segment, and far more cheaply than
	// one COUNT(DISTINCT) per segment, which keeps a set of keys for each.
	b.WriteString("/* population: distinct customer keys per segment; a condition on a missing value (NULL) is false, and not/exclude negate that */\nSELECT\n")
	cols := make([]string, len(segs))
	for i, s := range segs {
		cols[i] = s.Name
		sep := ","
		if i == len(segs)-1 {
			sep = ""
		}
		count := fmt.Sprintf("count_if((%s & %d) <> 0)", maskName(i), int64(1)<<(i%maskBits))
		if lim := limits[i]; lim != "" {
			count = lim[:strings.IndexByte(lim, '%')] + count + lim[strings.IndexByte(lim, '%')+1:]
		}
		fmt.Fprintf(&b, "  %s AS %s%s\n", count, Quote("s"+strconv.Itoa(i+1)), sep)
	}
	b.WriteString("FROM (\n/* one row per customer key: bit i of mask m1 is segment s(i+1), of m2 segment s(i+64), ...; set when any row of the key passes */\nSELECT\n")
	writeMasks(&b, preds)
	if c.layered {
		b.WriteString("  `k`\n")
		b.WriteString(c.layers())
		b.WriteString("GROUP BY `k`\n) AS per_key\n")
		return Statement{SQL: b.String(), Params: c.params, Columns: cols}
	}
	fmt.Fprintf(&b, "  c.%s AS k\n", key)
	b.WriteString(c.from())
	fmt.Fprintf(&b, "WHERE c.%s IS NOT NULL\nGROUP BY c.%s\n) AS per_key\n", key, key)
	return Statement{SQL: b.String(), Params: c.params, Columns: cols}
}

// maskName is the mask column holding the bit of segment i (from 0).
func maskName(i int) string { return Quote("m" + strconv.Itoa(i/maskBits+1)) }

// writeMasks writes one bit_or per maskBits predicates: the OR of each
// predicate's bit where it holds.
func writeMasks(b *strings.Builder, preds []string) {
	for i, p := range preds {
		if i%maskBits == 0 {
			b.WriteString("  bit_or(\n")
		}
		op := "  "
		if i%maskBits != 0 {
			op = "| "
		}
		fmt.Fprintf(b, "    %s(CASE WHEN %s THEN %d ELSE 0 END) /* s%d */\n", op, p, int64(1)<<(i%maskBits), i+1)
		if i%maskBits == maskBits-1 || i == len(preds)-1 {
			fmt.Fprintf(b, "  ) AS %s,\n", maskName(i))
		}
	}
}

// from is the FROM clause of a statement: the Customers table, then one
// grouped subquery per joined table and per behavior.
func (c *compiler) from() string {
	key := Quote(c.parent.Customers.Key)
	var b strings.Builder
	fmt.Fprintf(&b, "FROM %s AS c\n", quoteTable(c.parent.Customers.Table))
	for _, k := range c.joinOrder {
		j := c.joins[k]
		b.WriteString("/* joined attribute table: a condition holds when any row of the profile passes its test, exclude when none does; no row is a missing value (NULL) */\n")
		fmt.Fprintf(&b, "LEFT JOIN (\n  SELECT %s AS k", Quote(j.t.Key))
		for i, e := range j.exprs {
			fmt.Fprintf(&b, ",\n    bool_or(%s) AS %s", e, Quote("a"+strconv.Itoa(i+1)))
		}
		fmt.Fprintf(&b, "\n  FROM %s\n  GROUP BY %s\n) AS %s ON %s.k = c.%s\n", quoteTable(j.t.Table), Quote(j.t.Key), j.alias, j.alias, key)
	}
	for _, name := range c.behOrder {
		a := c.behaviors[name]
		fmt.Fprintf(&b, "LEFT JOIN (\n  SELECT %s AS k", Quote(a.b.Key))
		for i, e := range a.exprs {
			fmt.Fprintf(&b, ",\n    %s AS %s", e, Quote("a"+strconv.Itoa(i+1)))
		}
		fmt.Fprintf(&b, "\n  FROM %s\n  GROUP BY %s\n) AS %s ON %s.k = c.%s\n", quoteTable(a.b.Table), Quote(a.b.Key), a.alias, a.alias, key)
	}
	c.writeGrouped(&b, key)
	return b.String()
}

func (c *compiler) rule(r *segment.Rule, seg string) (string, error) {
	prevSeg := c.seg
	c.seg = seg
	defer func() { c.seg = prevSeg }()
	for _, s := range c.stack {
		if s == seg {
			return "", c.errf(ReasonCycle, "", "references form a cycle: %s -> %s", strings.Join(c.stack, " -> "), seg)
		}
	}
	c.stack = append(c.stack, seg)
	defer func() { c.stack = c.stack[:len(c.stack)-1] }()
	if r == nil || r.IsEmpty() {
		if r != nil && r.Limit != nil && len(c.stack) > 1 {
			return "", c.errf(ReasonUnsupported, "limit", "a reference to a segment with a limit is not counted (which profiles the limit keeps is not known)")
		}
		return "TRUE /* an empty rule matches every profile */", nil
	}
	if r.Limit != nil && len(c.stack) > 1 {
		return "", c.errf(ReasonUnsupported, "limit", "a reference to a segment with a limit is not counted (which profiles the limit keeps is not known)")
	}
	var preds []string
	for i := range r.Conditions {
		cs := &r.Conditions[i]
		path := fmt.Sprintf("conditions[%d]", i)
		p, err := c.set(cs, path)
		if err != nil {
			return "", err
		}
		preds = append(preds, p)
	}
	return c.combine(r.Type, r.Expr, preds, "")
}

func (c *compiler) set(cs *segment.ConditionSet, path string) (string, error) {
	if len(cs.Conditions) == 0 {
		return "TRUE /* an empty condition set */", nil
	}
	var preds []string
	for i := range cs.Conditions {
		p, err := c.condition(&cs.Conditions[i], fmt.Sprintf("%s.conditions[%d]", path, i))
		if err != nil {
			return "", err
		}
		preds = append(preds, p)
	}
	return c.combine(cs.Type, cs.Expr, preds, path)
}

func (c *compiler) combine(typ, expr string, preds []string, path string) (string, error) {
	switch typ {
	case segment.And, "":
		if typ == "" && len(preds) > 1 {
			return "", c.errf(ReasonInvalid, path+".type", "several conditions need a type (And, Or or Composite)")
		}
		return "(" + strings.Join(preds, " AND ") + ")", nil
	case segment.Or:
		return "(" + strings.Join(preds, " OR ") + ")", nil
	case segment.Composite:
		s, err := composite(expr, preds)
		if err != nil {
			return "", c.errf(ReasonInvalid, strings.TrimPrefix(path+".expr", "."), "%v", err)
		}
		return s, nil
	}
	return "", c.errf(ReasonUnsupported, strings.TrimPrefix(path+".type", "."), "combinator %q is not counted", typ)
}

func (c *compiler) condition(cond *segment.Condition, path string) (string, error) {
	if cond.Limit != nil {
		return "", c.errf(ReasonUnsupported, path+".limit", "a limit on a condition is not counted")
	}
	var pred string
	switch cond.Type {
	case segment.ReferenceCondition:
		if cond.Segment == "" {
			return "", c.errf(ReasonUnsupported, path+".id", "a reference by id only (no segment name) cannot be resolved")
		}
		ref, ok := c.opts.Segments[cond.Segment]
		if !ok {
			return "", c.errf(ReasonUnknownName, path+".segment", "segment %q is not known", cond.Segment)
		}
		// A statement with references is layered (referencedSegments).
		p, err := c.refColumn(ref, cond.Segment)
		if err != nil {
			return "", err
		}
		pred = fmt.Sprintf("(/* segment %s */ %s)", commentText(strconv.Quote(cond.Segment)), p)
	case segment.ValueCondition:
		if cond.LeftValue == nil || cond.Operator == nil {
			return "", c.errf(ReasonInvalid, path, "a Value condition needs leftValue and operator")
		}
		var err error
		if cond.IsBehavior() {
			pred, err = c.behaviorCond(cond, path)
		} else {
			pred, err = c.attributeCond(cond, path)
		}
		if err != nil {
			return "", err
		}
	default:
		return "", c.errf(ReasonUnsupported, path+".type", "condition type %q is not counted", cond.Type)
	}
	if cond.Exclude {
		pred = "NOT " + pred + " /* exclude */"
	}
	return pred, nil
}

func (c *compiler) attributeCond(cond *segment.Condition, path string) (string, error) {
	lv := cond.LeftValue
	if len(lv.Extra) > 0 {
		return "", c.errf(ReasonUnsupported, path+".leftValue", "leftValue fields %s are not counted", extraNames(lv.Extra))
	}
	a, ok := c.parent.Attribute(lv.Name)
	if !ok {
		return "", c.errf(ReasonUnknownName, path+".leftValue.name", "attribute %q is not declared by parent segment %q", lv.Name, c.parent.Name)
	}
	if a.Type == "" {
		return "", c.errf(ReasonInvalid, path+".leftValue.name", "attribute %q has no type (fill it from the warehouse first)", lv.Name)
	}
	if a.Join == nil {
		return c.test(c.column("c", a.Column), a.Type, cond.Operator, cond.ArrayMatching, path)
	}
	// A joined table may hold several rows per key. Each condition is a
	// property of the profile, as every other condition is: it is tested on
	// each of the profile's rows and holds when any row passes, so that
	// exclude (and a reference negated) is its exact complement.
	t, err := c.test(Quote(a.Column), a.Type, cond.Operator, cond.ArrayMatching, path)
	if err != nil {
		return "", err
	}
	ref := c.joined(*a.Join, t)
	none := nullTest(a.Type, cond.Operator)
	return fmt.Sprintf("COALESCE(%s, %s /* no joined row: the test of a missing value */)", ref, strings.ToUpper(strconv.FormatBool(none))), nil
}

// joined adds the test t to the grouped subquery of the joined table, once,
// and returns the column holding whether any row of a profile passes it.
func (c *compiler) joined(jt segment.KeyedTable, t string) string {
	k := jt.Table.String() + "\x00" + jt.Key
	j, ok := c.joins[k]
	if !ok {
		j = &joinAgg{alias: "j" + strconv.Itoa(len(c.joinOrder)+1), t: jt, index: map[string]int{}}
		c.joins[k] = j
		c.joinOrder = append(c.joinOrder, k)
	}
	return c.column(j.alias, "a"+strconv.Itoa(addOnce(&j.exprs, j.index, t)+1))
}

// nullTest is the result of test on a missing value: every operator fails
// but IsNull on a scalar, and an array test fails; not inverts that.
func nullTest(typ segment.IONType, op *segment.Operator) bool {
	return (!typ.IsArray() && op.Type == segment.IsNull) != op.Not
}

// test is the two-valued test of expr (of type typ) by op.
func (c *compiler) test(expr string, typ segment.IONType, op *segment.Operator, am *segment.ArrayMatching, path string) (string, error) {
	if typ.IsArray() {
		elem := segment.String
		if typ == segment.NumberArray {
			elem = segment.Number
		}
		if t, ok, err := c.arrayContains(expr, elem, op, am, path); ok || err != nil {
			return t, err
		}
		inner, err := c.operator("x", elem, op, path+".operator")
		if err != nil {
			return "", err
		}
		n := fmt.Sprintf("size(filter(%s, x -> COALESCE(%s, FALSE)))", expr, inner)
		mode := segment.ArrayMatching{Mode: "any"}
		note := ""
		if am != nil {
			mode = *am
		} else {
			note = " /* arrayMatching null on an array: any element */"
		}
		var t string
		switch mode.Mode {
		case "any":
			t = n + " > 0"
		case "all":
			t = fmt.Sprintf("%s = size(%s) /* all: every element, an empty array matches */", n, expr)
		case "atLeast":
			t = n + " >= " + c.param(int64(mode.N))
		case "atMost":
			t = n + " <= " + c.param(int64(mode.N))
		case "exactly":
			t = n + " = " + c.param(int64(mode.N))
		default:
			return "", c.errf(ReasonUnsupported, path+".arrayMatching", "arrayMatching %q is not counted", mode.Mode)
		}
		// A NULL array matches no element test (size(NULL) may be -1).
		return c.negate(fmt.Sprintf("COALESCE(%s IS NOT NULL AND %s, FALSE)%s", expr, t, note), op), nil
	}
	if am != nil {
		return "", c.errf(ReasonTypeMismatch, path+".arrayMatching", "arrayMatching on a %s value", typ)
	}
	inner, err := c.operator(expr, typ, op, path+".operator")
	if err != nil {
		return "", err
	}
	return c.negate("COALESCE("+inner+", FALSE)", op), nil
}

// arrayContains compiles Equal and In on any element of an array (mode
// any, or arrayMatching null) as array_contains of each value: true when an
// element equals it, as the element test is, without a lambda over the
// elements. ok is false for other operators and modes.
func (c *compiler) arrayContains(expr string, elem segment.IONType, op *segment.Operator, am *segment.ArrayMatching, path string) (string, bool, error) {
	if (am != nil && am.Mode != "any") || (op.Type != segment.Equal && op.Type != segment.In) || len(op.Extra) > 0 {
		return "", false, nil
	}
	t := &opTest{c: c, expr: expr, typ: elem, op: op, path: path + ".operator"}
	var vs []string
	var err error
	if op.Type == segment.Equal {
		var v string
		v, err = t.right()
		vs = []string{v}
	} else {
		if len(op.RightValues) == 0 {
			return "", true, c.errf(ReasonInvalid, t.path+".rightValues", "In needs rightValues")
		}
		vs, err = t.rights()
	}
	if err != nil {
		return "", true, err
	}
	ors := make([]string, len(vs))
	for i, v := range vs {
		ors[i] = fmt.Sprintf("array_contains(%s, %s)", expr, v)
	}
	note := ""
	if am == nil {
		note = " /* arrayMatching null on an array: any element */"
	}
	return c.negate("COALESCE("+strings.Join(ors, " OR ")+", FALSE)"+note, op), true, nil
}

func (c *compiler) negate(pred string, op *segment.Operator) string {
	if op.Not {
		return "(NOT " + pred + ")"
	}
	return pred
}

// operator is the three-valued SQL test of expr by op, without op.Not.
func (c *compiler) operator(expr string, typ segment.IONType, op *segment.Operator, path string) (string, error) {
	if len(op.Extra) > 0 {
		return "", c.errf(ReasonUnsupported, path, "operator fields %s are not counted", extraNames(op.Extra))
	}
	t := &opTest{c: c, expr: expr, typ: typ, op: op, path: path}
	switch op.Type {
	case segment.Equal:
		return t.compare("=")
	case segment.Greater:
		return t.compare(">")
	case segment.Less:
		return t.compare("<")
	case segment.GreaterEqual:
		return t.compare(">=")
	case segment.LessEqual:
		return t.compare("<=")
	case segment.Between:
		return t.between()
	case segment.In:
		return t.in()
	case segment.Contain:
		return t.strings(func(v string) string { return fmt.Sprintf("instr(%s, %s) > 0 /* case-sensitive */", expr, v) })
	case segment.StartWith:
		return t.strings(func(v string) string { return fmt.Sprintf("startswith(%s, %s)", expr, v) })
	case segment.EndWith:
		return t.strings(func(v string) string { return fmt.Sprintf("endswith(%s, %s)", expr, v) })
	case segment.Regexp:
		return t.regexp()
	case segment.IsNull:
		return expr + " IS NULL", nil
	case segment.TimeWithinPast, segment.TimeWithinNext, segment.TimeToday, segment.TimeThis, segment.TimeNext, segment.TimeRange, segment.TimeInBetweenNext:
		return c.timeOp(expr, typ, op, path)
	}
	return "", c.errf(ReasonUnsupported, path+".type", "operator %q is not counted", op.Type)
}

// opTest compiles one operator applied to expr, of type typ.
type opTest struct {
	c    *compiler
	expr string
	typ  segment.IONType
	op   *segment.Operator
	path string
}

// right returns the operator's one right value as a parameter.
func (t *opTest) right() (string, error) {
	if t.op.RightValue == nil {
		return "", t.c.errf(ReasonInvalid, t.path+".rightValue", "%s needs rightValue", t.op.Type)
	}
	return t.c.value(*t.op.RightValue, t.typ, t.path+".rightValue")
}

// rights returns the operator's right values as parameters.
func (t *opTest) rights() ([]string, error) {
	var vs []string
	for i, rv := range t.op.RightValues {
		v, err := t.c.value(rv, t.typ, fmt.Sprintf("%s.rightValues[%d]", t.path, i))
		if err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	return vs, nil
}

func (t *opTest) compare(sym string) (string, error) {
	v, err := t.right()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s %s %s", t.expr, sym, v), nil
}

func (t *opTest) between() (string, error) {
	if t.op.MinValue == nil || t.op.MaxValue == nil {
		return "", t.c.errf(ReasonInvalid, t.path, "Between needs minValue and maxValue")
	}
	lo, err := t.c.value(*t.op.MinValue, t.typ, t.path+".minValue")
	if err != nil {
		return "", err
	}
	hi, err := t.c.value(*t.op.MaxValue, t.typ, t.path+".maxValue")
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s BETWEEN %s AND %s /* bounds included */", t.expr, lo, hi), nil
}

func (t *opTest) in() (string, error) {
	if len(t.op.RightValues) == 0 {
		return "", t.c.errf(ReasonInvalid, t.path+".rightValues", "In needs rightValues")
	}
	vs, err := t.rights()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s IN (%s)", t.expr, strings.Join(vs, ", ")), nil
}

// strings compiles a string operator: f of any right value holds.
func (t *opTest) strings(f func(v string) string) (string, error) {
	if t.typ != segment.String {
		return "", t.c.errf(ReasonTypeMismatch, t.path+".type", "%s applies to strings, not %s", t.op.Type, t.typ)
	}
	if len(t.op.RightValues) == 0 {
		return "", t.c.errf(ReasonInvalid, t.path+".rightValues", "%s needs rightValues", t.op.Type)
	}
	vs, err := t.rights()
	if err != nil {
		return "", err
	}
	ors := make([]string, len(vs))
	for i, v := range vs {
		ors[i] = f(v)
	}
	return "(" + strings.Join(ors, " OR ") + ")", nil
}

func (t *opTest) regexp() (string, error) {
	if t.typ != segment.String {
		return "", t.c.errf(ReasonTypeMismatch, t.path+".type", "Regexp applies to strings, not %s", t.typ)
	}
	v, err := t.right()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("regexp_like(%s, %s) /* matches anywhere in the value */", t.expr, v), nil
}

func (c *compiler) timeOp(expr string, typ segment.IONType, op *segment.Operator, path string) (string, error) {
	if typ != segment.Timestamp && typ != segment.Date {
		return "", c.errf(ReasonTypeMismatch, path+".type", "%s applies to timestamps and dates, not %s", op.Type, typ)
	}
	var from, to time.Time
	note := ""
	switch op.Type {
	case segment.TimeWithinPast, segment.TimeWithinNext:
		n, err := strconv.Atoi(op.Value)
		if err != nil || n < 0 {
			return "", c.errf(ReasonInvalid, path+".value", "value %q is not a count", op.Value)
		}
		d, err := c.shift(c.now, op.Unit, n, path+".unit")
		if err != nil {
			return "", err
		}
		if op.Type == segment.TimeWithinPast {
			from, to = d[1], c.now
		} else {
			from, to = c.now, d[0]
		}
		note = fmt.Sprintf("/* %s %d %s: from now back/forward, calendar units in %s, both ends included */", op.Type, n, op.Unit, c.loc)
		return c.timeBetween(expr, typ, from, to, true, note), nil
	case segment.TimeRange:
		if op.From == nil || op.From.Last == nil || (op.Reverse != nil && *op.Reverse) || len(op.Duration) == 0 {
			return "", c.errf(ReasonUnsupported, path, "TimeRange is counted only as {from: {last, unit}, duration, reverse: false}")
		}
		d, err := c.shift(c.now, op.From.Unit, *op.From.Last, path+".from.unit")
		if err != nil {
			return "", err
		}
		from, to = d[1], d[1]
		for _, u := range segment.TimeUnits {
			if n, ok := op.Duration[u]; ok {
				d, err := c.shift(to, u, n, path+".duration."+u)
				if err != nil {
					return "", err
				}
				to = d[0]
			}
		}
		note = fmt.Sprintf("/* TimeRange: from now back %d %s, for the duration, end excluded, in %s */", *op.From.Last, op.From.Unit, c.loc)
	case segment.TimeInBetweenNext:
		if op.From == nil || op.To == nil || op.From.Next == nil || op.To.Next == nil {
			return "", c.errf(ReasonUnsupported, path, "TimeInBetweenNext is counted only as {from: {next, unit}, to: {next, unit}}")
		}
		f, err := c.shift(c.now, op.From.Unit, *op.From.Next, path+".from.unit")
		if err != nil {
			return "", err
		}
		t, err := c.shift(c.now, op.To.Unit, *op.To.Next, path+".to.unit")
		if err != nil {
			return "", err
		}
		from, to = f[0], t[0]
		note = fmt.Sprintf("/* TimeInBetweenNext: from now forward, both ends included, in %s; the value itself, not its anniversary */", c.loc)
		return c.timeBetween(expr, typ, from, to, true, note), nil
	case segment.TimeToday:
		from = c.startOf(c.now, "day")
		to = from.AddDate(0, 0, 1)
		note = fmt.Sprintf("/* today in %s */", c.loc)
	case segment.TimeThis, segment.TimeNext:
		if op.From == nil || op.From.Last != nil || op.From.Next != nil {
			return "", c.errf(ReasonUnsupported, path+".from", "%s needs from: {unit}", op.Type)
		}
		from = c.startOf(c.now, op.From.Unit)
		if from.IsZero() {
			return "", c.errf(ReasonInvalid, path+".from.unit", "unknown unit %q", op.From.Unit)
		}
		d, _ := c.shift(from, op.From.Unit, 1, "")
		to = d[0]
		if op.Type == segment.TimeNext {
			from = to
			d, _ = c.shift(from, op.From.Unit, 1, "")
			to = d[0]
		}
		note = fmt.Sprintf("/* %s %s: the calendar %s in %s */", op.Type, op.From.Unit, op.From.Unit, c.loc)
	}
	return c.timeBetween(expr, typ, from, to, false, note), nil
}

func (c *compiler) timeBetween(expr string, typ segment.IONType, from, to time.Time, inclusive bool, note string) string {
	lt := "<"
	if inclusive {
		lt = "<="
	}
	if typ == segment.Date {
		// A date is the local calendar day in the parent's time zone.
		f, t := c.dateParam(from), c.dateParam(to)
		if !inclusive {
			return fmt.Sprintf("(%s >= %s AND %s < %s) %s", expr, f, expr, t, note)
		}
		return fmt.Sprintf("(%s >= %s AND %s <= %s) %s", expr, f, expr, t, note)
	}
	return fmt.Sprintf("(%s >= %s AND %s %s %s) %s", expr, c.param(from.UTC()), expr, lt, c.param(to.UTC()), note)
}

// dateParam is the calendar day of t (in t's location) as a DATE: a
// "2006-01-02" parameter cast to DATE, so that a DATE column is compared
// with a DATE, as the same day whatever the session time zone, and
// without converting the column on every row.
func (c *compiler) dateParam(t time.Time) string {
	return "CAST(" + c.param(t.Format(time.DateOnly)) + " AS DATE)"
}

// shift returns t moved forward and backward by n units, in c.loc.
func (c *compiler) shift(t time.Time, unit string, n int, path string) ([2]time.Time, error) {
	t = t.In(c.loc)
	var fwd, back time.Time
	switch unit {
	case "year":
		fwd, back = t.AddDate(n, 0, 0), t.AddDate(-n, 0, 0)
	case "quarter":
		fwd, back = t.AddDate(0, 3*n, 0), t.AddDate(0, -3*n, 0)
	case "month":
		fwd, back = t.AddDate(0, n, 0), t.AddDate(0, -n, 0)
	case "week":
		fwd, back = t.AddDate(0, 0, 7*n), t.AddDate(0, 0, -7*n)
	case "day":
		fwd, back = t.AddDate(0, 0, n), t.AddDate(0, 0, -n)
	case "hour":
		fwd, back = t.Add(time.Duration(n)*time.Hour), t.Add(-time.Duration(n)*time.Hour)
	case "minute":
		fwd, back = t.Add(time.Duration(n)*time.Minute), t.Add(-time.Duration(n)*time.Minute)
	case "second":
		fwd, back = t.Add(time.Duration(n)*time.Second), t.Add(-time.Duration(n)*time.Second)
	default:
		return [2]time.Time{}, c.errf(ReasonInvalid, path, "unknown unit %q", unit)
	}
	return [2]time.Time{fwd, back}, nil
}

// startOf is the start of the calendar unit holding t, in c.loc. Weeks
// start on Monday.
func (c *compiler) startOf(t time.Time, unit string) time.Time {
	t = t.In(c.loc)
	y, m, d := t.Date()
	switch unit {
	case "year":
		return time.Date(y, 1, 1, 0, 0, 0, 0, c.loc)
	case "quarter":
		return time.Date(y, (m-1)/3*3+1, 1, 0, 0, 0, 0, c.loc)
	case "month":
		return time.Date(y, m, 1, 0, 0, 0, 0, c.loc)
	case "week":
		wd := (int(t.Weekday()) + 6) % 7
		return time.Date(y, m, d-wd, 0, 0, 0, 0, c.loc)
	case "day":
		return time.Date(y, m, d, 0, 0, 0, 0, c.loc)
	case "hour":
		return t.Truncate(time.Hour)
	case "minute":
		return t.Truncate(time.Minute)
	case "second":
		return t.Truncate(time.Second)
	}
	return time.Time{}
}

// value converts a rule operand to a parameter of the column type.
func (c *compiler) value(v segment.Value, typ segment.IONType, path string) (string, error) {
	bad := func() (string, error) {
		return "", c.errf(ReasonTypeMismatch, path, "%s does not fit a %s column", v, typ)
	}
	switch typ {
	case segment.String:
		if v.Kind != segment.StringValue {
			return bad()
		}
		return c.param(v.Str), nil
	case segment.Number:
		if v.Kind != segment.NumberValue {
			return bad()
		}
		f, err := strconv.ParseFloat(v.Num.String(), 64)
		if err != nil || math.IsInf(f, 0) {
			return bad()
		}
		return c.param(f), nil
	case segment.Boolean:
		if v.Kind != segment.BoolValue {
			return bad()
		}
		return c.param(v.Bool), nil
	case segment.Timestamp, segment.Date:
		if v.Kind == segment.RelativeValue {
			d, err := c.shift(c.now, v.Unit, v.Last, path+".unit")
			if err != nil {
				return "", err
			}
			if typ == segment.Date {
				return c.dateParam(d[1]) + " /* last n units: now moved back, in the parent's time zone */", nil
			}
			return c.param(d[1].UTC()) + " /* last n units: now moved back */", nil
		}
		if v.Kind != segment.TimestampValue && v.Kind != segment.StringValue {
			return bad()
		}
		t, err := c.parseTime(v.Str)
		if err != nil {
			return bad()
		}
		if typ == segment.Date {
			return c.dateParam(t), nil
		}
		return c.param(t.UTC()), nil
	}
	return "", c.errf(ReasonUnsupported, path, "values of type %s are not counted", typ)
}

// parseTime reads an RFC 3339 time, or a date or a local time without offset
// in the parent's time zone.
func (c *compiler) parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, c.loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not a time: %q", s)
}

func extraNames[T any](m map[string]T) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

// limit returns the count wrapped by a root limit, "%" standing for the
// count. Counting needs no order: a limit keeps min(number, count)
// profiles, a percent limit that share of the matching profiles.
func (c *compiler) limit(l *segment.Limit) (string, error) {
	if len(l.Extra) > 0 {
		return "", c.errf(ReasonUnsupported, "limit", "limit fields %s are not counted", extraNames(l.Extra))
	}
	switch l.Type {
	case "Count":
		n, err := strconv.ParseInt(l.Number.String(), 10, 64)
		if err != nil || n < 0 {
			return "", c.errf(ReasonInvalid, "limit.number", "a Count limit needs a whole number, not %q", l.Number)
		}
		return "least(%, " + c.param(n) + ") /* limit Count: at most number profiles, whatever the order */", nil
	case "Percent":
		f, err := strconv.ParseFloat(l.Number.String(), 64)
		if err != nil || f < 0 || f > 100 {
			return "", c.errf(ReasonInvalid, "limit.number", "a Percent limit needs 0..100, not %q", l.Number)
		}
		return "CAST(floor(% * " + c.param(f) + " / 100) AS BIGINT) /* limit Percent: that share of the matching profiles, rounded down */", nil
	}
	return "", c.errf(ReasonUnsupported, "limit.type", "limit type %q is not counted", l.Type)
}

func sameValue(a, b any) bool {
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Equal(tb)
	}
	return a == b
}
