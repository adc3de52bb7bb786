//go:build cgo

package population

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/databricks/databricks-sql-go"

	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin/dbxtest"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

type standin struct {
	db      *sql.DB
	sample  *sample
	parent  *segment.Parent
	demo    []segment.Segment
	options Options
}

// startStandin serves the population sample data and reads it back, through
// the driver, into memory for the evaluator.
func startStandin(t *testing.T) *standin {
	t.Helper()
	_, ep := dbxtest.Start(t, filepath.Join("..", "..", "testdata", "warehouse", "population.yaml"))
	db, err := sql.Open("databricks", ep.DSN("dapi-treasure-sp"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p, segs := demo(t)
	p = withJoin(p)
	s := &standin{db: db, parent: p, demo: segs, options: demoOptions(segs)}
	s.sample = &sample{parent: p, joined: map[string]map[string][]row{}, behaviors: map[string]map[string][]row{}}
	types := map[string]segment.IONType{}
	for _, a := range p.Attributes {
		types[a.Column] = a.Type
	}
	s.sample.customers = s.rows(t, p.Customers.Table, types)
	for _, a := range p.Attributes {
		if a.Join != nil && s.sample.joined[a.Join.Table.Table] == nil {
			s.sample.joined[a.Join.Table.Table] = byKey(s.rows(t, a.Join.Table, types), a.Join.Key)
		}
	}
	for _, b := range p.Behaviors {
		bt := map[string]segment.IONType{}
		for _, c := range b.Columns {
			bt[c.SourceColumn()] = c.Type
		}
		s.sample.behaviors[b.Name] = byKey(s.rows(t, b.Table, bt), b.Key)
	}
	return s
}

func byKey(rows []row, key string) map[string][]row {
	m := map[string][]row{}
	for _, r := range rows {
		if k, ok := r[key].(string); ok {
			m[k] = append(m[k], r)
		}
	}
	return m
}

func (s *standin) rows(t *testing.T, tbl segment.Table, types map[string]segment.IONType) []row {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rs, err := s.db.QueryContext(ctx, "SELECT * FROM "+quoteTable(tbl))
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	cols, _ := rs.Columns()
	var out []row
	for rs.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		r := row{}
		for i, c := range cols {
			r[c] = normalize(t, vals[i], types[c])
		}
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// normalize converts a scanned value to the evaluator's representation.
func normalize(t *testing.T, v any, typ segment.IONType) any {
	switch x := v.(type) {
	case nil:
		return nil
	case []byte:
		return normalize(t, string(x), typ)
	case int32:
		return normalize(t, int64(x), typ)
	case int64:
		if typ == segment.Number {
			return float64(x)
		}
		return x
	case float32:
		return float64(x)
	case string:
		switch typ {
		case segment.Number:
			f, err := strconv.ParseFloat(x, 64)
			if err != nil {
				t.Fatalf("number %q: %v", x, err)
			}
			return f
		case segment.StringArray, segment.NumberArray:
			var list []any
			if err := json.Unmarshal([]byte(x), &list); err != nil {
				t.Fatalf("array %q: %v", x, err)
			}
			return list
		}
	case time.Time:
		if typ == segment.Date {
			return time.Date(x.Year(), x.Month(), x.Day(), 0, 0, 0, 0, time.UTC)
		}
		return x.UTC()
	}
	return v
}

// count runs st and returns its counts.
func (s *standin) count(t *testing.T, st Statement) []int64 {
	t.Helper()
	args := make([]any, len(st.Params))
	for i, p := range st.Params {
		args[i] = sql.Named(p.Name, p.Value)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	got := make([]int64, len(st.Columns))
	ptrs := make([]any, len(got))
	for i := range got {
		ptrs[i] = &got[i]
	}
	if err := s.db.QueryRowContext(ctx, st.SQL, args...).Scan(ptrs...); err != nil {
		t.Fatalf("%v\n%s", err, st.SQL)
	}
	return got
}

func (s *standin) evaluator() *evaluator {
	loc, _ := time.LoadLocation(s.parent.Timezone)
	return &evaluator{s: s.sample, now: testNow, loc: loc, rules: s.options.Segments, timeKinds: s.options.TimeKinds}
}

// TestDemoSegmentsAgree counts every demo segment on the stand-in in one
// statement and checks each against the evaluator, and that the sample data
// makes each match some but not all customers.
func TestDemoSegmentsAgree(t *testing.T) {
	s := startStandin(t)
	var named []Named
	for i := range s.demo {
		seg := &s.demo[i]
		if _, err := Compile(s.parent, &seg.Rule, s.options); err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("%s: untyped error %v", seg.Name, err)
			}
			t.Logf("%s: not counted: %v", seg.Name, err)
			continue
		}
		named = append(named, Named{Name: seg.Name, Rule: &seg.Rule})
	}
	st, err := CompileBatch(s.parent, named, s.options)
	if err != nil {
		t.Fatal(err)
	}
	got := s.count(t, st)
	ev := s.evaluator()
	total := int64(len(s.sample.customers))
	// Literal birth-date operators match no one: birth dates lie in the past.
	// Top Spenders (90-day spend above 2500) needs denser order rows than the
	// sample holds.
	literalZero := map[string]bool{"Birthday Next Month": true, "Birthday Next Week": true, "Birthday Soon": true, "Top Spenders": true}
	for i, n := range named {
		want := ev.count(n.Rule)
		if got[i] != want {
			t.Errorf("%s: SQL counts %d, evaluator %d", n.Name, got[i], want)
		}
		if !literalZero[n.Name] && (got[i] == 0 || got[i] == total) {
			t.Errorf("%s matches %d of %d customers; the sample data should make it match some but not all", n.Name, got[i], total)
		}
		t.Logf("%-28s %5d", n.Name, got[i])
	}
}

// TestJoinedConditionsArePerProfile checks the meaning of conditions on a
// joined attribute whose table holds several rows per key: each condition is
// a property of the profile (any of its rows), so a condition and its exclude
// split the customers exactly, and two conditions may hold on different rows.
func TestJoinedConditionsArePerProfile(t *testing.T) {
	s := startStandin(t)
	cond := func(op string, v float64, exclude bool) string {
		return fmt.Sprintf(`{"type":"Value","leftValue":{"name":"segment_score"},"operator":{"type":%q,"not":false,"rightValue":%v},"arrayMatching":null,"exclude":%v}`, op, v, exclude)
	}
	rule := func(conds ...string) *segment.Rule {
		return decodeRule(t, `{"type":"And","conditions":[{"type":"And","conditions":[`+strings.Join(conds, ",")+`]}]}`)
	}
	named := []Named{
		{Name: "high", Rule: rule(cond("Greater", 0.8, false))},
		{Name: "not high", Rule: rule(cond("Greater", 0.8, true))},
		{Name: "high and low", Rule: rule(cond("Greater", 0.8, false), cond("Less", 0.2, false))},
	}
	st, err := CompileBatch(s.parent, named, s.options)
	if err != nil {
		t.Fatal(err)
	}
	got := s.count(t, st)
	total := int64(len(s.sample.customers))
	if got[0]+got[1] != total {
		t.Errorf("a condition and its exclude count %d + %d, want %d customers", got[0], got[1], total)
	}
	// No single row is above 0.8 and below 0.2: a positive count means the
	// two conditions were tested on different rows of one profile.
	if got[2] == 0 {
		t.Errorf("high and low counts 0; the sample holds profiles with several score rows")
	}
	ev := s.evaluator()
	for i, n := range named {
		if want := ev.count(n.Rule); got[i] != want {
			t.Errorf("%s: SQL counts %d, evaluator %d", n.Name, got[i], want)
		}
	}
}

// TestRandomRulesAgree is the property test: random rules over every
// attribute, behavior and operator, counted in batches of one statement
// (30 batches of 100, or POPULATION_PROPERTY_BATCHES).
func TestRandomRulesAgree(t *testing.T) {
	s := startStandin(t)
	g := newGen(s.parent, 20261101)
	ev := s.evaluator()
	batches, per := 30, 100
	if v := os.Getenv("POPULATION_PROPERTY_BATCHES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("POPULATION_PROPERTY_BATCHES=%q: want a positive number", v)
		}
		batches = n
	}
	for b := range batches {
		opts := s.options
		opts.Segments = map[string]*segment.Rule{}
		for k, v := range s.options.Segments {
			opts.Segments[k] = v
		}
		var named []Named
		for i := range per {
			name := fmt.Sprintf("r%d_%d", b, i)
			r := g.rule(named)
			opts.Segments[name] = r
			named = append(named, Named{Name: name, Rule: r})
		}
		st, err := CompileBatch(s.parent, named, opts)
		if err != nil {
			t.Fatalf("batch %d: %v", b, err)
		}
		got := s.count(t, st)
		ev.rules = opts.Segments
		failed := 0
		for i, n := range named {
			if want := ev.count(n.Rule); got[i] != want {
				failed++
				if failed <= 3 {
					js, _ := json.Marshal(n.Rule)
					one, _ := Compile(s.parent, n.Rule, opts)
					t.Errorf("%s: SQL counts %d, evaluator %d\nrule %s\n%s", n.Name, got[i], want, js, one.SQL)
				}
			}
		}
		if failed > 0 {
			t.Fatalf("batch %d: %d of %d rules disagree", b, failed, per)
		}
	}
}

// TestSampleKeys checks that a sample lists the first matching keys.
func TestSampleKeys(t *testing.T) {
	s := startStandin(t)
	seg := &s.demo[0]
	st, err := CompileSample(s.parent, Named{Name: seg.Name, Rule: &seg.Rule}, 5, s.options)
	if err != nil {
		t.Fatal(err)
	}
	args := make([]any, len(st.Params))
	for i, p := range st.Params {
		args[i] = sql.Named(p.Name, p.Value)
	}
	rs, err := s.db.Query(st.SQL, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, st.SQL)
	}
	defer rs.Close()
	var got []string
	for rs.Next() {
		var k string
		if err := rs.Scan(&k); err != nil {
			t.Fatal(err)
		}
		got = append(got, k)
	}
	ev := s.evaluator()
	var want []string
	for _, c := range s.sample.customers {
		if ev.rule(&seg.Rule, c) {
			want = append(want, c[s.parent.Customers.Key].(string))
		}
	}
	slices.Sort(want)
	want = want[:min(5, len(want))]
	if !slices.Equal(got, want) {
		t.Errorf("%s: sample %v, want %v\n%s", seg.Name, got, want, st.SQL)
	}
}
