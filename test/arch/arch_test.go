package arch

import (
	"bytes"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/cas-reconciler/reconciler"

// deps returns the import graph of pkg: its direct imports and all its
// transitive dependencies (without test files).
func deps(t *testing.T, env []string, pkg string) (direct, all map[string]bool) {
	t.Helper()
	run := func(format string) map[string]bool {
		cmd := exec.Command("go", "list", "-f", format, pkg)
		cmd.Dir = "../.."
		cmd.Env = append(os.Environ(), env...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, stderr.String())
		}
		m := map[string]bool{}
		for _, l := range strings.Fields(string(out)) {
			m[l] = true
		}
		return m
	}
	return run(`{{join .Imports "\n"}}`), run(`{{join .Deps "\n"}}`)
}

func pkgPath(p string) string { return module + "/" + p }

// internal returns the module packages in set, without the module prefix.
func internal(set map[string]bool) []string {
	var out []string
	for p := range set {
		if rest, ok := strings.CutPrefix(p, module+"/"); ok {
			out = append(out, rest)
		}
	}
	return out
}

func TestLeavesImportNothingFromTheModule(t *testing.T) {
	allowed := map[string][]string{
		"pkg/diag":         nil,
		"pkg/segment":      {"pkg/diag"},
		"internal/version": nil,
		"internal/metrics": nil,
	}
	for pkg, ok := range allowed {
		_, all := deps(t, nil, pkgPath(pkg))
	next:
		for _, d := range internal(all) {
			for _, a := range ok {
				if d == a {
					continue next
				}
			}
			t.Errorf("%s depends on %s; it must stay a leaf", pkg, d)
		}
	}
}

func TestPureCoresDoNoNetworkIO(t *testing.T) {
	forbidden := []string{"net/http", pkgPath("pkg/treasure"), pkgPath("internal/source"),
		pkgPath("internal/daemon"), "github.com/databricks/databricks-sql-go", "github.com/go-git/go-git/v5"}
	for _, pkg := range []string{"pkg/plan", "pkg/validate", "pkg/segment", "pkg/diag"} {
		_, all := deps(t, nil, pkgPath(pkg))
		for _, f := range forbidden {
			if all[f] {
				t.Errorf("%s depends on %s; pure cores do no network I/O", pkg, f)
			}
		}
	}
	// The CUE evaluator links packages that could reach the network (module
	// registries), so for spec only its own imports are checked.
	direct, _ := deps(t, nil, pkgPath("pkg/spec"))
	for _, f := range append(forbidden, "net", "os/exec", pkgPath("internal/warehouse")) {
		if direct[f] {
			t.Errorf("pkg/spec imports %s; the loader reads only the snapshot it is given", f)
		}
	}
}

func TestAdaptersTalkToOneSystem(t *testing.T) {
	adapters := []string{"internal/source", "internal/warehouse", "pkg/treasure"}
	others := []string{"pkg/spec", "pkg/validate", "pkg/plan", "internal/apply", "internal/reconcile", "internal/daemon", "internal/metrics"}
	for _, a := range adapters {
		_, all := deps(t, nil, pkgPath(a))
		for _, b := range append(adapters, others...) {
			if a != b && all[pkgPath(b)] {
				t.Errorf("%s depends on %s; an adapter talks to exactly one external system", a, b)
			}
		}
		if all["github.com/prometheus/client_golang/prometheus"] {
			t.Errorf("%s depends on prometheus; client packages stay metric-free", a)
		}
	}
}

