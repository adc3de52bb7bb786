package population

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/pkg/segment"
	"github.com/cas-reconciler/reconciler/pkg/spec"
)

var update = flag.Bool("update", false, "rewrite the golden SQL files")

// testNow is the instant the tests count from: the end of the sample data.
var testNow = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// demo loads the retail example repository, with the attribute types the
// warehouse would fill in.
func demo(t testing.TB) (*segment.Parent, []segment.Segment) {
	t.Helper()
	r, err := spec.Load(context.Background(), os.DirFS(filepath.Join("..", "..", "examples", "retail")), spec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Diagnostics) > 0 || len(r.State.Parents) != 1 {
		t.Fatalf("retail repository: %d parents, diagnostics %v", len(r.State.Parents), r.Diagnostics)
	}
	p := r.State.Parents[0]
	for i := range p.Attributes {
		if p.Attributes[i].Type == "" {
			p.Attributes[i].Type = segment.String
		}
	}
	return &p, r.State.Segments
}

func demoOptions(segs []segment.Segment) Options {
	o := Options{Now: testNow, Segments: map[string]*segment.Rule{}, TimeKinds: map[string]TimeKind{"email_events": TimeEpochSeconds}}
	for i := range segs {
		o.Segments[segs[i].Name] = &segs[i].Rule
	}
	return o
}

// shapes are rule shapes the demo repository does not hold.
func shapes(t testing.TB) map[string]string {
	return map[string]string{
		"joined attribute": `{"type":"And","conditions":[{"type":"And","conditions":[
			{"type":"Value","leftValue":{"name":"segment_score"},"operator":{"type":"Greater","not":false,"rightValue":0.5},"arrayMatching":null,"exclude":false}]}]}`,
		"joined attribute twice": `{"type":"And","conditions":[{"type":"And","conditions":[
			{"type":"Value","leftValue":{"name":"segment_score"},"operator":{"type":"Greater","not":false,"rightValue":0.8},"arrayMatching":null,"exclude":false},
			{"type":"Value","leftValue":{"name":"segment_score"},"operator":{"type":"Less","not":false,"rightValue":0.2},"arrayMatching":null,"exclude":true},
			{"type":"Value","leftValue":{"name":"segment_score"},"operator":{"type":"IsNull","not":false},"arrayMatching":null,"exclude":false}]}]}`,
		"array at least": `{"type":"And","conditions":[{"type":"And","conditions":[
			{"type":"Value","leftValue":{"name":"interests"},"operator":{"type":"In","not":false,"rightValues":["hiking","books"]},"arrayMatching":{"atLeast":2},"exclude":false}]}]}`,
		"array in any": `{"type":"Or","conditions":[{"type":"Or","conditions":[
			{"type":"Value","leftValue":{"name":"interests"},"operator":{"type":"In","not":false,"rightValues":["hiking","books"]},"arrayMatching":"any","exclude":false},
			{"type":"Value","leftValue":{"name":"interests"},"operator":{"type":"Equal","not":true,"rightValue":"gaming"},"arrayMatching":null,"exclude":false}]}]}`,
		"array all not": `{"type":"And","conditions":[{"type":"And","conditions":[
			{"type":"Value","leftValue":{"name":"interests"},"operator":{"type":"Equal","not":true,"rightValue":"gaming"},"arrayMatching":"all","exclude":false}]}]}`,
		"percent limit": `{"type":"Or","conditions":[{"type":"And","conditions":[
			{"type":"Value","leftValue":{"name":"country"},"operator":{"type":"Equal","not":false,"rightValue":"JP"},"arrayMatching":null,"exclude":false}]}],
			"limit":{"type":"Percent","number":10}}`,
		"grouped count": `{"type":"And","conditions":[{"type":"And","conditions":[
			{"type":"Value","leftValue":{"source":{"name":"orders"},"aggregation":{"type":"Count","groupingColumns":["category"]},"window":{"type":"TimeSliding","duration":{"day":180}}},"operator":{"type":"Greater","not":false,"rightValue":1},"arrayMatching":null,"exclude":false}]}]}`,
		"grouped sum exclude": `{"type":"Or","conditions":[{"type":"And","conditions":[
			{"type":"Value","leftValue":{"source":{"name":"orders"},"aggregation":{"type":"Sum","column":"amount","groupingColumns":["channel","category"]},"filter":{"type":"And","conditions":[{"type":"Column","column":"quantity","operator":{"type":"Greater","not":false,"rightValue":1},"arrayMatching":null}]}},"operator":{"type":"GreaterEqual","not":false,"rightValue":100},"arrayMatching":null,"exclude":true},
			{"type":"Value","leftValue":{"source":{"name":"orders"},"aggregation":{"type":"Max","column":"amount","groupingColumns":["channel","category"]},"filter":{"type":"And","conditions":[{"type":"Column","column":"quantity","operator":{"type":"Greater","not":false,"rightValue":1},"arrayMatching":null}]}},"operator":{"type":"Less","not":false,"rightValue":50},"arrayMatching":null,"exclude":false}]}]}`,
		"composite letters": `{"type":"Composite","expr":"A or (B and C)","conditions":[
			{"type":"And","conditions":[{"type":"Value","leftValue":{"name":"age"},"operator":{"type":"Less","not":false,"rightValue":30},"arrayMatching":null,"exclude":false}]},
			{"type":"Or","conditions":[{"type":"Value","leftValue":{"name":"country"},"operator":{"type":"Contain","not":false,"rightValues":["U"]},"arrayMatching":null,"exclude":true}]},
			{"type":"And","conditions":[{"type":"Value","leftValue":{"name":"signup_date"},"operator":{"type":"Greater","not":false,"rightValue":{"timestamp":"2025-01-01"}},"arrayMatching":null,"exclude":false}]}]}`,
	}
}

