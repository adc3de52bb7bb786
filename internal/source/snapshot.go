package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Snapshot is the content of one commit of the followed branch.
type Snapshot struct {
	// Revision is the full commit SHA.
	Revision string
	// Branch is the branch the commit was the tip of.
	Branch string
	// Path is the directory within the repository that FS is rooted at
	// ("." for the root).
	Path string
	// URL is the repository URL, redacted.
	URL string
	// FS is the commit's tree under Path, read-only. Blobs are read from the
	// object store when a file is opened; nothing is checked out. Symbolic
	// links are listed (with fs.ModeSymlink) but not followed: opening one
	// fails. Submodules are not listed.
	//
	// An FS from an in-memory cache stays readable as long as it is
	// referenced. One from an on-disk cache stays readable until the cache
	// has been rebuilt twice after it was taken; call Materialize to keep
	// files longer.
	FS fs.FS
	// Time is the commit time, in UTC.
	Time time.Time
	// Author is the commit author's name.
	Author string
	// Subject is the first line of the commit message.
	Subject string
}

// Short returns the first 12 characters of the revision, for display.
func (s Snapshot) Short() string {
	if len(s.Revision) > 12 {
		return s.Revision[:12]
	}
	return s.Revision
}

// Materialize writes the snapshot's regular files and directories under dir,
// which is created if needed and must not already contain the files.
// Symbolic links are skipped. Executable bits are kept.
func (s Snapshot) Materialize(dir string) error {
	if s.FS == nil {
		return errors.New("materialize: empty snapshot")
	}
	return fs.WalkDir(s.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, 0o755)
		case !d.Type().IsRegular():
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := fs.ReadFile(s.FS, p)
		if err != nil {
			return err
		}
		perm := fs.FileMode(0o644)
		if info.Mode()&0o111 != 0 {
			perm = 0o755
		}
		f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if err != nil {
			return fmt.Errorf("materialize: %w", err)
		}
		if _, err := f.Write(b); err != nil {
			f.Close()
			return fmt.Errorf("materialize: %w", err)
		}
		return f.Close()
	})
}

// MaterializeTemp writes the snapshot into a new temporary directory and
// returns its path; the caller removes it.
func (s Snapshot) MaterializeTemp() (string, error) {
	dir, err := os.MkdirTemp("", "snapshot-"+s.Short()+"-")
	if err != nil {
		return "", fmt.Errorf("materialize: %w", err)
	}
	if err := s.Materialize(dir); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// treeFS is an fs.FS over a git tree in an object store.
type treeFS struct {
	st    *store
	mtime time.Time

	mu   sync.Mutex
	dirs map[string]*object.Tree // decoded trees by slash path ("." is the root)
}

var (
	_ fs.ReadDirFS  = (*treeFS)(nil)
	_ fs.ReadFileFS = (*treeFS)(nil)
	_ fs.StatFS     = (*treeFS)(nil)
)

func newTreeFS(st *store, root *object.Tree, mtime time.Time) *treeFS {
	return &treeFS{st: st, mtime: mtime, dirs: map[string]*object.Tree{".": root}}
}

// tree returns the decoded tree of directory p, decoding each directory at
// most once (go-git's path lookups re-decode every level on each call).
func (t *treeFS) tree(p string) (*object.Tree, error) {
	t.mu.Lock()
	tr, ok := t.dirs[p]
	t.mu.Unlock()
	if ok {
		return tr, nil
	}
	parent, err := t.tree(path.Dir(p))
	if err != nil {
		return nil, err
	}
	e, ok := findEntry(parent, path.Base(p))
	if !ok || e.Mode != filemode.Dir {
		return nil, fs.ErrNotExist
	}
	t.st.mu.RLock()
	tr, err = object.GetTree(t.st.repo.Storer, e.Hash)
	t.st.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.dirs[p] = tr
	t.mu.Unlock()
	return tr, nil
}

// findEntry finds the entry name of tree tr. Git sorts tree entries by
// name, directories as if their names ended in "/": name is searched for
// as a file and as a directory, by bisection, and by a scan when neither
// is found (a tree written out of order).
func findEntry(tr *object.Tree, name string) (object.TreeEntry, bool) {
	for _, suffix := range []string{"", "/"} {
		key := name + suffix
		i, found := slices.BinarySearchFunc(tr.Entries, key, func(e object.TreeEntry, key string) int {
			return compareGitName(e, key)
		})
		if found && tr.Entries[i].Name == name {
			return tr.Entries[i], true
		}
	}
	for _, e := range tr.Entries {
		if e.Name == name {
			return e, true
		}
	}
	return object.TreeEntry{}, false
}

// compareGitName compares the sort key of tree entry e (its name, with a
// "/" after a directory's) with key.
func compareGitName(e object.TreeEntry, key string) int {
	n := e.Name
	common := min(len(n), len(key))
	if c := strings.Compare(n[:common], key[:common]); c != 0 {
		return c
	}
	if len(n) > len(key) {
		return 1
	}
	// key is n and then rest: compare the "/" after a directory's name
	// (nothing after a file's) with rest.
	rest := key[len(n):]
	if e.Mode == filemode.Dir {
		return strings.Compare("/", rest)
	}
	return strings.Compare("", rest)
}

// entry resolves a path to its tree entry; "." is the root directory.
func (t *treeFS) entry(op, name string) (object.TreeEntry, error) {
	if !fs.ValidPath(name) {
		return object.TreeEntry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return object.TreeEntry{Name: ".", Mode: filemode.Dir}, nil
	}
	parent, err := t.tree(path.Dir(name))
	if err != nil {
		return object.TreeEntry{}, &fs.PathError{Op: op, Path: name, Err: asNotExist(err)}
	}
	e, ok := findEntry(parent, path.Base(name))
	if !ok || e.Mode == filemode.Submodule {
		return object.TreeEntry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return e, nil
}

func asNotExist(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, plumbing.ErrObjectNotFound) {
		return fs.ErrNotExist
	}
	return err
}

// Open opens a file or directory.
func (t *treeFS) Open(name string) (fs.File, error) {
	e, err := t.entry("open", name)
	if err != nil {
		return nil, err
	}
	info := &fileInfo{t: t, e: e}
	if name == "." {
		info.e.Name = "."
	}
	switch {
	case e.Mode == filemode.Dir:
		ents, err := t.ReadDir(name)
		if err != nil {
			return nil, err
		}
		return &dirFile{info: info, ents: ents}, nil
	case e.Mode == filemode.Symlink:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("symbolic links are not followed: %w", fs.ErrInvalid)}
	}
	b, err := t.blob(e.Hash)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	info.size = int64(len(b))
	info.sized = true
	return &file{info: info, r: bytes.NewReader(b)}, nil
}

