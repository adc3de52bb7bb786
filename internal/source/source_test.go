package source

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/cas-reconciler/reconciler/internal/standin/gittest"
	"github.com/cas-reconciler/reconciler/pkg/spec"
)

func newRepo(t *testing.T, o Options) *Repo {
	t.Helper()
	r, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func fetch(t *testing.T, r *Repo) Snapshot {
	t.Helper()
	s, err := r.Fetch(context.Background())
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	return s
}

func readFile(t *testing.T, fsys fs.FS, name string) string {
	t.Helper()
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

var sample = map[string]string{
	"README.md":                 "docs\n",
	"segments/parent.cue":       "package segments\n\nparent: {}\n",
	"segments/team-a/one.cue":   "package segments\n\none: 1\n",
	"segments/team-a/two.cue":   "package segments\n\ntwo: 2\n",
	"segments/team-b/three.cue": "package segments\n\nthree: 3\n",
	"other/x.txt":               "x",
}

func TestFetchSnapshotFS(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "segments")
	sha := repo.Commit(t, "Add segments\n\nLonger body.", sample)

	r := newRepo(t, Options{URL: repo.URL()})
	s := fetch(t, r)
	if s.Revision != sha {
		t.Fatalf("Revision = %s, want %s", s.Revision, sha)
	}
	if s.Branch != "main" || s.Subject != "Add segments" || s.Author != "Test Author" || s.Time.IsZero() {
		t.Fatalf("snapshot metadata = %+v", s)
	}
	if err := fstest.TestFS(s.FS, "README.md", "segments/parent.cue", "segments/team-a/one.cue",
		"segments/team-b/three.cue", "other/x.txt"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, s.FS, "segments/team-a/two.cue"); got != sample["segments/team-a/two.cue"] {
		t.Fatalf("two.cue = %q", got)
	}
	if _, err := fs.Stat(s.FS, "segments/missing.cue"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat missing: %v, want ErrNotExist", err)
	}
	if _, err := s.FS.Open("../etc/passwd"); !errors.Is(err, fs.ErrInvalid) {
		t.Fatalf("Open ../: %v, want ErrInvalid", err)
	}

	// Rooted at a path within the repository.
	rp := newRepo(t, Options{URL: repo.URL(), Path: "/segments/"})
	sp := fetch(t, rp)
	if err := fstest.TestFS(sp.FS, "parent.cue", "team-a/one.cue", "team-a/two.cue", "team-b/three.cue"); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Stat(sp.FS, "README.md"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("file outside Path is visible: %v", err)
	}
}

func TestFetchFollowsChanges(t *testing.T) {
	for _, mode := range []string{"memory", "disk"} {
		t.Run(mode, func(t *testing.T) {
			srv := gittest.NewServer(t)
			repo := srv.NewRepo(t, "segments")
			first := repo.Commit(t, "first", sample)
			o := Options{URL: repo.URL(), Path: "segments"}
			if mode == "disk" {
				o.CacheDir = t.TempDir()
			}
			r := newRepo(t, o)
			s1 := fetch(t, r)

			// No change: only the ref listing reaches the server.
			before := srv.Requests()
			again := fetch(t, r)
			if again.Revision != first {
				t.Fatalf("unchanged Revision = %s, want %s", again.Revision, first)
			}
			if n := srv.Requests() - before; n != 1 {
				t.Fatalf("unchanged Fetch made %d requests, want 1 (ref listing)", n)
			}
			if rev, err := r.LatestRevision(context.Background()); err != nil || rev != first {
				t.Fatalf("LatestRevision = %s, %v; want %s", rev, err, first)
			}

			// A change arrives incrementally.
			second := repo.Commit(t, "edit", map[string]string{"segments/team-a/one.cue": "package segments\n\none: 11\n"})
			s2 := fetch(t, r)
			if s2.Revision != second {
				t.Fatalf("Revision = %s, want %s", s2.Revision, second)
			}
			if got := readFile(t, s2.FS, "team-a/one.cue"); !strings.Contains(got, "one: 11") {
				t.Fatalf("new content = %q", got)
			}
			if r.incremental != 1 {
				t.Fatalf("incremental fetches = %d, want 1", r.incremental)
			}
			// The older snapshot still shows its own commit.
			if got := readFile(t, s1.FS, "team-a/one.cue"); !strings.Contains(got, "one: 1\n") {
				t.Fatalf("old snapshot content = %q", got)
			}

			third := repo.Remove(t, "remove two", "segments/team-a/two.cue")
			s3 := fetch(t, r)
			if s3.Revision != third {
				t.Fatalf("Revision = %s, want %s", s3.Revision, third)
			}
			if _, err := fs.Stat(s3.FS, "team-a/two.cue"); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("removed file still present: %v", err)
			}

			// Force push back to the first commit (behind the shallow
			// boundary of the incremental fetches).
			repo.ResetBranch(t, "main", first)
			s4 := fetch(t, r)
			if s4.Revision != first {
				t.Fatalf("after force push Revision = %s, want %s", s4.Revision, first)
			}
			if got := readFile(t, s4.FS, "team-a/two.cue"); got != sample["segments/team-a/two.cue"] {
				t.Fatalf("after force push two.cue = %q", got)
			}
		})
	}
}