// withJoin adds a joined attribute to a copy of p.
func withJoin(p *segment.Parent) *segment.Parent {
	q := *p
	q.Attributes = append(append([]segment.Attribute(nil), p.Attributes...), segment.Attribute{
		Name: "segment_score", Column: "score", Type: segment.Number,
		Join: &segment.KeyedTable{Table: segment.Table{Catalog: "retail_prod", Schema: "cdp", Table: "scores"}, Key: "customer_id"},
	})
	return &q
}

func decodeRule(t testing.TB, s string) *segment.Rule {
	t.Helper()
	var r segment.Rule
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		t.Fatalf("rule %s: %v", s, err)
	}
	return &r
}

func fileName(name string) string {
	return strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(name), "-"), "-") + ".sql"
}

func render(st Statement) string {
	var b strings.Builder
	b.WriteString(st.SQL)
	b.WriteString("-- params\n")
	for _, p := range st.Params {
		v := p.Value
		if tm, ok := v.(time.Time); ok {
			v = tm.Format(time.RFC3339)
		}
		fmt.Fprintf(&b, "-- :%s = %T %v\n", p.Name, p.Value, v)
	}
	return b.String()
}

// TestGolden compiles every demo segment and every extra shape and compares
// the SQL with testdata/golden; a demo segment the compiler does not count
// is golden as its diagnostic.
func TestGolden(t *testing.T) {
	p, segs := demo(t)
	opts := demoOptions(segs)
	cases := map[string]func() (Statement, error){}
	for i := range segs {
		s := &segs[i]
		cases[s.Name] = func() (Statement, error) { return Compile(p, &s.Rule, opts) }
	}
	jp := withJoin(p)
	for name, src := range shapes(t) {
		r := decodeRule(t, src)
		cases["shape "+name] = func() (Statement, error) { return Compile(jp, r, opts) }
	}
	seen := map[string]bool{}
	for name, compile := range cases {
		t.Run(name, func(t *testing.T) {
			st, err := compile()
			got := ""
			if err != nil {
				var ce *Error
				if !errors.As(err, &ce) {
					t.Fatalf("error is not a *population.Error: %v", err)
				}
				got = fmt.Sprintf("-- not counted (%s): %v\n", ce.Reason, err)
			} else {
				got = render(st)
				if strings.Contains(st.SQL, "'") {
					t.Errorf("SQL holds a string literal; values must be parameters:\n%s", st.SQL)
				}
			}
			path := filepath.Join("testdata", "golden", fileName(name))
			seen[filepath.Base(path)] = true
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if string(want) != got {
				t.Errorf("%s differs from the golden file:\n%s", path, got)
			}
		})
	}
	if !*update {
		files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.sql"))
		for _, f := range files {
			if !seen[filepath.Base(f)] {
				t.Errorf("stale golden file %s", f)
			}
		}
	}
}

