package arch

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// maxFuncLines is the length a function of the libraries may reach, from its
// func keyword to its closing brace: above it, split it by subject.
const maxFuncLines = 80

// funcLenPackages are the libraries whose functions are held to
// maxFuncLines, with their subpackages.
var funcLenPackages = []string{"pkg/spec", "pkg/plan", "pkg/validate", "pkg/population", "pkg/treasure"}

// longFuncAllowed lists the functions that may be longer, keyed by
// "pkg/dir.Recv.Func", each with the reason it is not split; the test fails
// when one of them is short enough or gone. None is needed today.
var longFuncAllowed = map[string]string{}

// longFuncs returns "pkg/file.go: Func (N lines)" for every function of the
// non-test, non-generated Go files under dir that is longer than
// maxFuncLines, keyed by "pkg.Recv.Func".
func longFuncs(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(filepath.Join("../..", dir), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		if ast.IsGenerated(f) {
			return nil
		}
		rel, _ := filepath.Rel("../..", path)
		pkg := filepath.ToSlash(filepath.Dir(rel))
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1
			if n <= maxFuncLines {
				continue
			}
			name := fd.Name.Name
			if fd.Recv != nil && len(fd.Recv.List) == 1 {
				name = recvName(fd.Recv.List[0].Type) + "." + name
			}
			out[pkg+"."+name] = filepath.ToSlash(rel) + ": " + name + " (" + strconv.Itoa(n) + " lines)"
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func recvName(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.StarExpr:
		return recvName(x.X)
	case *ast.IndexExpr:
		return recvName(x.X)
	case *ast.IndexListExpr:
		return recvName(x.X)
	case *ast.Ident:
		return x.Name
	}
	return "?"
}

// TestLibraryFunctionsAreShort fails for every function of the libraries
// longer than maxFuncLines that longFuncAllowed does not list with a reason.
func TestLibraryFunctionsAreShort(t *testing.T) {
	long := map[string]string{}
	for _, dir := range funcLenPackages {
		for k, v := range longFuncs(t, dir) {
			long[k] = v
		}
	}
	var keys []string
	for k := range long {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := longFuncAllowed[k]; !ok {
			t.Errorf("%s: longer than %d lines; split it by subject", long[k], maxFuncLines)
		}
	}
	for k := range longFuncAllowed {
		if _, ok := long[k]; !ok {
			t.Errorf("%s is allowed to be long but is no longer (or gone): remove it from longFuncAllowed", k)
		}
	}
}