func TestRebuildAfter(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "segments")
	repo.Commit(t, "first", sample)
	cache := t.TempDir()
	r := newRepo(t, Options{URL: repo.URL(), CacheDir: cache, RebuildAfter: 2})
	fetch(t, r)
	for i := range 6 {
		sha := repo.Commit(t, "change", map[string]string{"n.txt": strings.Repeat("x", i+1)})
		s := fetch(t, r)
		if s.Revision != sha || readFile(t, s.FS, "n.txt") != strings.Repeat("x", i+1) {
			t.Fatalf("change %d: Revision %s (want %s)", i, s.Revision, sha)
		}
	}
	// Clone (gen 1) + 2 incremental, rebuild (gen 2) + 2 incremental,
	// rebuild (gen 3).
	if r.st.gen != 3 {
		t.Fatalf("generation = %d, want 3", r.st.gen)
	}
	ents, _ := os.ReadDir(cache)
	if len(ents) > 2 {
		t.Fatalf("cache holds %d generations, want at most 2", len(ents))
	}

	// A new process reuses the on-disk cache: an unchanged branch costs one
	// ref listing, not a clone.
	r2 := newRepo(t, Options{URL: repo.URL(), CacheDir: cache})
	before := srv.Requests()
	s := fetch(t, r2)
	if s.Revision != repo.Head(t, "main") {
		t.Fatalf("reopened Revision = %s", s.Revision)
	}
	if n := srv.Requests() - before; n != 1 {
		t.Fatalf("reopened cache made %d requests, want 1", n)
	}
}

func TestMaterialize(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "segments")
	repo.Commit(t, "first", sample)
	s := fetch(t, newRepo(t, Options{URL: repo.URL(), Path: "segments"}))
	dir, err := s.MaterializeTemp()
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	b, err := os.ReadFile(filepath.Join(dir, "team-b", "three.cue"))
	if err != nil || string(b) != sample["segments/team-b/three.cue"] {
		t.Fatalf("materialized three.cue = %q, %v", b, err)
	}
	if err := s.Materialize(dir); err == nil {
		t.Fatal("Materialize over existing files succeeded")
	}
}

func TestNotFound(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "segments")
	repo.Commit(t, "first", sample)
	empty := srv.NewRepo(t, "empty")
	cases := map[string]Options{
		"repository": {URL: srv.URL() + "/git/nope.git"},
		"branch":     {URL: repo.URL(), Branch: "nope"},
		"path":       {URL: repo.URL(), Path: "nope"},
		"empty repo": {URL: empty.URL()},
	}
	for name, o := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := newRepo(t, o).Fetch(context.Background())
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindNotFound || !errors.Is(err, ErrNotFound) {
				t.Fatalf("Fetch error = %v (%T), want KindNotFound", err, err)
			}
		})
	}
}

func TestAuthAndRedaction(t *testing.T) {
	const token = "ghp_S3cretToken0123456789"
	srv := gittest.NewServer(t, gittest.WithToken(token))
	repo := srv.NewRepo(t, "segments")
	sha := repo.Commit(t, "first", sample)

	ok := newRepo(t, Options{URL: repo.URL(), Auth: Auth{Token: token}})
	if s := fetch(t, ok); s.Revision != sha {
		t.Fatalf("Revision = %s", s.Revision)
	}
	bearer := newRepo(t, Options{URL: repo.URL(), Auth: Auth{BearerToken: token}})
	fetch(t, bearer)

	withUser := func(user *url.Userinfo, query string) string {
		u, _ := url.Parse(repo.URL())
		u.User = user
		u.RawQuery = query
		return u.String()
	}
	const wrong = "wrong-Secret-999"
	cases := map[string]struct {
		opts   Options
		kind   Kind
		secret string
	}{
		"wrong token": {Options{URL: repo.URL(), Auth: Auth{Token: wrong}}, KindAuth, wrong},
		"wrong password": {Options{URL: repo.URL(), Auth: Auth{Username: "bob", Password: wrong}},
			KindAuth, wrong},
		"no credentials": {Options{URL: repo.URL()}, KindAuth, token},
		"token in URL userinfo": {Options{URL: withUser(url.UserPassword("x-access-token", wrong), "")},
			KindAuth, wrong},
		"token as URL user": {Options{URL: withUser(url.User(wrong), "")}, KindAuth, wrong},
		"token in URL query, server down": {Options{URL: "http://127.0.0.1:1/x.git?private_token=" + wrong},
			KindNetwork, wrong},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			r := newRepo(t, c.opts)
			for _, f := range []func() error{
				func() error { _, err := r.Fetch(context.Background()); return err },
				func() error { _, err := r.LatestRevision(context.Background()); return err },
			} {
				err := f()
				var e *Error
				if !errors.As(err, &e) || e.Kind != c.kind {
					t.Fatalf("error = %v, want kind %v", err, c.kind)
				}
				if e.Temporary() != (c.kind == KindNetwork) {
					t.Fatalf("error %v of kind %v: Temporary() = %v", err, c.kind, e.Temporary())
				}
				if strings.Contains(err.Error(), c.secret) || strings.Contains(e.URL, c.secret) {
					t.Fatalf("secret leaked: %q", err.Error())
				}
				if strings.Contains(r.URL(), c.secret) {
					t.Fatalf("secret leaked in URL(): %q", r.URL())
				}
			}
		})
	}
}

