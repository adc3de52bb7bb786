package population

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// A statement whose rules reference other segments is layered: inlining a
// referenced rule at each use repeats it (a chain of references repeats the
// first rule once per link, and more when rules reference several others),
// and the warehouse evaluates every copy on every row. Layered, each
// referenced rule is compiled once into a column r1, r2, ... of a subquery
// over the rows, and each use reads that column:
//
//	rows:     SELECT c.`key` AS `k`, c.`ltv` AS `c_ltv`, b1.`a1` AS `b1_a1` ...
//	          FROM customers AS c LEFT JOIN (grouped behaviors) ...
//	level 1:  SELECT *, <rule of a segment that references none> AS `r1` FROM (rows)
//	level 2:  SELECT *, <rule reading `r1`> AS `r2` FROM (level 1)
//
// A reference is evaluated on the same row as the inlined rule was, so the
// counts are the same; only the work differs.

// rowColumns are the columns of the rows subquery: the qualified column
// each reads (c.`ltv`, b1.`a1`) and its name there (`c_ltv`, `b1_a1`).
type rowColumns struct {
	names map[string]string
	order []string
}

// refColumns are the referenced rules, each compiled once.
type refColumns struct {
	byName map[string]*refColumn
	order  []*refColumn
	// level is the highest level of the references read by the rule
	// being compiled.
	level int
}

type refColumn struct {
	col   string
	expr  string
	level int
}

// column returns how a rule reads column name of the table alias ("c",
// "b1", "j1"): qualified in a flat statement, by its name in the rows
// subquery in a layered one.
func (c *compiler) column(alias, name string) string {
	qualified := alias + "." + Quote(name)
	if !c.layered {
		return qualified
	}
	if c.rows.names == nil {
		c.rows.names = map[string]string{}
	}
	col, ok := c.rows.names[qualified]
	if !ok {
		col = Quote(alias + "_" + name)
		c.rows.names[qualified] = col
		c.rows.order = append(c.rows.order, qualified)
	}
	return col
}

// refColumn compiles the rule of the referenced segment name once and
// returns the column that holds it.
func (c *compiler) refColumn(r *segment.Rule, name string) (string, error) {
	if ref, ok := c.refs.byName[name]; ok {
		c.refs.level = max(c.refs.level, ref.level)
		return ref.col, nil
	}
	outer := c.refs.level
	c.refs.level = 0
	expr, err := c.rule(r, name)
	inner := c.refs.level
	c.refs.level = outer
	if err != nil {
		return "", err
	}
	if c.refs.byName == nil {
		c.refs.byName = map[string]*refColumn{}
	}
	ref := &refColumn{col: Quote("r" + strconv.Itoa(len(c.refs.order)+1)), expr: expr, level: inner + 1}
	c.refs.byName[name] = ref
	c.refs.order = append(c.refs.order, ref)
	c.refs.level = max(c.refs.level, ref.level)
	return ref.col, nil
}

// layers is the FROM clause of a layered statement: the rows, then one
// subquery per level of references; its rows have the customer key as `k`.
func (c *compiler) layers() string {
	key := Quote(c.parent.Customers.Key)
	var b strings.Builder
	b.WriteString("/* the rows: each customer row with its grouped joined tables and behaviors */\nSELECT c." + key + " AS `k`")
	for _, q := range c.rows.order {
		fmt.Fprintf(&b, ", %s AS %s", q, c.rows.names[q])
	}
	b.WriteString("\n" + c.from())
	fmt.Fprintf(&b, "WHERE c.%s IS NOT NULL\n", key)
	sql := b.String()
	levels := 0
	for _, r := range c.refs.order {
		levels = max(levels, r.level)
	}
	for l := 1; l <= levels; l++ {
		var lb strings.Builder
		fmt.Fprintf(&lb, "/* referenced segments, each computed once per row (level %d) */\nSELECT *", l)
		for _, r := range c.refs.order {
			if r.level == l {
				fmt.Fprintf(&lb, ",\n  %s AS %s", r.expr, r.col)
			}
		}
		fmt.Fprintf(&lb, "\nFROM (\n%s) AS `l%d`\n", sql, l-1)
		sql = lb.String()
	}
	return fmt.Sprintf("FROM (\n%s) AS `per_row`\n", sql)
}
