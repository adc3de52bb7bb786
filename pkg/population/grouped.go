package population

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// A grouped aggregation (groupingColumns, groupBy in CUE) is computed once
// per group of a profile's behavior rows: the rows that pass the filter and
// the window, with the same values of the grouping columns (NULL is a value
// of its own, as GROUP BY makes it). Treasure Data does not document what
// such a condition means for a profile; the choice made here is that it
// holds when ANY group passes the test, so that a profile with no rows has
// no group and does not match (exclude then matches it). The SQL says so.
//
//	LEFT JOIN (
//	  SELECT `k`, bool_or(<test of `v1`>) AS `a1`, ...
//	  FROM (SELECT key AS `k`, <aggregate> AS `v1`, ... FROM behavior
//	        WHERE <filter and window> GROUP BY key, <grouping columns>)
//	  GROUP BY `k`) AS g1 ON g1.k = c.key

// groupedAgg is the subquery of one behavior, one row condition and one
// list of grouping columns: the aggregates of each group, and per key
// whether any group passes each test.
type groupedAgg struct {
	alias string
	b     *segment.Behavior
	row   string
	cols  []string
	vals  []string
	vidx  map[string]int
	tests []string
	tidx  map[string]int
}

// groupedCond compiles a behavior condition with grouping columns; row is
// the condition on the rows (filter and window).
func (c *compiler) groupedCond(cond *segment.Condition, b *segment.Behavior, row, path string) (string, error) {
	ag := cond.LeftValue.Aggregation
	cols := make([]string, len(ag.GroupingColumns))
	for i, name := range ag.GroupingColumns {
		col, ok := b.Column(name)
		if !ok {
			return "", c.errf(ReasonUnknownName, fmt.Sprintf("%s.leftValue.aggregation.groupingColumns[%d]", path, i), "behavior %q has no column %q", b.Name, name)
		}
		if col.Type.IsArray() {
			return "", c.errf(ReasonUnsupported, fmt.Sprintf("%s.leftValue.aggregation.groupingColumns[%d]", path, i), "grouping by a %s column is not counted", col.Type)
		}
		cols[i] = Quote(col.SourceColumn())
	}
	// The rows are chosen before grouping (WHERE), so a row the filter
	// leaves out makes no group.
	expr, typ, err := c.aggregationSQL(b, ag, "TRUE", path)
	if err != nil {
		return "", err
	}
	g := c.groupedFor(b, row, cols)
	v := g.value(expr)
	t, err := c.test(v, typ, cond.Operator, cond.ArrayMatching, path)
	if err != nil {
		return "", err
	}
	ref := c.column(g.alias, "a"+strconv.Itoa(g.test(t)+1))
	return fmt.Sprintf("COALESCE(%s, FALSE /* grouped by %s: holds when any group of the rows of the profile passes; no row, no group */)", ref, commentText(strings.Join(ag.GroupingColumns, ", "))), nil
}

// groupedFor returns the grouped subquery of b, row and cols, adding it
// once.
func (c *compiler) groupedFor(b *segment.Behavior, row string, cols []string) *groupedAgg {
	k := b.Name + "\x00" + row + "\x00" + strings.Join(cols, "\x00")
	if g, ok := c.grouped[k]; ok {
		return g
	}
	g := &groupedAgg{alias: "g" + strconv.Itoa(len(c.groupOrder)+1), b: b, row: row, cols: cols, vidx: map[string]int{}, tidx: map[string]int{}}
	if c.grouped == nil {
		c.grouped = map[string]*groupedAgg{}
	}
	c.grouped[k] = g
	c.groupOrder = append(c.groupOrder, k)
	return g
}

// value adds the aggregate expr to the per-group subquery, once, and
// returns its column.
func (g *groupedAgg) value(expr string) string {
	return Quote("v" + strconv.Itoa(addOnce(&g.vals, g.vidx, expr)+1))
}

// test adds the test t of a group to the per-key subquery, once, and
// returns its index.
func (g *groupedAgg) test(t string) int { return addOnce(&g.tests, g.tidx, t) }

// addOnce appends s to list unless index has it, and returns its index.
func addOnce(list *[]string, index map[string]int, s string) int {
	i, ok := index[s]
	if !ok {
		i = len(*list)
		index[s] = i
		*list = append(*list, s)
	}
	return i
}

// writeGrouped writes the LEFT JOIN of each grouped subquery.
func (c *compiler) writeGrouped(b *strings.Builder, key string) {
	for _, k := range c.groupOrder {
		g := c.grouped[k]
		fmt.Fprintf(b, "/* behavior %s grouped by %s: one row per group of its rows, then whether any group of the key passes each test */\n", commentText(strconv.Quote(g.b.Name)), commentText(strings.Join(g.cols, ", ")))
		b.WriteString("LEFT JOIN (\n  SELECT `k`")
		for i, t := range g.tests {
			fmt.Fprintf(b, ",\n    bool_or(%s) AS %s", t, Quote("a"+strconv.Itoa(i+1)))
		}
		fmt.Fprintf(b, "\n  FROM (\n    SELECT %s AS `k`", Quote(g.b.Key))
		for i, v := range g.vals {
			fmt.Fprintf(b, ",\n      %s AS %s", v, Quote("v"+strconv.Itoa(i+1)))
		}
		fmt.Fprintf(b, "\n    FROM %s\n", quoteTable(g.b.Table))
		if g.row != "TRUE" {
			fmt.Fprintf(b, "    WHERE %s\n", g.row)
		}
		fmt.Fprintf(b, "    GROUP BY %s, %s\n  ) AS %s_groups\n  GROUP BY `k`\n) AS %s ON %s.k = c.%s\n", Quote(g.b.Key), strings.Join(g.cols, ", "), g.alias, g.alias, g.alias, key)
	}
}