func TestBatchSharesBehaviorScans(t *testing.T) {
	p, segs := demo(t)
	opts := demoOptions(segs)
	var named []Named
	for i := range segs {
		if segs[i].Name == "VIP Customers" || segs[i].Name == "Recent Buyers" || segs[i].Name == "Coupon Hunters" {
			named = append(named, Named{Name: segs[i].Name, Rule: &segs[i].Rule})
		}
	}
	st, err := CompileBatch(p, named, opts)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(st.SQL, "FROM `retail_prod`.`cdp`.`orders`"); n != 1 {
		t.Errorf("orders scanned %d times, want once:\n%s", n, st.SQL)
	}
	// One bit per segment in one bit_or mask, one count_if per segment, over
	// one grouping by customer key: no COUNT(DISTINCT), which keeps a set
	// per segment.
	if len(st.Columns) != 3 || strings.Count(st.SQL, "count_if((`m1` & ") != 3 || strings.Count(st.SQL, "bit_or(") != 1 ||
		strings.Count(st.SQL, " ELSE 0 END) /* s") != 3 ||
		strings.Count(st.SQL, "GROUP BY c.")+strings.Count(st.SQL, "GROUP BY `k`") != 1 || strings.Contains(st.SQL, "COUNT(DISTINCT") {
		t.Errorf("columns %v, want one count per segment over one grouping:\n%s", st.Columns, st.SQL)
	}
}

// TestReferencesCompiledOnce: in a chain of 30 segments, each referencing
// the one before, every rule is compiled once into the statement (inlined,
// the first would be repeated 29 times and the statement would grow with
// the square of the chain), and the levels of the layers follow the chain.
func TestReferencesCompiledOnce(t *testing.T) {
	p, segs := demo(t)
	o := demoOptions(segs)
	o.Segments = map[string]*segment.Rule{}
	var named []Named
	const n = 30
	for i := range n {
		cond := fmt.Sprintf(`{"type":"Value","leftValue":{"name":"age"},"operator":{"type":"Greater","not":false,"rightValue":%d},"arrayMatching":null,"exclude":false}`, i)
		if i > 0 {
			cond += fmt.Sprintf(`,{"type":"Reference","segment":"c%d","exclude":%v}`, i-1, i%2 == 0)
		}
		r := decodeRule(t, `{"type":"And","conditions":[{"type":"And","conditions":[`+cond+`]}]}`)
		name := fmt.Sprintf("c%d", i)
		o.Segments[name] = r
		named = append(named, Named{Name: name, Rule: r})
	}
	st, err := CompileBatch(p, named, o)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(st.SQL, "`c_age` > "); got != n {
		t.Errorf("the age test appears %d times, want %d (once per rule):\n%s", got, n, st.SQL)
	}
	if got := strings.Count(st.SQL, "(level "); got != n-1 {
		t.Errorf("%d levels, want %d", got, n-1)
	}
	// Each rule references the one before twice: inlined, the statement
	// would double with each link (2^30 copies of the first rule).
	o.Segments = map[string]*segment.Rule{}
	named = nil
	for i := range n {
		cond := fmt.Sprintf(`{"type":"Value","leftValue":{"name":"age"},"operator":{"type":"Greater","not":false,"rightValue":%d},"arrayMatching":null,"exclude":false}`, i)
		if i > 0 {
			cond += fmt.Sprintf(`,{"type":"Reference","segment":"c%d","exclude":false},{"type":"Reference","segment":"c%d","exclude":true}`, i-1, i-1)
		}
		r := decodeRule(t, `{"type":"Or","conditions":[{"type":"Or","conditions":[`+cond+`]}]}`)
		name := fmt.Sprintf("c%d", i)
		o.Segments[name] = r
		named = append(named, Named{Name: name, Rule: r})
	}
	doubled, err := CompileBatch(p, named[n-1:], o)
	if err != nil {
		t.Fatal(err)
	}
	if len(doubled.SQL) > 64<<10 || strings.Count(doubled.SQL, "`c_age` > ") != n {
		t.Errorf("a doubling chain of %d references compiles to %d bytes, the age test %d times", n, len(doubled.SQL), strings.Count(doubled.SQL, "`c_age` > "))
	}
	// The sample statement is layered the same way.
	sample, err := CompileSample(p, named[n-1], 3, o)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(sample.SQL, "`c_age` > "); got != n {
		t.Errorf("the sample repeats rules: the age test appears %d times, want %d", got, n)
	}
}

