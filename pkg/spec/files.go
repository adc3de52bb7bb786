package spec

import (
	"crypto/sha1" //nolint:gosec // git object ids, not a security measure
	"crypto/sha256"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// GitObjectIDFS is a file system that knows the git object id of its files
// and directories, as a commit's tree does: the blob hash of a file, and the
// tree hash of a directory, which covers every name, mode and content under
// it. Load discovers it on its fs.FS by type assertion; it then neither
// reads nor hashes a file whose path and id it has seen, and does not list a
// directory whose path and id it has seen. Without it (an os.DirFS, say)
// Load reads every file and hashes its content the same way.
type GitObjectIDFS interface {
	fs.FS
	// GitObjectID returns the object id of the file or directory name
	// (a path as for Open; "." is the root), or false when it has none.
	GitObjectID(name string) (id [20]byte, ok bool)
}

// gitBlobID returns the git object id of a blob with content src.
func gitBlobID(src []byte) [20]byte {
	h := sha1.New() //nolint:gosec // git object ids
	h.Write([]byte("blob " + strconv.Itoa(len(src)) + "\x00"))
	h.Write(src)
	var id [20]byte
	h.Sum(id[:0])
	return id
}

// objectKey is the cache key of a file ('f') or directory listing ('d') of
// the given path and git object id, under the embedded schema.
func objectKey(kind byte, name string, id [20]byte) cacheKey {
	h := sha256.New()
	h.Write(schemaVersion[:])
	h.Write([]byte{kind})
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write(id[:])
	var k cacheKey
	h.Sum(k[:0])
	return k
}

// fileRef is a CUE file to load: its path and, when the file system gave
// its object id, its cache key.
type fileRef struct {
	name  string
	key   cacheKey
	keyed bool
}

// listFiles lists the CUE files of fsys in lexical order, in runs. When
// fsys gives object ids, each file comes with its cache key and the runs
// under a directory seen before (same path, same tree id) are taken from c,
// so that a load after a change lists the changed directories only.
func listFiles(fsys fs.FS, c *Cache) ([][]fileRef, error) {
	ids, ok := fsys.(GitObjectIDFS)
	if !ok {
		names, err := cueFiles(fsys)
		if err != nil {
			return nil, err
		}
		refs := make([]fileRef, len(names))
		for i, n := range names {
			refs[i].name = n
		}
		return [][]fileRef{refs}, nil
	}
	l := lister{fsys: ids, cache: c}
	if _, err := l.dir("."); err != nil {
		return nil, fmt.Errorf("list files: %w", err)
	}
	l.flush()
	return l.runs, nil
}

// lister walks a GitObjectIDFS.
type lister struct {
	fsys  GitObjectIDFS
	cache *Cache
	runs  [][]fileRef
	run   []fileRef // files of the directory being listed, not yet in runs
}

func (l *lister) flush() {
	if len(l.run) > 0 {
		l.runs = append(l.runs, l.run[:len(l.run):len(l.run)])
		l.run = nil
	}
}

// dir appends the CUE files under directory p, in lexical order, and
// reports whether each of them has a key (then the listing is cached).
func (l *lister) dir(p string) (bool, error) {
	id, hasID := l.fsys.GitObjectID(p)
	var key cacheKey
	l.flush()
	if hasID {
		key = objectKey('d', p, id)
		if runs, ok := l.cache.listing(key); ok {
			l.runs = append(l.runs, runs...)
			return true, nil
		}
	}
	ents, err := fs.ReadDir(l.fsys, p)
	if err != nil {
		return false, err
	}
	start, keyed := len(l.runs), hasID
	for _, d := range ents {
		child := d.Name()
		if p != "." {
			child = p + "/" + child
		}
		switch {
		case d.IsDir():
			if skippedDir(d.Name()) {
				continue
			}
			sub, err := l.dir(child)
			if err != nil {
				return false, err
			}
			keyed = keyed && sub
		case isCUEFile(d):
			ref := fileRef{name: child}
			if id, ok := l.fsys.GitObjectID(child); ok {
				ref.key, ref.keyed = objectKey('f', child, id), true
			}
			keyed = keyed && ref.keyed
			l.run = append(l.run, ref)
		}
	}
	l.flush()
	if keyed {
		l.cache.putListing(key, slices.Clone(l.runs[start:]))
	}
	return keyed, nil
}

// skippedDir reports whether Load skips a directory of this name (not the
// root).
func skippedDir(name string) bool {
	return name == "cue.mod" || name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")
}

// isCUEFile reports whether Load reads the directory entry as a CUE file.
func isCUEFile(d fs.DirEntry) bool {
	name := d.Name()
	return path.Ext(name) == ".cue" && !strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "_") && d.Type().IsRegular()
}

// cueFiles lists the CUE files of fsys in lexical order.
func cueFiles(fsys fs.FS) ([]string, error) {
	var files []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && skippedDir(d.Name()) {
				return fs.SkipDir
			}
			return nil
		}
		if isCUEFile(d) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list files: %w", err)
	}
	return files, nil
}
