package spec

import (
	"context"
	"crypto/sha1" //nolint:gosec // object ids
	"io/fs"
	"path"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// idFS is a MapFS that gives git object ids as a commit's tree does: a
// file's is its blob hash, a directory's a hash of its entries' names, modes
// and ids (not git's tree encoding, but it changes exactly when something
// under the directory does). Ids are computed when first asked and kept
// until set changes a file, as are directory listings (a MapFS lists a
// directory by going over every file); opens counts the files opened.
type idFS struct {
	fstest.MapFS
	mu    sync.Mutex
	ids   map[string][20]byte
	dirs  map[string][]fs.DirEntry
	opens int
}

var _ GitObjectIDFS = (*idFS)(nil)

func newIDFS(m fstest.MapFS) *idFS {
	return &idFS{MapFS: m, ids: map[string][20]byte{}, dirs: map[string][]fs.DirEntry{}}
}

func (f *idFS) ReadDir(name string) ([]fs.DirEntry, error) {
	f.mu.Lock()
	ents, ok := f.dirs[name]
	f.mu.Unlock()
	if ok {
		return ents, nil
	}
	ents, err := f.MapFS.ReadDir(name)
	if err == nil {
		f.mu.Lock()
		f.dirs[name] = ents
		f.mu.Unlock()
	}
	return ents, err
}

func (f *idFS) Open(name string) (fs.File, error) {
	if _, ok := f.MapFS[name]; ok {
		f.mu.Lock()
		f.opens++
		f.mu.Unlock()
	}
	return f.MapFS.Open(name)
}

// set changes (data != nil) or removes a file and forgets the ids of it and
// its directories.
func (f *idFS) set(name string, data []byte) {
	_, existed := f.MapFS[name]
	if data == nil {
		delete(f.MapFS, name)
	} else {
		f.MapFS[name] = &fstest.MapFile{Data: data}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for p := name; ; p = path.Dir(p) {
		delete(f.ids, p)
		if existed != (data != nil) {
			delete(f.dirs, p)
		}
		if p == "." {
			return
		}
	}
}

func (f *idFS) GitObjectID(name string) ([20]byte, bool) {
	f.mu.Lock()
	id, ok := f.ids[name]
	f.mu.Unlock()
	if ok {
		return id, true
	}
	if file, ok := f.MapFS[name]; ok {
		id = gitBlobID(file.Data)
	} else {
		ents, err := f.ReadDir(name)
		if err != nil {
			return id, false
		}
		h := sha1.New() //nolint:gosec // object ids
		for _, e := range ents {
			child := path.Join(name, e.Name())
			cid, ok := f.GitObjectID(child)
			if !ok {
				return id, false
			}
			h.Write([]byte(e.Name() + "\x00" + e.Type().String() + "\x00"))
			h.Write(cid[:])
		}
		h.Sum(id[:0])
	}
	f.mu.Lock()
	f.ids[name] = id
	f.mu.Unlock()
	return id, true
}

// TestObjectIDsSkipUnchangedFiles checks that a load through a
// GitObjectIDFS reads only the file that changed since the last load, and
// returns what a load that reads everything returns.
func TestObjectIDsSkipUnchangedFiles(t *testing.T) {
	ctx := context.Background()
	fsys := newIDFS(genRepo(t, 60))
	cache := NewCache()
	if _, err := Load(ctx, fsys, Options{Cache: cache}); err != nil {
		t.Fatal(err)
	}
	if fsys.opens != 61 {
		t.Fatalf("first load opened %d files, want 61", fsys.opens)
	}
	fsys.opens = 0
	name := "team-07/seg-00007.cue"
	fsys.set(name, []byte(strings.Replace(genSegment(7), "atLeast: 7}", "atLeast: 8}", 1)))
	fsys.set("team-03/seg-00063.cue", []byte(genSegment(63)))
	got, err := Load(ctx, fsys, Options{Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	if fsys.opens != 2 || got.Cached != 60 || got.Files != 62 {
		t.Errorf("after two changes: opened %d files, %d of %d cached; want 2, 60 of 62", fsys.opens, got.Cached, got.Files)
	}
	want, err := Load(ctx, fsys.MapFS, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.State, want.State) || render(got.Diagnostics) != render(want.Diagnostics) {
		t.Error("the load through object ids differs from a load that reads every file")
	}
	// A removed file leaves the state, though its directory's other files
	// are not read.
	fsys.opens = 0
	fsys.set("team-03/seg-00063.cue", nil)
	got, err = Load(ctx, fsys, Options{Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	if fsys.opens != 0 || got.Files != 61 || slices.ContainsFunc(got.State.Segments, func(s segment.Segment) bool { return s.Name == "Generated 00063" }) {
		t.Errorf("after removing a file: opened %d, %d files; want 0 and 61, without the removed segment", fsys.opens, got.Files)
	}
}