func TestNetworkErrors(t *testing.T) {
	t.Run("server down", func(t *testing.T) {
		srv := gittest.NewServer(t)
		repo := srv.NewRepo(t, "segments")
		repo.Commit(t, "first", sample)
		r := newRepo(t, Options{URL: repo.URL()})
		fetch(t, r)
		srv.Close()
		_, err := r.Fetch(context.Background())
		var e *Error
		if !errors.Is(err, ErrNetwork) || !errors.As(err, &e) || !e.Temporary() {
			t.Fatalf("error = %v, want ErrNetwork, temporary", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		release := make(chan struct{})
		srv := gittest.NewServer(t, gittest.WithMiddleware(func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-release:
				case <-r.Context().Done():
					return
				}
				h.ServeHTTP(w, r)
			})
		}))
		defer close(release)
		repo := srv.NewRepo(t, "segments")
		repo.Commit(t, "first", sample)
		r := newRepo(t, Options{URL: repo.URL(), Timeout: 200 * time.Millisecond})
		_, err := r.Fetch(context.Background())
		if !errors.Is(err, ErrNetwork) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error = %v, want ErrNetwork and DeadlineExceeded", err)
		}
	})
	t.Run("server error", func(t *testing.T) {
		srv := gittest.NewServer(t, gittest.WithMiddleware(func(http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "boom", http.StatusBadGateway)
			})
		}))
		repo := srv.NewRepo(t, "segments")
		_, err := newRepo(t, Options{URL: repo.URL()}).Fetch(context.Background())
		if !errors.Is(err, ErrNetwork) {
			t.Fatalf("error = %v, want ErrNetwork", err)
		}
	})
}

func TestOptionsValidation(t *testing.T) {
	cases := map[string]Options{
		"no URL":               {},
		"bad scheme":           {URL: "ftp://host/x.git"},
		"ref as branch":        {URL: "https://h/x.git", Branch: "refs/heads/main"},
		"path escapes":         {URL: "https://h/x.git", Path: "../x"},
		"ssh without key":      {URL: "git@github.com:org/x.git"},
		"ssh without hosts":    {URL: "ssh://git@github.com/org/x.git", Auth: Auth{SSHKey: []byte("k")}},
		"ssh key on https":     {URL: "https://h/x.git", Auth: Auth{SSHKey: []byte("k")}},
		"https creds on ssh":   {URL: "git@h:x.git", Auth: Auth{Token: "t", SSHKey: []byte("k"), KnownHosts: []byte("h")}},
		"token and password":   {URL: "https://h/x.git", Auth: Auth{Token: "t", Password: "p"}},
		"bearer and basic":     {URL: "https://h/x.git", Auth: Auth{BearerToken: "t", Username: "u"}},
		"unparseable ssh key":  {URL: "git@h:x.git", Auth: Auth{SSHKey: []byte("not a key"), InsecureIgnoreHostKey: true}},
		"bad URL with secrets": {URL: "https://user:Secret-Pw@h/x.git%zz"},
	}
	for name, o := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := New(o)
			if err == nil {
				t.Fatal("New succeeded")
			}
			if strings.Contains(err.Error(), "Secret-Pw") {
				t.Fatalf("secret leaked: %v", err)
			}
		})
	}
	r, err := New(Options{URL: "https://h/x.git"})
	if err != nil || r.Branch() != "main" || r.opts.Path != "." {
		t.Fatalf("defaults: %v, branch %q, path %q", err, r.Branch(), r.opts.Path)
	}
}