// TestReconcileImportsNoAdapter: reconcile runs the pipeline through the
// interfaces it declares (Loader, Catalog, Remote, Counter); the adapters
// that satisfy them are wired in from outside, so none may be among its
// dependencies, direct or not.
func TestReconcileImportsNoAdapter(t *testing.T) {
	_, all := deps(t, nil, pkgPath("internal/reconcile"))
	if !all[pkgPath("pkg/catalog")] {
		t.Fatal("internal/reconcile does not depend on pkg/catalog; the dependency listing is wrong")
	}
	for _, a := range []string{"internal/source", "internal/warehouse", "pkg/treasure", "internal/loadworker", "internal/daemon", "internal/wiring"} {
		if all[pkgPath(a)] {
			t.Errorf("internal/reconcile depends on %s; it imports no adapter", a)
		}
	}
	// (The CUE evaluator links net/http; the allow-list keeps it out of
	// reconcile's own imports.)
	for _, f := range []string{"github.com/databricks/databricks-sql-go", "github.com/go-git/go-git/v5"} {
		if all[f] {
			t.Errorf("internal/reconcile depends on %s; it talks to no system itself", f)
		}
	}
}

func TestPlanAndApplyKnowNoHTTP(t *testing.T) {
	for _, pkg := range []string{"pkg/plan", "internal/apply", "internal/reconcile"} {
		_, all := deps(t, nil, pkgPath(pkg))
		for _, f := range []string{pkgPath("pkg/treasure"), pkgPath("internal/daemon"), pkgPath("internal/metrics"),
			"github.com/prometheus/client_golang/prometheus"} {
			if all[f] {
				t.Errorf("%s depends on %s", pkg, f)
			}
		}
	}
}

func TestOnlyTheBinaryImportsTheDaemon(t *testing.T) {
	for importer, imps := range graph(t) {
		for _, imp := range imps {
			if imp == pkgPath("internal/daemon") && importer != "internal/cli" && importer != "internal/demo" && !strings.HasPrefix(importer, "test/") {
				t.Errorf("%s imports internal/daemon; only the binaries' commands (internal/cli, internal/demo) may", importer)
			}
		}
	}
}

// The product binary links no stand-in and no DuckDB, with cgo or without:
// the demo, which needs both, is cmd/reconciler-demo.
func TestProductionBinaryLinksNoStandIn(t *testing.T) {
	for _, cgo := range []string{"CGO_ENABLED=0", "CGO_ENABLED=1"} {
		_, all := deps(t, []string{cgo}, pkgPath("cmd/reconciler"))
		if len(all) == 0 {
			t.Fatalf("%s: no dependencies listed for cmd/reconciler", cgo)
		}
		if bad := standIns(all); len(bad) > 0 {
			t.Errorf("with %s cmd/reconciler depends on %v", cgo, bad)
		}
		if !all["github.com/databricks/databricks-sql-go"] || !all[pkgPath("internal/cli")] {
			t.Errorf("with %s cmd/reconciler does not link the Databricks driver and its commands; the dependency listing is wrong", cgo)
		}
	}
	// The check sees what it looks for: the demo links both.
	_, all := deps(t, []string{"CGO_ENABLED=1"}, pkgPath("cmd/reconciler-demo"))
	if bad := standIns(all); !slices.Contains(bad, pkgPath("internal/standin/dbxstandin")) ||
		!slices.ContainsFunc(bad, func(d string) bool { return strings.Contains(d, "duckdb") }) {
		t.Errorf("cmd/reconciler-demo: stand-ins and DuckDB found %v, want both", bad)
	}
}

// standIns returns the stand-in and DuckDB packages in a dependency set.
func standIns(all map[string]bool) []string {
	var out []string
	for d := range all {
		if strings.Contains(d, "duckdb") || strings.HasPrefix(d, pkgPath("internal/standin/")) {
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

// The binary speaks to the Kubernetes API through internal/leader's own client:
// a Kubernetes client library would link every API group's types (tens of
// megabytes of binary and resident memory).
func TestBinaryLinksNoKubernetesLibraries(t *testing.T) {
	_, all := deps(t, []string{"CGO_ENABLED=0"}, pkgPath("cmd/reconciler"))
	for d := range all {
		if strings.HasPrefix(d, "k8s.io/") || strings.HasPrefix(d, "sigs.k8s.io/") ||
			d == pkgPath("internal/standin/leadertest") {
			t.Errorf("cmd/reconciler depends on %s", d)
		}
	}
}
