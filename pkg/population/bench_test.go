//go:build cgo

package population

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin/dbxtest"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// benchRows is the number of customer rows of the benchmarks
// (POPULATION_BENCH_ROWS, default 1,000,000). Every other table has as
// many rows, the joined scores table 3/4 of them.
func benchRows(b *testing.B) int {
	n := 1_000_000
	if s := os.Getenv("POPULATION_BENCH_ROWS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1200 {
			b.Fatalf("POPULATION_BENCH_ROWS=%q: want a number of at least 1200", s)
		}
		n = v
	}
	return n
}

// benchWarehouse serves the population sample scaled to rows customers.
func benchWarehouse(b *testing.B, rows int) *sql.DB {
	src, err := os.ReadFile(filepath.Join("..", "..", "testdata", "warehouse", "population.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	y := regexp.MustCompile(`max: 1200\}`).ReplaceAllString(string(src), fmt.Sprintf("max: %d}", rows))
	y = regexp.MustCompile(`generate: \{rows: ([0-9]+),`).ReplaceAllStringFunc(y, func(m string) string {
		n, _ := strconv.Atoi(regexp.MustCompile(`[0-9]+`).FindString(m))
		switch n {
		case 1200:
			n = rows
		case 900:
			n = rows * 3 / 4
		default:
			n = rows
		}
		return fmt.Sprintf("generate: {rows: %d,", n)
	})
	path := filepath.Join(b.TempDir(), "population.yaml")
	if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
		b.Fatal(err)
	}
	_, ep := dbxtest.Start(b, path)
	db, err := sql.Open("databricks", ep.DSN("dapi-treasure-sp"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func runCount(b *testing.B, db *sql.DB, st Statement) {
	args := make([]any, len(st.Params))
	for i, p := range st.Params {
		args[i] = sql.Named(p.Name, p.Value)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	got := make([]int64, len(st.Columns))
	ptrs := make([]any, len(got))
	for i := range got {
		ptrs[i] = &got[i]
	}
	if err := db.QueryRowContext(ctx, st.SQL, args...).Scan(ptrs...); err != nil {
		b.Fatalf("%v\n%s", err, st.SQL)
	}
}

// BenchmarkPopulation counts 1, 10 and 100 changed segments (random rules
// over every attribute and behavior) and the example repository's
// segments in one statement each, against two yardsticks over the same
// tables: a plain COUNT(*) of each (which an engine may answer from table
// metadata), and a scan of each that reads every column the rules may read.
// bench/population.sh runs it.
func BenchmarkPopulation(b *testing.B) {
	rows := benchRows(b)
	db := benchWarehouse(b, rows)
	p, segs := demo(b)
	p = withJoin(p)
	opts := demoOptions(segs)
	countStar, scan := yardsticks(p)
	for i, sts := range [][]Statement{countStar, scan} {
		b.Run([]string{"count_star", "scan_columns"}[i], func(b *testing.B) {
			for b.Loop() {
				for _, st := range sts {
					runCount(b, db, st)
				}
			}
			b.ReportMetric(float64(len(sts)), "statements/op")
		})
	}
	for _, n := range []int{1, 10, 100} {
		st := randomBatch(b, p, opts, n)
		b.Run(fmt.Sprintf("segments_%d", n), func(b *testing.B) {
			for b.Loop() {
				runCount(b, db, st)
			}
			b.ReportMetric(1, "statements/op")
		})
	}
	var named []Named
	for i := range segs {
		if _, err := Compile(p, &segs[i].Rule, opts); err == nil {
			named = append(named, Named{Name: segs[i].Name, Rule: &segs[i].Rule})
		}
	}
	st, err := CompileBatch(p, named, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("retail_%d", len(named)), func(b *testing.B) {
		for b.Loop() {
			runCount(b, db, st)
		}
		b.ReportMetric(1, "statements/op")
	})
}

// randomBatch compiles n random rules (the property test's generator,
// seeded with n) into one statement.
func randomBatch(b *testing.B, p *segment.Parent, opts Options, n int) Statement {
	g := newGen(p, uint64(n))
	var named []Named
	o := opts
	o.Segments = map[string]*segment.Rule{}
	for k, v := range opts.Segments {
		o.Segments[k] = v
	}
	for i := range n {
		r := g.rule(named)
		name := fmt.Sprintf("r%d", i)
		o.Segments[name] = r
		named = append(named, Named{Name: name, Rule: r})
	}
	st, err := CompileBatch(p, named, o)
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// yardsticks returns, for each table the parent's rules read (the
// Customers table, the joined attribute table, each behavior's), a
// COUNT(*) of it, and a scan of it: SELECT COUNT(*), max(c) for every
// column of the table the parent declares (key, time, attribute or
// behavior columns), so that every value a rule may test is read once.
func yardsticks(p *segment.Parent) (countStar, scan []Statement) {
	type table struct {
		name string
		cols []string
	}
	var tables []*table
	byName := map[string]*table{}
	add := func(t segment.Table, cols ...string) {
		name := quoteTable(t)
		tb, ok := byName[name]
		if !ok {
			tb = &table{name: name}
			byName[name] = tb
			tables = append(tables, tb)
		}
		for _, c := range cols {
			if c != "" && !slices.Contains(tb.cols, c) {
				tb.cols = append(tb.cols, c)
			}
		}
	}
	add(p.Customers.Table, p.Customers.Key)
	for _, a := range p.Attributes {
		if a.Join != nil {
			add(a.Join.Table, a.Join.Key, a.Column)
		} else {
			add(p.Customers.Table, a.Column)
		}
	}
	for _, bh := range p.Behaviors {
		add(bh.Table, bh.Key, bh.Time)
		for _, c := range bh.Columns {
			add(bh.Table, c.SourceColumn())
		}
	}
	for _, t := range tables {
		countStar = append(countStar, Statement{SQL: "SELECT COUNT(*) FROM " + t.name, Columns: []string{"n"}})
		sel := []string{"COUNT(*)"}
		for _, c := range t.cols {
			sel = append(sel, "CAST(max("+Quote(c)+") IS NOT NULL AS BIGINT)")
		}
		scan = append(scan, Statement{SQL: "SELECT " + strings.Join(sel, ", ") + " FROM " + t.name, Columns: sel})
	}
	return countStar, scan
}