func TestSymlinksAreNotFollowed(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "segments")
	repo.Commit(t, "first", sample)
	repo.Symlink(t, "link", "segments/passwd.cue", "/etc/passwd")
	s := fetch(t, newRepo(t, Options{URL: repo.URL(), Path: "segments"}))
	info, err := fs.Stat(s.FS, "passwd.cue")
	if err != nil || info.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("Stat = %v, %v; want a symlink entry", info, err)
	}
	if _, err := fs.ReadFile(s.FS, "passwd.cue"); !errors.Is(err, fs.ErrInvalid) {
		t.Fatalf("ReadFile(symlink) = %v, want ErrInvalid", err)
	}
	if _, err := s.FS.Open("passwd.cue"); !errors.Is(err, fs.ErrInvalid) {
		t.Fatalf("Open(symlink) = %v, want ErrInvalid", err)
	}
	dir := t.TempDir()
	if err := s.Materialize(dir); err != nil {
		t.Fatalf("Materialize: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "passwd.cue")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("symlink materialized: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "team-a", "one.cue")); err != nil {
		t.Fatal(err)
	}
}

// TestReadWhileFetching reads an older snapshot while new commits are
// fetched into the same object store; run with -race.
func TestReadWhileFetching(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "segments")
	repo.Commit(t, "first", sample)
	r := newRepo(t, Options{URL: repo.URL(), Path: "segments"})
	old := fetch(t, r)
	stopReading := make(chan struct{})
	readErr := make(chan error, 1)
	go func() {
		defer close(readErr)
		for {
			select {
			case <-stopReading:
				return
			default:
			}
			b, err := fs.ReadFile(old.FS, "team-b/three.cue")
			if err != nil || string(b) != sample["segments/team-b/three.cue"] {
				readErr <- fmt.Errorf("read old snapshot: %q, %v", b, err)
				return
			}
			if _, err := fs.ReadDir(old.FS, "team-a"); err != nil {
				readErr <- err
				return
			}
		}
	}()
	for i := range 3 {
		sha := repo.Commit(t, "change", map[string]string{"segments/team-b/three.cue": fmt.Sprintf("three: %d\n", i)})
		if s := fetch(t, r); s.Revision != sha {
			t.Fatalf("Revision = %s, want %s", s.Revision, sha)
		}
	}
	close(stopReading)
	if err := <-readErr; err != nil {
		t.Fatal(err)
	}
}

// TestGitObjectIDs checks the object ids the snapshot FS gives spec.Load:
// a file's is its blob hash, a directory's changes exactly when something
// under it does, and names that git sorts apart from their byte order
// (a directory "foo" sorts as "foo/", after "foo.cue") are found.
func TestGitObjectIDs(t *testing.T) {
	files := map[string]string{
		"a/foo-bar.cue": "package a\n",
		"a/foo.cue":     "package a\n\nfoo: 1\n",
		"a/foo/x.cue":   "package a\n\nx: 1\n",
		"a/foo0.cue":    "package a\n\nfoo0: 1\n",
		"b/one.cue":     "package b\n",
	}
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "ids")
	repo.Commit(t, "first", files)
	r := newRepo(t, Options{URL: repo.URL()})
	first := fetch(t, r)
	ids, ok := first.FS.(spec.GitObjectIDFS)
	if !ok {
		t.Fatal("the snapshot FS gives no object ids")
	}
	blob := func(s string) [20]byte { return sha1.Sum([]byte(fmt.Sprintf("blob %d\x00%s", len(s), s))) }
	for name, content := range files {
		if id, ok := ids.GitObjectID(name); !ok || id != blob(content) {
			t.Errorf("GitObjectID(%s) = %x, %v; want the blob hash %x", name, id, ok, blob(content))
		}
		if got := readFile(t, first.FS, name); got != content {
			t.Errorf("%s = %q", name, got)
		}
	}
	if _, ok := ids.GitObjectID("a/missing.cue"); ok {
		t.Error("a missing file has an id")
	}
	before := map[string][20]byte{}
	for _, d := range []string{".", "a", "a/foo", "b"} {
		id, ok := ids.GitObjectID(d)
		if !ok {
			t.Fatalf("directory %s has no id", d)
		}
		before[d] = id
	}
	files["a/foo/x.cue"] = "package a\n\nx: 2\n"
	repo.Commit(t, "second", files)
	second := fetch(t, r).FS.(spec.GitObjectIDFS)
	for d, changed := range map[string]bool{".": true, "a": true, "a/foo": true, "b": false} {
		id, _ := second.GitObjectID(d)
		if (id != before[d]) != changed {
			t.Errorf("directory %s: id changed %v, want %v", d, id != before[d], changed)
		}
	}
}
