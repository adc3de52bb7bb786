package arch

import (
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
)

// allowed declares, for every package of the module, each module package it
// may import and each capability (a group of outside packages that reach a
// system or the process) it may use. The list is exact: an import that is
// not declared fails, and so does a declared one that is no longer used, so
// that every new edge of the graph is a reviewed change of this file.
var allowed = map[string][]string{
	"cmd/reconciler": {"internal/cli", "internal/loadworker"},
	// The product binary's commands: no stand-in (the demo is a binary of
	// its own, which `reconciler demo` runs).
	"internal/cli": {"internal/apply", "internal/config", "internal/daemon", "pkg/catalog", "pkg/diag", "internal/doctor",
		"internal/loadworker", "internal/logging", "internal/metrics", "pkg/plan", "pkg/population", "internal/reconcile", "pkg/segment", "pkg/spec",
		"pkg/validate", "internal/version", "internal/warehouse", "internal/wiring", "cap:network", "cap:exec", "cap:prometheus"},
	// The demo: the commands and the daemon on the stand-ins and the embedded example.
	"cmd/reconciler-demo": {"internal/demo", "internal/loadworker"},
	"internal/demo": {"examples", "internal/cli", "internal/config", "internal/daemon", "internal/logging", "internal/wiring",
		"internal/standin/dbxstandin", "internal/standin/tdstandin", "cap:network", "cap:exec", "cap:prometheus"},
	"examples":         nil,
	"deploy":           nil,
	"hooks":            nil,
	"internal/cuetest": nil,
	"internal/syncbuf": nil,
	// The cores: no network, no process, no adapter.
	"internal/apply":    {"pkg/plan", "pkg/segment"},
	"pkg/plan":          {"pkg/segment"},
	"pkg/population":    {"pkg/segment"},
	"pkg/segment":       {"pkg/diag"},
	"pkg/spec":          {"pkg/diag", "pkg/segment", "schemas", "cap:cue"},
	"pkg/validate":      {"pkg/diag", "pkg/segment", "pkg/catalog"},
	"pkg/diag":          nil,
	"internal/schedule": nil,
	"internal/version":  nil,
	"internal/logging":  nil,
	// reconcile runs the steps through the interfaces it declares and
	// imports no adapter; it compiles population statements (pure) for its
	// Counter and builds the warehouse request with package catalog.
	"internal/reconcile": {"internal/apply", "pkg/diag", "pkg/plan", "pkg/population", "pkg/segment", "pkg/spec", "pkg/validate",
		"pkg/catalog"},
	"internal/config":     {"pkg/diag", "internal/schedule", "schemas/config", "cap:cue"},
	"internal/loadworker": {"pkg/diag", "pkg/spec", "cap:exec"},
	"internal/metrics":    {"cap:prometheus"},
	// Adapters: one system each.
	"internal/source":    {"cap:git", "cap:network"},
	"pkg/treasure":       {"pkg/segment", "internal/version", "cap:network"},
	"internal/warehouse": {"pkg/population", "pkg/segment", "pkg/catalog", "cap:databricks", "cap:network"},
	"pkg/catalog":        {"pkg/segment"},
	"internal/leader":    {"internal/version", "cap:network"},
	"internal/webhook":   {"cap:network"},
	"internal/doctor":    {"pkg/catalog", "pkg/plan", "pkg/segment", "pkg/treasure"},
	// The wiring and the service.
	// The wiring: the one package that turns configuration into concrete
	// clients (the CLI builds them through it).
	"internal/wiring": {"internal/apply", "internal/config", "internal/loadworker", "internal/logging", "internal/metrics", "internal/reconcile",
		"internal/source", "internal/warehouse", "pkg/plan", "pkg/segment", "pkg/treasure", "pkg/validate", "cap:network"},
	// The service: it receives the built clients (wiring.Clients) and
	// builds none; internal/source only for the snapshot it fetched.
	"internal/daemon": {"internal/apply", "internal/config", "pkg/diag", "internal/leader", "internal/metrics",
		"pkg/plan", "internal/reconcile", "internal/schedule", "internal/source", "internal/version", "internal/webhook", "internal/wiring",
		"cap:network", "cap:prometheus"},
	// Stand-ins and test servers.
	"internal/standin/dbxstandin":         {"internal/standin/dbxstandin/tcli", "cap:duckdb", "cap:network"},
	"internal/standin/dbxstandin/dbxtest": {"internal/standin/dbxstandin"},
	"internal/standin/dbxstandin/tcli":    nil,
	"internal/standin/gittest":            {"cap:network", "cap:exec"},
	"internal/standin/leadertest":         {"cap:network"},
	"internal/standin/tdstandin":          {"cap:network"},
	"schemas":                             nil,
	"schemas/config":                      nil,
	"test/arch":                           nil,
	"test/docs":                           nil,
	"test/e2e":                            nil,
	"test/prometheus":                     nil,
}

