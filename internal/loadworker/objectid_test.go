package loadworker

import (
	"context"
	"crypto/sha1" //nolint:gosec // object ids
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/cas-reconciler/reconciler/pkg/spec"
)

// idFS is a MapFS that gives git object ids as a commit's tree does: a
// file's is its blob hash, a directory's a hash of its entries' names and
// ids (not git's tree encoding, but it changes exactly when something under
// the directory does). reads counts the reads of each file's content.
type idFS struct {
	fstest.MapFS
	mu    sync.Mutex
	reads map[string]int
}

var _ spec.GitObjectIDFS = (*idFS)(nil)

func newIDFS(m fstest.MapFS) *idFS { return &idFS{MapFS: m, reads: map[string]int{}} }

func (f *idFS) count(name string) {
	if _, ok := f.MapFS[name]; ok {
		f.mu.Lock()
		f.reads[name]++
		f.mu.Unlock()
	}
}

func (f *idFS) Open(name string) (fs.File, error) {
	f.count(name)
	return f.MapFS.Open(name)
}

func (f *idFS) ReadFile(name string) ([]byte, error) {
	f.count(name)
	return f.MapFS.ReadFile(name)
}

func (f *idFS) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.reads {
		n += c
	}
	return n
}

func (f *idFS) GitObjectID(name string) ([20]byte, bool) {
	if m, ok := f.MapFS[name]; ok {
		h := sha1.New() //nolint:gosec // object ids
		h.Write([]byte("blob " + strconv.Itoa(len(m.Data)) + "\x00"))
		h.Write(m.Data)
		var id [20]byte
		h.Sum(id[:0])
		return id, true
	}
	ents, err := f.MapFS.ReadDir(name)
	if err != nil {
		return [20]byte{}, false
	}
	h := sha1.New() //nolint:gosec // object ids
	for _, e := range ents {
		child := e.Name()
		if name != "." {
			child = name + "/" + child
		}
		id, _ := f.GitObjectID(child)
		h.Write([]byte(e.Name() + "\x00"))
		h.Write(id[:])
	}
	var id [20]byte
	h.Sum(id[:0])
	return id, true
}

// TestUnchangedFilesAreNotRead: with git object ids, a second load of the
// same tree reads no file; after a change it reads the changed file only,
// once.
func TestUnchangedFilesAreNotRead(t *testing.T) {
	fsys := newIDFS(retail(t))
	l := New(Limits{})
	first, err := l.Load(context.Background(), fsys)
	if err != nil {
		t.Fatal(err)
	}
	fsys.reads = map[string]int{}
	again, err := l.Load(context.Background(), fsys)
	if err != nil {
		t.Fatal(err)
	}
	if n := fsys.total(); n != 0 {
		t.Errorf("the second load read %d files: %v", n, fsys.reads)
	}
	if len(again.State.Segments) != len(first.State.Segments) || again.Files != first.Files {
		t.Errorf("second load: %d segments in %d files, want %d in %d", len(again.State.Segments), again.Files, len(first.State.Segments), first.Files)
	}
	fsys.MapFS["segments/new.cue"] = &fstest.MapFile{Data: []byte("package retail\n\nsegments: \"New\": where: [{attribute: \"country\", oneOf: [\"DE\"]}]\n")}
	fsys.reads = map[string]int{}
	changed, err := l.Load(context.Background(), fsys)
	if err != nil {
		t.Fatal(err)
	}
	if n := fsys.total(); n != 1 || fsys.reads["segments/new.cue"] != 1 {
		t.Errorf("the load after a change read %v, want the new file once", fsys.reads)
	}
	if len(changed.State.Segments) != len(first.State.Segments)+1 {
		t.Errorf("%d segments after adding one to %d", len(changed.State.Segments), len(first.State.Segments))
	}
}

// TestSkippedFileInCachedDirectory: a file loaded before, in a directory
// whose listing is cached, is skipped when it is over a cap of a later load
// (here the file size limit, lowered), and is not taken from the cache.
func TestSkippedFileInCachedDirectory(t *testing.T) {
	fsys := newIDFS(retail(t))
	fsys.MapFS["segments/zz.cue"] = &fstest.MapFile{Data: []byte("package retail\n\nsegments: \"Big\": where: [{attribute: \"country\", oneOf: [\"DE\"]}]\n// " + strings.Repeat("x", 8192) + "\n")}
	l := New(Limits{})
	first, err := l.Load(context.Background(), fsys)
	if err != nil {
		t.Fatal(err)
	}
	for _, limits := range []Limits{{MaxFileBytes: 4096}, {MaxTotalBytes: total(fsys) - 1}} {
		l.Limits = limits
		res, err := l.Load(context.Background(), fsys)
		if c := codes(err)["segments/zz.cue"]; c != CodeFileTooLarge && c != CodeRepoTooLarge {
			t.Fatalf("%+v: err = %v, want segments/zz.cue over a cap", limits, err)
		}
		for _, s := range res.State.Segments {
			if s.Name == "Big" {
				t.Errorf("%+v: the skipped file's segment was loaded", limits)
			}
		}
		if len(res.State.Segments) != len(first.State.Segments)-1 {
			t.Errorf("%+v: %d segments, want %d", limits, len(res.State.Segments), len(first.State.Segments)-1)
		}
	}
}

func total(m *idFS) int64 {
	var n int64
	names, _ := spec.Files(m.MapFS)
	for _, name := range names {
		n += int64(len(m.MapFS[name].Data))
	}
	return n
}
