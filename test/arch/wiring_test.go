package arch

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// constructors are the functions that build a client of an external
// system, by the import path of their package.
var constructors = map[string]string{
	pkgPath("internal/warehouse"): "Open",
	pkgPath("pkg/treasure"):       "New",
	pkgPath("internal/source"):    "New",
}

// constructorCalls returns "file: pkg.Func" for every call of a
// constructor in the Go files of dir (test files excluded).
func constructorCalls(t *testing.T, dir string, files []string) []string {
	t.Helper()
	var out []string
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		local := map[string]string{} // local name → constructor
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			fn, ok := constructors[path]
			if !ok {
				continue
			}
			n := path[strings.LastIndex(path, "/")+1:]
			if imp.Name != nil {
				n = imp.Name.Name
			}
			local[n] = fn
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok && local[id.Name] == sel.Sel.Name {
				out = append(out, name+": "+id.Name+"."+sel.Sel.Name)
			}
			return true
		})
	}
	return out
}

// TestOnlyWiringBuildsClients: the Databricks, Treasure Data and git
// clients are built in internal/wiring alone; the CLI and the daemon get
// them from there.
func TestOnlyWiringBuildsClients(t *testing.T) {
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{.Dir}}|{{join .GoFiles " "}} {{join .CgoFiles " "}}`, "./...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	found := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(line, "|", 3)
		pkg := strings.TrimPrefix(f[0], module+"/")
		calls := constructorCalls(t, f[1], strings.Fields(f[2]))
		if pkg == "internal/wiring" {
			found = len(calls)
			continue
		}
		for _, c := range calls {
			t.Errorf("%s builds a client (%s); only internal/wiring may", pkg, c)
		}
	}
	if found == 0 {
		t.Error("internal/wiring builds no client; the scan is wrong")
	}
}
