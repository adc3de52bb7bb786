package spec

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// crossFileRepo has problems that the checks find only across files: the
// parent segment declared in the last file (segments leave it out, so it
// is the default), references to segments of later and earlier files and
// to one that does not exist, a duplicate, renamedFrom lists that name a
// declared segment and each other's names, a reference cycle over three
// files, a segment that fails the schema and one that names an unknown
// parent.
var crossFileRepo = fstest.MapFS{
	"a/first.cue": {Data: []byte(`package shop

segments: "Early": {
	renamedFrom: ["Old", "Later"]
	where: [{attribute: "ltv", atLeast: 1}, {in: "Later"}, {in: "Latr"}]
}
segments: "Loop A": where: [{in: "Loop B"}]
segments: "Broken": {
	kind: 7
	where: [{attribute: "ltv", atLeast: "x"}, {in: "Nowhere"}, {attribute: "email", matches: "(["}]
}
`)},
	"b/middle.cue": {Data: []byte(`package shop

segments: "Early": where: [{attribute: "email", equals: "a"}]
segments: "Loop B": {
	renamedFrom: ["Old"]
	where: [{in: "Loop C"}, {attribute: "loyalty_teir", equals: "gold"}]
	activations: [{name: "Export", connection: "s3", columns: ["email", "emial"], schedule: repeat: "day"}]
}
segments: "Stray": {
	parent: "Shp"
	where: [{attribute: "ltv", atLeast: 1}]
}
`)},
	"c/last.cue": {Data: []byte(`package shop

parents: "Shop": {
	connection: "databricks-retail"
	customers: {catalog: "retail_prod", schema: "cdp", table: "customers", key: "customer_id"}
	attributes: {
		email: type: "string"
		ltv: type: "number"
		loyalty_tier: type: "string"
	}
	behaviors: orders: {
		time: "order_time"
		columns: amount: type: "number"
	}
}
folders: "Team": {}
segments: "Loop C": {
	folder: "Team/Sub"
	where: [{in: "Loop A"}, {behavior: "orders", sum: {of: "amont", atLeast: 10}}]
}
segments: "Later": where: [{in: "Early"}]
`)},
}

// leanRepos are the repositories whose lean and full loads are compared.
func leanRepos(t *testing.T) map[string]fs.FS {
	dirs, err := filepath.Glob("../../testdata/repos/*")
	if err != nil || len(dirs) < 10 {
		t.Fatalf("fixtures: %v %v", dirs, err)
	}
	repos := map[string]fs.FS{"cross-file": crossFileRepo, "retail": os.DirFS("../../examples/retail")}
	for _, d := range dirs {
		repos[filepath.Base(d)] = os.DirFS(d)
	}
	return repos
}

// withoutRules returns a copy of st whose segments have the zero Rule.
func withoutRules(st segment.State) segment.State {
	st.Segments = append([]segment.Segment(nil), st.Segments...)
	for i := range st.Segments {
		st.Segments[i].Rule = segment.Rule{}
	}
	return st
}

// sortFields sorts every Origin.Fields list under v by name: the fields of
// an activation's connector configuration come in no fixed order, from one
// evaluation to the next.
func sortFields(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			sortFields(v.Elem())
		}
	case reflect.Slice:
		if fs, ok := v.Interface().([]segment.FieldPos); ok {
			slices.SortStableFunc(fs, func(a, b segment.FieldPos) int { return strings.Compare(a.Name, b.Name) })
			return
		}
		for i := range v.Len() {
			sortFields(v.Index(i))
		}
	case reflect.Array:
		for i := range v.Len() {
			sortFields(v.Index(i))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				sortFields(v.Field(i))
			}
		}
	}
}

// oneShotFrom returns a one-shot cache holding every file's result of
// fsys as another process would export it.
func oneShotFrom(t *testing.T, fsys fs.FS) *Cache {
	t.Helper()
	dst := NewOneShotCache()
	exportInto(t, fsys, dst, nil)
	return dst
}

// exportInto loads fsys with a fresh cache, exports every file's result
// from it into dst, calls each (when not nil) after each file's import,
// and returns the load's result.
func exportInto(t *testing.T, fsys fs.FS, dst *Cache, each func(name string, b []byte, src *Cache)) *Result {
	t.Helper()
	src := NewCache()
	res, err := Load(context.Background(), fsys, Options{Cache: src})
	if err != nil {
		t.Fatal(err)
	}
	names, err := Files(fsys)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			t.Fatal(err)
		}
		data, err := src.Export(n, b)
		if err != nil {
			t.Fatalf("export %s: %v", n, err)
		}
		if err := dst.Import(n, b, data); err != nil {
			t.Fatalf("import %s: %v", n, err)
		}
		if each != nil {
			each(n, b, src)
		}
	}
	return res
}

