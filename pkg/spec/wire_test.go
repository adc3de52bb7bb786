package spec

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"
)

// firstDiff returns the path of the first difference of a and b, "" when
// they are the same. It is reflect.DeepEqual except that a nil and an empty
// slice or map are the same (encoding/gob does not keep the difference).
func firstDiff(a, b reflect.Value, path string) string {
	if a.Kind() != b.Kind() {
		return path + ": kind"
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				return path + ": nil"
			}
			return ""
		}
		return firstDiff(a.Elem(), b.Elem(), path)
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return fmt.Sprintf("%s: length %d, %d", path, a.Len(), b.Len())
		}
		for i := range a.Len() {
			if d := firstDiff(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
		return ""
	case reflect.Map:
		if a.Len() != b.Len() {
			return fmt.Sprintf("%s: length %d, %d", path, a.Len(), b.Len())
		}
		for _, k := range a.MapKeys() {
			bv := b.MapIndex(k)
			if !bv.IsValid() {
				return fmt.Sprintf("%s[%v]: missing", path, k)
			}
			if d := firstDiff(a.MapIndex(k), bv, fmt.Sprintf("%s[%v]", path, k)); d != "" {
				return d
			}
		}
		return ""
	case reflect.Struct:
		if a.Type() != b.Type() {
			return path + ": type"
		}
		if t, ok := timeOf(a); ok {
			if u, _ := timeOf(b); !t.Equal(u) {
				return path + ": time"
			}
			return ""
		}
		for i := range a.NumField() {
			if a.Type() == reflect.TypeFor[fileResult]() && a.Type().Field(i).Name == "memo" {
				// Check results of earlier loads, not read from the file.
				continue
			}
			if d := firstDiff(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); d != "" {
				return d
			}
		}
		return ""
	}
	same := false
	switch a.Kind() {
	case reflect.Bool:
		same = a.Bool() == b.Bool()
	case reflect.String:
		same = a.String() == b.String()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		same = a.Int() == b.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		same = a.Uint() == b.Uint()
	case reflect.Float32, reflect.Float64:
		same = a.Float() == b.Float()
	}
	if !same {
		return fmt.Sprintf("%s: %v, %v", path, a, b)
	}
	return ""
}

// timeOf returns the time of a time.Time value, also one read from an
// unexported field.
func timeOf(v reflect.Value) (time.Time, bool) {
	if v.Type() != reflect.TypeOf(time.Time{}) {
		return time.Time{}, false
	}
	if !v.CanAddr() {
		c := reflect.New(v.Type()).Elem()
		c.Set(v)
		v = c
	}
	return *(*time.Time)(v.Addr().UnsafePointer()), true
}

// TestCacheExportImport: every file result of every example repository,
// valid and broken, survives Export and Import, so that a load from the
// imported cache evaluates nothing and returns what a fresh load returns.
func TestCacheExportImport(t *testing.T) {
	dirs, err := filepath.Glob("../../testdata/repos/*")
	dirs = append(dirs, "../../examples/retail")
	if err != nil || len(dirs) < 5 {
		t.Fatalf("fixtures: %v %v", dirs, err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			fsys := os.DirFS(dir)
			dst := NewCache()
			// The per-file results themselves are the same.
			want := exportInto(t, fsys, dst, func(n string, b []byte, src *Cache) {
				k := newCacheKey(n, b)
				if d := firstDiff(reflect.ValueOf(src.entries[k].r), reflect.ValueOf(dst.entries[k].r), "result"); d != "" {
					t.Errorf("%s: the result changed through Export and Import at %s", n, d)
				}
			})
			got, err := Load(context.Background(), fsys, Options{Cache: dst, Evaluated: func(f string) { t.Errorf("%s evaluated again", f) }})
			if err != nil {
				t.Fatal(err)
			}
			if got.Cached != got.Files {
				t.Errorf("cached %d of %d files", got.Cached, got.Files)
			}
			got.Cached = want.Cached
			if d := firstDiff(reflect.ValueOf(*want), reflect.ValueOf(*got), "Result"); d != "" {
				t.Errorf("a load from the imported cache differs at %s", d)
			}
		})
	}
	if _, err := NewCache().Export("x.cue", nil); err != ErrNotCached {
		t.Errorf("Export of a file not cached = %v", err)
	}
}