// capability names the group of an outside import that reaches a system or
// the process; "" for the others (the standard library's pure packages,
// encoding libraries).
func capability(imp string) string {
	switch {
	case imp == "net" || strings.HasPrefix(imp, "net/") && imp != "net/url" && imp != "net/netip" && imp != "net/textproto" && imp != "net/mail":
		return "cap:network"
	case imp == "os/exec":
		return "cap:exec"
	case strings.HasPrefix(imp, "github.com/databricks/"):
		return "cap:databricks"
	case strings.HasPrefix(imp, "github.com/go-git/"):
		return "cap:git"
	case strings.HasPrefix(imp, "github.com/prometheus/"):
		return "cap:prometheus"
	case strings.HasPrefix(imp, "cuelang.org/"):
		return "cap:cue"
	case strings.HasPrefix(imp, "github.com/duckdb/") || strings.HasPrefix(imp, "github.com/marcboeker/"):
		return "cap:duckdb"
	case strings.HasPrefix(imp, "k8s.io/") || strings.HasPrefix(imp, "sigs.k8s.io/"):
		return "cap:kubernetes"
	}
	return ""
}

// violations checks an import graph (package → its direct imports, module
// packages without the module prefix) against allowed.
func violations(graph map[string][]string) []string {
	var out []string
	for pkg, imps := range graph {
		ok, declared := allowed[pkg]
		if !declared {
			out = append(out, pkg+": package not declared in test/arch/allow_test.go")
			continue
		}
		used := map[string]bool{}
		for _, imp := range imps {
			edge := ""
			if rest, in := strings.CutPrefix(imp, module+"/"); in {
				edge = rest
			} else {
				edge = capability(imp)
			}
			if edge == "" {
				continue
			}
			used[edge] = true
			if !slices.Contains(ok, edge) {
				out = append(out, pkg+" → "+edge+" ("+imp+"): edge not declared")
			}
		}
		for _, e := range ok {
			if !used[e] {
				out = append(out, pkg+" → "+e+": declared but not used; remove it")
			}
		}
	}
	for pkg := range allowed {
		if _, ok := graph[pkg]; !ok {
			out = append(out, pkg+": declared but not in the module")
		}
	}
	sort.Strings(out)
	return out
}

// graph lists the direct imports of every package of the module, test
// files excluded.
func graph(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...")
	cmd.Dir = "../.."
	// The cgo files (the warehouse stand-in's engine) are part of the graph.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	g := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		g[strings.TrimPrefix(f[0], module+"/")] = f[1:]
	}
	return g
}

func TestImportsAreDeclared(t *testing.T) {
	g := graph(t)
	if len(g) < 20 {
		t.Fatalf("only %d packages listed", len(g))
	}
	for _, v := range violations(g) {
		t.Error(v)
	}
}

// TestForbiddenEdgesAreCaught injects edges the architecture forbids into
// the real graph and expects each one to be reported.
func TestForbiddenEdgesAreCaught(t *testing.T) {
	for _, e := range []struct{ from, to string }{
		{"internal/reconcile", "net/http"},
		{"internal/reconcile", module + "/internal/source"},
		{"internal/reconcile", module + "/internal/warehouse"},
		{"internal/reconcile", module + "/pkg/treasure"},
		{"internal/daemon", module + "/internal/warehouse"},
		{"internal/daemon", module + "/pkg/treasure"},
		{"internal/wiring", module + "/internal/daemon"},
		{"internal/apply", module + "/internal/warehouse"},
		{"internal/leader", module + "/pkg/treasure"},
		{"internal/webhook", module + "/internal/source"},
		{"pkg/spec", module + "/internal/config"},
		{"pkg/plan", "net"},
		{"pkg/validate", "github.com/databricks/databricks-sql-go"},
		{"pkg/treasure", "github.com/prometheus/client_golang/prometheus"},
		{"pkg/plan", "os/exec"},
		{"internal/metrics", module + "/pkg/plan"},
		{"cmd/reconciler", "k8s.io/client-go/kubernetes"},
		{"internal/cli", module + "/internal/standin/tdstandin"},
		{"cmd/reconciler", module + "/internal/demo"},
	} {
		g := graph(t)
		if len(violations(g)) != 0 {
			t.Fatalf("the real graph has violations: %v", violations(g))
		}
		g[e.from] = append(g[e.from], e.to)
		v := violations(g)
		if len(v) == 0 || !strings.HasPrefix(v[0], e.from+" → ") {
			t.Errorf("injected %s → %s: violations %v", e.from, e.to, v)
		}
	}
	g := graph(t)
	g["pkg/newthing"] = nil
	if v := violations(g); len(v) != 1 || !strings.Contains(v[0], "not declared") {
		t.Errorf("an undeclared package: violations %v", v)
	}
}
