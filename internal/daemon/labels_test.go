package daemon

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cas-reconciler/reconciler/internal/apply"
	"github.com/cas-reconciler/reconciler/internal/metrics"
	"github.com/cas-reconciler/reconciler/internal/reconcile"
	"github.com/cas-reconciler/reconciler/pkg/plan"
)

// constants returns the values of the constants of type typ declared in
// the package in dir, read from its source: what an All list of the type
// must hold.
func constants(t *testing.T, dir, typ string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var out []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, sp := range g.Specs {
				vs := sp.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != typ {
					continue
				}
				for _, v := range vs.Values {
					lit, ok := v.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Fatalf("%s: a %s constant that is not a string literal", dir, typ)
					}
					s, _ := strconv.Unquote(lit.Value)
					out = append(out, s)
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no constants of type %s in %s", typ, dir)
	}
	slices.Sort(out)
	return out
}

func strs[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

func sorted(vs []string) []string {
	out := slices.Clone(vs)
	slices.Sort(out)
	return out
}

// TestEnumsAreClosed checks that the list of every typed vocabulary holds
// each of its constants, once: a value added without its list would never
// be a pre-initialised series, and one the metrics would not count.
func TestEnumsAreClosed(t *testing.T) {
	for _, c := range []struct {
		dir, typ string
		all      []string
	}{
		{"../reconcile", "Condition", strs(reconcile.Conditions())},
		{"../reconcile", "Reason", strs(reconcile.Reasons())},
		{"../apply", "Outcome", strs(apply.Outcomes())},
		{"../../pkg/plan", "Block", strs(plan.Blocks)},
		{"../../pkg/plan", "ConflictReason", strs(plan.ConflictReasons)},
	} {
		if got := sorted(c.all); !slices.Equal(got, constants(t, c.dir, c.typ)) || len(slices.Compact(got)) != len(c.all) {
			t.Errorf("%s.%s: list %v, constants %v", c.dir, c.typ, c.all, constants(t, c.dir, c.typ))
		}
	}
}

// labelValues returns the values of label of metric name that reg holds.
func labelValues(t *testing.T, reg *prometheus.Registry, name, label string) []string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && !slices.Contains(out, lp.GetValue()) {
					out = append(out, lp.GetValue())
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// labelSets are the metrics whose label says how something ended or why,
// with the enum values it takes.
func labelSets() []struct {
	metric, label string
	values        []string
} {
	var prune, unresolved []string
	for _, b := range plan.Blocks {
		if b.Prune() {
			prune = append(prune, b.String())
		}
		if b.Unresolved() {
			unresolved = append(unresolved, b.String())
		}
	}
	return []struct {
		metric, label string
		values        []string
	}{
		{"reconciler_runs_total", "result", strs(reconcile.Conditions())},
		{"reconciler_run_step_duration_seconds", "step", reconcile.Steps},
		{"reconciler_apply_changes_total", "outcome", strs(apply.Outcomes())},
		{"reconciler_prune_blocked_total", "reason", prune},
		{"reconciler_unresolved_changes", "reason", append([]string{plan.Conflict.String()}, unresolved...)},
	}
}

// TestMetricLabelsAreTheEnums checks that the values the metrics have for
// a source's result, step, outcome and reason labels are exactly the
// values of the enums the run, apply and plan decide them from, and that
// each value is counted under its own name.
func TestMetricLabelsAreTheEnums(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	rec := metrics.New(reg, metricLabels())
	rec.AddSource("s")
	for _, c := range labelSets() {
		if got := labelValues(t, reg, c.metric, c.label); !slices.Equal(got, sorted(c.values)) {
			t.Errorf("%s{%s}: %v, want %v", c.metric, c.label, got, sorted(c.values))
		}
	}
	// Every value is counted, and under its own name.
	for _, c := range reconcile.Conditions() {
		rec.RunFinished("s", c.String(), time.Second, time.Now())
	}
	for _, o := range apply.Outcomes() {
		rec.ApplyChange("s", plan.Create.String(), o.String())
	}
	rec.SetPruneBlocked("s", plan.BlockMaxDeletes.String())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counted := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if m.GetCounter() == nil {
				continue
			}
			for _, lp := range m.GetLabel() {
				if lp.GetName() != "source" && lp.GetName() != "action" {
					counted[mf.GetName()+"/"+lp.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	for _, c := range reconcile.Conditions() {
		if counted["reconciler_runs_total/"+c.String()] != 1 {
			t.Errorf("run result %s not counted", c)
		}
	}
	for _, o := range apply.Outcomes() {
		if counted["reconciler_apply_changes_total/"+o.String()] != 1 {
			t.Errorf("apply outcome %s not counted", o)
		}
	}
	if counted["reconciler_prune_blocked_total/"+plan.BlockMaxDeletes.String()] != 1 {
		t.Errorf("prune block %s not counted", plan.BlockMaxDeletes)
	}
}

// operationsDoc returns the documentation of the metrics, of /status and
// of the reasons: docs/operations.md.
func operationsDoc(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, f := range []string{"../../docs/operations.md"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
		b.WriteByte('\n')
	}
	return b.String()
}

var codeSpan = regexp.MustCompile("`([^`]+)`")

// TestLabelValuesDocumented checks that the metrics table documents, for
// each metric of labelSets, exactly the values of its label: a renamed or
// added value fails until the documentation (and the alerts that use it)
// follow.
func TestLabelValuesDocumented(t *testing.T) {
	doc := operationsDoc(t)
	for _, c := range labelSets() {
		row := ""
		for _, line := range strings.Split(doc, "\n") {
			if strings.HasPrefix(line, "| `"+c.metric+"` |") {
				row = line
				break
			}
		}
		if row == "" {
			t.Errorf("%s: no row in the metrics table", c.metric)
			continue
		}
		// The row's labels cell: `source`, `label` (`v1`, `v2`, …).
		cells := strings.Split(row, "|")
		if len(cells) < 5 {
			t.Errorf("%s: row %q", c.metric, row)
			continue
		}
		_, values, ok := strings.Cut(cells[3], "`"+c.label+"` (")
		values, _, _ = strings.Cut(values, ")")
		var got []string
		for _, m := range codeSpan.FindAllStringSubmatch(values, -1) {
			got = append(got, m[1])
		}
		slices.Sort(got)
		if !ok || !slices.Equal(got, sorted(c.values)) {
			t.Errorf("%s: documented %s values %v, want %v", c.metric, c.label, got, sorted(c.values))
		}
	}
}

// TestReasonsDocumented checks that every reason a source can be stalled,
// waiting or failed with is documented, with its condition.
func TestReasonsDocumented(t *testing.T) {
	doc := operationsDoc(t)
	for _, r := range reconcile.Reasons() {
		if !strings.Contains(doc, "| `"+r.String()+"` |") {
			t.Errorf("reason %s has no row in the table of reasons", r)
		}
	}
}