// TestEvaluateGivesExports: Evaluate hands on, for every file of every
// example repository, the result a Load caches, each file once;
// an error of done stops it and is returned.
func TestEvaluateGivesExports(t *testing.T) {
	dirs, err := filepath.Glob("../../testdata/repos/*")
	dirs = append(dirs, "../../examples/retail")
	if err != nil || len(dirs) < 5 {
		t.Fatalf("fixtures: %v %v", dirs, err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			fsys := os.DirFS(dir)
			c := NewCache()
			if _, err := Load(context.Background(), fsys, Options{Cache: c}); err != nil {
				t.Fatal(err)
			}
			names, err := Files(fsys)
			if err != nil {
				t.Fatal(err)
			}
			srcs := make([][]byte, len(names))
			for i, n := range names {
				if srcs[i], err = fs.ReadFile(fsys, n); err != nil {
					t.Fatal(err)
				}
			}
			var mu sync.Mutex
			got, started := map[string][]byte{}, map[string]int{}
			err = Evaluate(context.Background(), names, srcs, Options{Workers: 2, Evaluating: func(n string) {
				mu.Lock()
				started[n]++
				mu.Unlock()
			}}, func(n string, data []byte) error {
				mu.Lock()
				defer mu.Unlock()
				if _, dup := got[n]; dup {
					t.Errorf("%s given twice", n)
				}
				got[n] = data
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			dst := NewCache()
			for i, n := range names {
				if err := dst.Import(n, srcs[i], got[n]); err != nil {
					t.Fatalf("import %s: %v", n, err)
				}
				k := newCacheKey(n, srcs[i])
				if d := firstDiff(reflect.ValueOf(c.entries[k].r), reflect.ValueOf(dst.entries[k].r), "result"); d != "" {
					t.Errorf("%s: Evaluate's result differs from Load's at %s", n, d)
				}
				if started[n] != 1 {
					t.Errorf("%s: Evaluating called %d times", n, started[n])
				}
			}
			if len(got) != len(names) {
				t.Errorf("%d results for %d files", len(got), len(names))
			}
		})
	}
	fsys := os.DirFS("../../examples/retail")
	names, _ := Files(fsys)
	srcs := make([][]byte, len(names))
	for i, n := range names {
		srcs[i], _ = fs.ReadFile(fsys, n)
	}
	stop := errors.New("stop")
	calls := 0
	err = Evaluate(context.Background(), names, srcs, Options{Workers: 1}, func(string, []byte) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Errorf("Evaluate after done failed = %v with %d calls, want stop after 1", err, calls)
	}
}

// TestImportRefusesDamagedData: every truncation of an export, and one with
// a byte appended, is an error, never a panic or a wrong result.
func TestImportRefusesDamagedData(t *testing.T) {
	fsys := os.DirFS("../../examples/retail")
	c := NewCache()
	if _, err := Load(context.Background(), fsys, Options{Cache: c}); err != nil {
		t.Fatal(err)
	}
	src, err := fs.ReadFile(fsys, "parent.cue")
	if err != nil {
		t.Fatal(err)
	}
	data, err := c.Export("parent.cue", src)
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(data) {
		if err := NewCache().Import("parent.cue", src, data[:n]); err == nil {
			t.Fatalf("import of %d of %d bytes succeeded", n, len(data))
		}
	}
	if err := NewCache().Import("parent.cue", src, append(data, 0)); err == nil {
		t.Error("import with a trailing byte succeeded")
	}
	if err := NewCache().Import("other.cue", src, data); err == nil {
		t.Error("import under another name succeeded")
	}
}