// GitObjectID returns the blob hash of a file or the tree hash of a
// directory, so that a spec.Load reads only files and lists only
// directories it has not seen. Symbolic links have none: they are not
// followed.
func (t *treeFS) GitObjectID(name string) ([20]byte, bool) {
	var id plumbing.Hash
	if name == "." {
		root, err := t.tree(".")
		if err != nil {
			return id, false
		}
		return root.Hash, true
	}
	e, err := t.entry("stat", name)
	if err != nil || e.Mode == filemode.Symlink {
		return id, false
	}
	return e.Hash, true
}

// ReadFile reads a whole file.
func (t *treeFS) ReadFile(name string) ([]byte, error) {
	e, err := t.entry("read", name)
	if err != nil {
		return nil, err
	}
	if e.Mode == filemode.Dir || e.Mode == filemode.Symlink {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrInvalid}
	}
	b, err := t.blob(e.Hash)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	return b, nil
}

// ReadDir lists a directory, sorted by name.
func (t *treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrInvalid}
	}
	tr, err := t.tree(name)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: asNotExist(err)}
	}
	out := make([]fs.DirEntry, 0, len(tr.Entries))
	for _, e := range tr.Entries {
		if e.Mode == filemode.Submodule {
			continue
		}
		out = append(out, fs.FileInfoToDirEntry(&fileInfo{t: t, e: e}))
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

// Stat describes a file or directory.
func (t *treeFS) Stat(name string) (fs.FileInfo, error) {
	e, err := t.entry("stat", name)
	if err != nil {
		return nil, err
	}
	if name == "." {
		e.Name = "."
	}
	return &fileInfo{t: t, e: e}, nil
}

func (t *treeFS) blob(h plumbing.Hash) ([]byte, error) {
	t.st.mu.RLock()
	defer t.st.mu.RUnlock()
	o, err := t.st.repo.Storer.EncodedObject(plumbing.BlobObject, h)
	if err != nil {
		return nil, asNotExist(err)
	}
	rd, err := o.Reader()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	return io.ReadAll(rd)
}

func (t *treeFS) size(h plumbing.Hash) int64 {
	t.st.mu.RLock()
	defer t.st.mu.RUnlock()
	n, err := t.st.repo.Storer.EncodedObjectSize(h)
	if err != nil {
		return 0
	}
	return n
}

// fileInfo implements fs.FileInfo for a tree entry.
type fileInfo struct {
	t     *treeFS
	e     object.TreeEntry
	size  int64 // valid when sized is set at construction
	sized bool
}

func (i *fileInfo) Name() string { return i.e.Name }
func (i *fileInfo) Size() int64 {
	if i.e.Mode == filemode.Dir {
		return 0
	}
	if i.sized {
		return i.size
	}
	return i.t.size(i.e.Hash)
}
func (i *fileInfo) Mode() fs.FileMode {
	switch i.e.Mode {
	case filemode.Dir:
		return fs.ModeDir | 0o555
	case filemode.Executable:
		return 0o555
	case filemode.Symlink:
		return fs.ModeSymlink | 0o444
	default:
		return 0o444
	}
}
func (i *fileInfo) ModTime() time.Time { return i.t.mtime }
func (i *fileInfo) IsDir() bool        { return i.e.Mode == filemode.Dir }
func (i *fileInfo) Sys() any           { return nil }

// file is an open regular file.
type file struct {
	info *fileInfo
	r    *bytes.Reader
}

func (f *file) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *file) Read(b []byte) (int, error) { return f.r.Read(b) }
func (f *file) Seek(off int64, whence int) (int64, error) {
	return f.r.Seek(off, whence)
}
func (f *file) ReadAt(b []byte, off int64) (int, error) { return f.r.ReadAt(b, off) }
func (f *file) Close() error                            { return nil }

// dirFile is an open directory.
type dirFile struct {
	info *fileInfo
	ents []fs.DirEntry
	off  int
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.Name(), Err: errors.New("is a directory")}
}
func (d *dirFile) Close() error { return nil }
func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.ents[d.off:]
	if n <= 0 {
		d.off = len(d.ents)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.off += n
	return rest[:n], nil
}
