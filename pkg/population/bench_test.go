//go:build cgo

package population

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
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
// over every attribute and behavior) in one statement, against a plain
// COUNT(*) of the same tables. bench/population.sh runs it.
func BenchmarkPopulation(b *testing.B) {
	rows := benchRows(b)
	db := benchWarehouse(b, rows)
	p, segs := demo(b)
	p = withJoin(p)
	opts := demoOptions(segs)
	var tables []string
	tables = append(tables, quoteTable(p.Customers.Table))
	for _, a := range p.Attributes {
		if a.Join != nil {
			tables = append(tables, quoteTable(a.Join.Table))
			break
		}
	}
	for _, bh := range p.Behaviors {
		tables = append(tables, quoteTable(bh.Table))
	}
	b.Run("count_star", func(b *testing.B) {
		for b.Loop() {
			for _, t := range tables {
				runCount(b, db, Statement{SQL: "SELECT COUNT(*) FROM " + t, Columns: []string{"n"}})
			}
		}
		b.ReportMetric(float64(len(tables)), "statements/op")
	})
	for _, n := range []int{1, 10, 100} {
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
		b.Run(fmt.Sprintf("segments_%d", n), func(b *testing.B) {
			for b.Loop() {
				runCount(b, db, st)
			}
			b.ReportMetric(1, "statements/op")
		})
	}
}
