package gittest

import (
	"bytes"
	"crypto/subtle"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// DefaultBranch is the branch that new repositories start on.
const DefaultBranch = "main"

// Server is a smart-HTTP git server backed by `git http-backend`.
type Server struct {
	srv      *httptest.Server
	root     string // GIT_PROJECT_ROOT: holds the bare repositories
	requests atomic.Int64

	user, pass string // basic auth, when set
	token      string // bearer token (also accepted as a basic-auth password)
	wrap       func(http.Handler) http.Handler
}

// Option configures a Server.
type Option func(*Server)

// WithBasicAuth requires HTTP basic auth with this user name and password.
func WithBasicAuth(user, password string) Option {
	return func(s *Server) { s.user, s.pass = user, password }
}

// WithToken requires a token, sent either as "Authorization: Bearer <token>"
// or, as GitHub and GitLab accept it, as the password of basic auth with any
// user name.
func WithToken(token string) Option {
	return func(s *Server) { s.token = token }
}

// WithMiddleware wraps the git handler, after authentication. Tests use it to
// inject failures or delays.
func WithMiddleware(m func(http.Handler) http.Handler) Option {
	return func(s *Server) { s.wrap = m }
}

// NewServer starts a git server for the duration of the test. It skips the
// test when git or git-http-backend is not installed.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	backend := httpBackend(t)
	s := &Server{root: t.TempDir()}
	for _, o := range opts {
		o(s)
	}
	var h http.Handler = &cgi.Handler{
		Path: backend,
		Root: "/git",
		Env: []string{
			"GIT_PROJECT_ROOT=" + s.root,
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
			"HOME=" + s.root,
		},
	}
	if s.wrap != nil {
		h = s.wrap(h)
	}
	inner := h
	mux := http.NewServeMux()
	mux.Handle("/git/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *Server) authorized(r *http.Request) bool {
	switch {
	case s.user != "":
		u, p, ok := r.BasicAuth()
		return ok && equal(u, s.user) && equal(p, s.pass)
	case s.token != "":
		if a := r.Header.Get("Authorization"); strings.HasPrefix(a, "Bearer ") {
			return equal(strings.TrimPrefix(a, "Bearer "), s.token)
		}
		_, p, ok := r.BasicAuth()
		return ok && equal(p, s.token)
	}
	return true
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// URL is the server's base URL, without a trailing slash.
func (s *Server) URL() string { return s.srv.URL }

// Requests counts the HTTP requests the server received so far.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Close stops the server before the end of the test, to simulate an outage.
func (s *Server) Close() { s.srv.Close() }

// Repo is one bare repository on a Server plus a working clone used to
// create commits.
type Repo struct {
	name string
	url  string
	bare string
	work string
	mu   sync.Mutex
	cur  string // branch checked out in work
}

// NewRepo creates an empty bare repository "<name>.git" on the server.
func (s *Server) NewRepo(t testing.TB, name string) *Repo {
	t.Helper()
	r := &Repo{
		name: name,
		url:  s.srv.URL + "/git/" + name + ".git",
		bare: filepath.Join(s.root, name+".git"),
		work: filepath.Join(t.TempDir(), name),
		cur:  DefaultBranch,
	}
	Git(t, "", "init", "--quiet", "--bare", "--initial-branch="+DefaultBranch, r.bare)
	Git(t, r.bare, "config", "http.receivepack", "true")
	Git(t, "", "init", "--quiet", "--initial-branch="+DefaultBranch, r.work)
	Git(t, r.work, "remote", "add", "origin", r.bare)
	return r
}

// URL is the repository's clone URL (without credentials).
func (r *Repo) URL() string { return r.url }

// Dir is the path of the bare repository on disk.
func (r *Repo) Dir() string { return r.bare }

// Commit writes files (slash-separated path to contents) on the default
// branch, commits them with msg, pushes, and returns the new commit's SHA.
func (r *Repo) Commit(t testing.TB, msg string, files map[string]string) string {
	t.Helper()
	return r.CommitBranch(t, DefaultBranch, msg, files)
}

// CommitBranch is Commit on the named branch. A branch that does not exist
// yet starts from the currently checked-out commit.
func (r *Repo) CommitBranch(t testing.TB, branch, msg string, files map[string]string) string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.switchTo(t, branch)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := filepath.Join(r.work, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(files[name]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return r.commitAndPush(t, branch, msg)
}

// Remove deletes paths on the default branch, commits, pushes and returns
// the new commit's SHA.
func (r *Repo) Remove(t testing.TB, msg string, paths ...string) string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.switchTo(t, DefaultBranch)
	for _, p := range paths {
		if err := os.RemoveAll(filepath.Join(r.work, filepath.FromSlash(p))); err != nil {
			t.Fatal(err)
		}
	}
	return r.commitAndPush(t, DefaultBranch, msg)
}

// Symlink commits a symbolic link at path pointing to target on the default
// branch, pushes and returns the new commit's SHA.
func (r *Repo) Symlink(t testing.TB, msg, path, target string) string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.switchTo(t, DefaultBranch)
	p := filepath.Join(r.work, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
	return r.commitAndPush(t, DefaultBranch, msg)
}

// ImportDir copies the tree under dir into the default branch (replacing
// nothing else), commits, pushes and returns the new commit's SHA.
func (r *Repo) ImportDir(t testing.TB, msg, dir string) string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.switchTo(t, DefaultBranch)
	if err := os.CopyFS(r.work, os.DirFS(dir)); err != nil {
		t.Fatalf("import %s: %v", dir, err)
	}
	return r.commitAndPush(t, DefaultBranch, msg)
}

// Head returns the SHA of the branch tip on the server, or "" if the branch
// does not exist.
func (r *Repo) Head(t testing.TB, branch string) string {
	t.Helper()
	out, err := run(r.bare, "rev-parse", "--verify", "--quiet", "refs/heads/"+branch)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// ResetBranch force-moves branch on the server to rev (a force push), for
// example back to an older commit.
func (r *Repo) ResetBranch(t testing.TB, branch, rev string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	Git(t, r.work, "push", "--quiet", "--force", "origin", rev+":refs/heads/"+branch)
	if r.cur == branch {
		Git(t, r.work, "reset", "--quiet", "--hard", rev)
	}
}

// DeleteBranch removes branch from the server.
func (r *Repo) DeleteBranch(t testing.TB, branch string) {
	t.Helper()
	Git(t, r.bare, "update-ref", "-d", "refs/heads/"+branch)
}

func (r *Repo) switchTo(t testing.TB, branch string) {
	if tip, err := run(r.bare, "rev-parse", "--verify", "--quiet", "refs/heads/"+branch); err == nil {
		// Start from the server's tip: the branch may have been reset.
		Git(t, r.work, "fetch", "--quiet", "origin", "refs/heads/"+branch)
		Git(t, r.work, "checkout", "--quiet", "-B", branch, strings.TrimSpace(tip))
		r.cur = branch
		return
	}
	if r.cur == branch {
		return
	}
	if _, err := run(r.work, "rev-parse", "--verify", "--quiet", "HEAD"); err != nil {
		Git(t, r.work, "checkout", "--quiet", "--orphan", branch)
	} else {
		Git(t, r.work, "checkout", "--quiet", "-B", branch)
	}
	r.cur = branch
}

func (r *Repo) commitAndPush(t testing.TB, branch, msg string) string {
	Git(t, r.work, "add", "--all")
	Git(t, r.work, "commit", "--quiet", "--allow-empty", "--no-verify", "-m", msg)
	Git(t, r.work, "push", "--quiet", "--force", "origin", "HEAD:refs/heads/"+branch)
	return strings.TrimSpace(Git(t, r.work, "rev-parse", "HEAD"))
}

// Git runs git with a hermetic environment (no user or system config, a
// fixed identity) in dir and returns its standard output. It fails the test
// on error.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := run(dir, args...)
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return out
}

type gitError struct {
	err    error
	stderr string
}

func (e *gitError) Error() string { return e.err.Error() + ": " + strings.TrimSpace(e.stderr) }

func run(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = Env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), &gitError{err: err, stderr: stderr.String()}
	}
	return stdout.String(), nil
}

// Env is a hermetic environment for running git in tests: the current PATH,
// no user or system configuration, no prompts and a fixed identity.
func Env() []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.TempDir(),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=" + os.DevNull,
		"GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Test Author",
		"GIT_AUTHOR_EMAIL=author@example.com",
		"GIT_COMMITTER_NAME=Test Committer",
		"GIT_COMMITTER_EMAIL=committer@example.com",
	}
}

var (
	backendOnce sync.Once
	backendPath string
)

// httpBackend locates git-http-backend, skipping the test if git is absent.
func httpBackend(t testing.TB) string {
	t.Helper()
	backendOnce.Do(func() {
		out, err := exec.Command("git", "--exec-path").Output()
		if err != nil {
			return
		}
		p := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
		if _, err := os.Stat(p); err == nil {
			backendPath = p
		}
	})
	if backendPath == "" {
		t.Skip("git with git-http-backend is not installed")
	}
	return backendPath
}