// TestLeanLoadMatchesLoad: a lean load, evaluating the files itself or
// from a one-shot cache of another process's results, reports the same
// diagnostics in the same order as a full load, and the same state but
// for the rules; a full load from a one-shot cache returns what a fresh
// load returns.
func TestLeanLoadMatchesLoad(t *testing.T) {
	ctx := context.Background()
	for name, fsys := range leanRepos(t) {
		t.Run(name, func(t *testing.T) {
			want, err := Load(ctx, fsys, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if name == "cross-file" && len(want.Diagnostics) < 12 {
				t.Fatalf("the cross-file repository gives %d diagnostics, want at least 12:\n%s", len(want.Diagnostics), render(want.Diagnostics))
			}
			wantState := withoutRules(want.State)
			for _, mode := range []struct {
				name string
				opts Options
			}{
				{"lean", Options{Lean: true, Workers: 1}},
				{"lean, parallel", Options{Lean: true}},
				{"lean, one-shot cache", Options{Lean: true, Cache: oneShotFrom(t, fsys)}},
				{"lean, cache", Options{Lean: true, Cache: oneShotFrom(t, fsys)}},
				{"full, one-shot cache", Options{Cache: oneShotFrom(t, fsys)}},
			} {
				if mode.name == "lean, cache" {
					mode.opts.Cache = NewCache()
					if _, err := Load(ctx, fsys, Options{Cache: mode.opts.Cache}); err != nil {
						t.Fatal(err)
					}
				}
				got, err := Load(ctx, fsys, mode.opts)
				if err != nil {
					t.Fatalf("%s: %v", mode.name, err)
				}
				if d := firstDiff(reflect.ValueOf(want.Diagnostics), reflect.ValueOf(got.Diagnostics), "Diagnostics"); d != "" {
					t.Errorf("%s: diagnostics differ at %s:\n%s\nwant:\n%s", mode.name, d, render(got.Diagnostics), render(want.Diagnostics))
				}
				st, ws := got.State, want.State
				if mode.opts.Lean {
					ws = wantState
				}
				sortFields(reflect.ValueOf(&st))
				sortFields(reflect.ValueOf(&ws))
				if d := firstDiff(reflect.ValueOf(ws), reflect.ValueOf(st), "State"); d != "" {
					t.Errorf("%s: state differs at %s", mode.name, d)
				}
				if got.Files != want.Files {
					t.Errorf("%s: %d files, want %d", mode.name, got.Files, want.Files)
				}
			}
		})
	}
}

// TestOneShotCacheHandsOutOnce: the load that uses a one-shot cache takes
// its results; the next load evaluates the files again.
func TestOneShotCacheHandsOutOnce(t *testing.T) {
	ctx := context.Background()
	c := oneShotFrom(t, crossFileRepo)
	if c.Len() != 3 {
		t.Fatalf("one-shot cache holds %d results, want 3", c.Len())
	}
	r, err := Load(ctx, crossFileRepo, Options{Cache: c, Lean: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Cached != 3 || c.Len() != 0 {
		t.Errorf("first load: %d cached, %d left in the cache; want 3, 0", r.Cached, c.Len())
	}
	if r, err = Load(ctx, crossFileRepo, Options{Cache: c, Lean: true}); err != nil || r.Cached != 0 {
		t.Errorf("second load: %d cached (%v), want 0", r.Cached, err)
	}
}

// TestLeanLoadRefusesDamagedResult: a one-shot cache keeps what Import
// receives without decoding it; a damaged result fails the load.
func TestLeanLoadRefusesDamagedResult(t *testing.T) {
	fsys := fstest.MapFS{"a.cue": crossFileRepo["c/last.cue"]}
	c := NewOneShotCache()
	if err := c.Import("a.cue", fsys["a.cue"].Data, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(context.Background(), fsys, Options{Cache: c, Lean: true}); err == nil {
		t.Error("a damaged result loaded")
	}
}

// TestLeanLoadHoldsLittle measures the memory a lean load keeps once it
// returns: segments without rules, and no decoded file result; a full
// load keeps every rule, with their positions, and a cache every result.
// Memory only, not time.
func TestLeanLoadHoldsLittle(t *testing.T) {
	if testing.Short() {
		t.Skip("evaluates 2,000 files")
	}
	const n = 2000
	fsys := genRepo(t, n)
	ctx := context.Background()
	// retained is what a load keeps, the cache that opts gives included.
	retained := func(opts func() Options) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&before)
		o := opts()
		r, err := Load(ctx, fsys, o)
		if err != nil {
			t.Fatal(err)
		}
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(r)
		runtime.KeepAlive(o.Cache)
		return (after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc)) / n
	}
	lean := retained(func() Options { return Options{Lean: true, Cache: oneShotFrom(t, fsys)} })
	full := retained(func() Options { return Options{Cache: oneShotFrom(t, fsys)} })
	t.Logf("bytes kept per file: lean load from a one-shot cache %d, full load from one %d", lean, full)
	// A segment struct is 512 bytes; its name, folder, description and
	// positions about 300 more.
	if lean > 1200 {
		t.Errorf("a lean load keeps %d bytes per file, want at most 1,200 (a full load keeps %d)", lean, full)
	}
}