func TestUnsupportedIsTypedError(t *testing.T) {
	p, segs := demo(t)
	opts := demoOptions(segs)
	cases := map[string]struct {
		rule   string
		reason Reason
	}{
		"unknown grouping column": {`{"type":"And","conditions":[{"type":"And","conditions":[{"type":"Value","leftValue":{"source":{"name":"orders"},"aggregation":{"type":"Count","groupingColumns":["nope"]}},"operator":{"type":"Greater","not":false,"rightValue":1},"arrayMatching":null,"exclude":false}]}]}`, ReasonUnknownName},
		"funnel reference":        {`{"type":"And","conditions":[{"type":"And","conditions":[{"type":"FunnelStageReference","id":"12","exclude":false}]}]}`, ReasonUnsupported},
		"condition limit":         {`{"type":"And","conditions":[{"type":"And","conditions":[{"type":"Value","leftValue":{"name":"age"},"operator":{"type":"Greater","not":false,"rightValue":1},"arrayMatching":null,"exclude":false,"limit":{"type":"Count","number":3}}]}]}`, ReasonUnsupported},
		"unknown attribute":       {`{"type":"And","conditions":[{"type":"And","conditions":[{"type":"Value","leftValue":{"name":"nope"},"operator":{"type":"IsNull","not":false},"arrayMatching":null,"exclude":false}]}]}`, ReasonUnknownName},
		"string for number":       {`{"type":"And","conditions":[{"type":"And","conditions":[{"type":"Value","leftValue":{"name":"age"},"operator":{"type":"Equal","not":false,"rightValue":"x"},"arrayMatching":null,"exclude":false}]}]}`, ReasonTypeMismatch},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			st, err := Compile(p, decodeRule(t, tc.rule), opts)
			var ce *Error
			if !errors.As(err, &ce) || ce.Reason != tc.reason {
				t.Fatalf("Compile = %q, %v; want a %s error", st.SQL, err, tc.reason)
			}
		})
	}
	t.Run("cycle", func(t *testing.T) {
		ref := func(to string) *segment.Rule {
			return decodeRule(t, `{"type":"And","conditions":[{"type":"And","conditions":[{"type":"Reference","segment":"`+to+`","exclude":false}]}]}`)
		}
		o := opts
		o.Segments = map[string]*segment.Rule{"A": ref("B"), "B": ref("A")}
		_, err := CompileBatch(p, []Named{{Name: "A", Rule: o.Segments["A"]}}, o)
		var ce *Error
		if !errors.As(err, &ce) || ce.Reason != ReasonCycle {
			t.Fatalf("err = %v, want a cycle", err)
		}
	})
}

func TestQuote(t *testing.T) {
	if got := Quote("a`b"); got != "`a``b`" {
		t.Errorf("Quote = %s", got)
	}
}

// TestNamesInCommentsCannotEndThem: a segment name is written into a SQL
// comment; one holding "*/" must not end it (what followed would be SQL),
// nor one holding "/*" open a nested comment.
func TestNamesInCommentsCannotEndThem(t *testing.T) {
	p, segs := demo(t)
	opts := demoOptions(segs)
	evil := "x */ OR TRUE OR /* y"
	opts.Segments[evil] = decodeRule(t, `{"type":"And","conditions":[{"type":"And","conditions":[{"type":"Value","leftValue":{"name":"age"},"operator":{"type":"Greater","not":false,"rightValue":30},"arrayMatching":null,"exclude":false}]}]}`)
	r := decodeRule(t, `{"type":"And","conditions":[{"type":"And","conditions":[{"type":"Reference","segment":`+strconv.Quote(evil)+`,"exclude":false}]}]}`)
	st, err := Compile(p, r, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Strip the comments as the warehouse reads them (nested), and what
	// is left must not hold the name's text.
	var out strings.Builder
	depth := 0
	for i := 0; i < len(st.SQL); i++ {
		switch {
		case strings.HasPrefix(st.SQL[i:], "/*"):
			depth++
			i++
		case depth > 0 && strings.HasPrefix(st.SQL[i:], "*/"):
			depth--
			i++
		case depth == 0:
			out.WriteByte(st.SQL[i])
		}
	}
	if depth != 0 || strings.Contains(out.String(), "OR TRUE") {
		t.Fatalf("the name escaped its comment (depth %d):\n%s", depth, out.String())
	}
}
