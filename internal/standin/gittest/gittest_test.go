package gittest

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServerCloneAndPushOverHTTP(t *testing.T) {
	s := NewServer(t, WithBasicAuth("alice", "s3cret"))
	r := s.NewRepo(t, "segments")
	sha := r.Commit(t, "first", map[string]string{"a/b.cue": "package a\n"})
	if got := r.Head(t, DefaultBranch); got != sha {
		t.Fatalf("Head = %q, want %q", got, sha)
	}

	// Without credentials the server refuses.
	dir := t.TempDir()
	if _, err := run(dir, "clone", "--quiet", r.URL(), "anon"); err == nil {
		t.Fatal("clone without credentials succeeded")
	}

	u, _ := url.Parse(r.URL())
	u.User = url.UserPassword("alice", "s3cret")
	Git(t, dir, "clone", "--quiet", u.String(), "c")
	b, err := os.ReadFile(filepath.Join(dir, "c", "a", "b.cue"))
	if err != nil || string(b) != "package a\n" {
		t.Fatalf("cloned file = %q, %v", b, err)
	}

	// Push over smart HTTP.
	c := filepath.Join(dir, "c")
	if err := os.WriteFile(filepath.Join(c, "new.cue"), []byte("x: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	Git(t, c, "add", "--all")
	Git(t, c, "commit", "--quiet", "-m", "second")
	Git(t, c, "push", "--quiet", "origin", "HEAD:refs/heads/main")
	want := strings.TrimSpace(Git(t, c, "rev-parse", "HEAD"))
	if got := r.Head(t, DefaultBranch); got != want {
		t.Fatalf("after HTTP push Head = %q, want %q", got, want)
	}
}

func TestTokenAuth(t *testing.T) {
	s := NewServer(t, WithToken("tok-123"))
	r := s.NewRepo(t, "x")
	r.Commit(t, "first", map[string]string{"f": "1"})
	dir := t.TempDir()
	u, _ := url.Parse(r.URL())
	u.User = url.UserPassword("any", "wrong")
	if _, err := run(dir, "clone", "--quiet", u.String(), "bad"); err == nil {
		t.Fatal("clone with a wrong token succeeded")
	}
	u.User = url.UserPassword("any", "tok-123")
	Git(t, dir, "clone", "--quiet", u.String(), "good")
	Git(t, dir, "-c", "http.extraHeader=Authorization: Bearer tok-123", "clone", "--quiet", r.URL(), "bearer")
}

func TestBranchesResetAndRemove(t *testing.T) {
	s := NewServer(t)
	r := s.NewRepo(t, "x")
	first := r.Commit(t, "first", map[string]string{"f": "1"})
	second := r.Commit(t, "second", map[string]string{"g": "2"})
	if first == second {
		t.Fatal("commits have the same SHA")
	}
	dev := r.CommitBranch(t, "dev", "on dev", map[string]string{"d": "3"})
	if got := r.Head(t, "dev"); got != dev {
		t.Fatalf("dev head = %q, want %q", got, dev)
	}
	r.ResetBranch(t, DefaultBranch, first)
	if got := r.Head(t, DefaultBranch); got != first {
		t.Fatalf("main after reset = %q, want %q", got, first)
	}
	third := r.Remove(t, "rm f", "f")
	files := Git(t, r.Dir(), "ls-tree", "--name-only", third)
	if strings.Contains(files, "f\n") {
		t.Fatalf("f still present: %q", files)
	}
	r.DeleteBranch(t, "dev")
	if got := r.Head(t, "dev"); got != "" {
		t.Fatalf("deleted branch head = %q", got)
	}
	if s.Requests() != 0 {
		t.Fatalf("local operations reached the HTTP server %d times", s.Requests())
	}
}

func TestRemoveStartsFromServerTip(t *testing.T) {
	s := NewServer(t)
	r := s.NewRepo(t, "x")
	first := r.Commit(t, "first", map[string]string{"f": "1", "h": "0"})
	r.Commit(t, "second", map[string]string{"g": "2"})
	r.CommitBranch(t, "dev", "on dev", map[string]string{"d": "3"})
	r.ResetBranch(t, DefaultBranch, first)
	next := r.Remove(t, "rm h", "h")
	if parent := strings.TrimSpace(Git(t, r.Dir(), "rev-parse", next+"^")); parent != first {
		t.Fatalf("parent of new commit = %s, want %s", parent, first)
	}
	files := Git(t, r.Dir(), "ls-tree", "--name-only", next)
	if files != "f\n" {
		t.Fatalf("tree = %q, want only f", files)
	}
}

func TestSSHServerClone(t *testing.T) {
	s := NewServer(t)
	r := s.NewRepo(t, "segments")
	sha := r.Commit(t, "first", map[string]string{"a.cue": "a: 1\n"})
	key, pub := NewSSHKey(t)
	ss := s.ServeSSH(t, pub)

	dir := t.TempDir()
	keyFile := filepath.Join(dir, "id")
	khFile := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(khFile, ss.KnownHosts(), 0o600); err != nil {
		t.Fatal(err)
	}
	sshCmd := "ssh -i " + keyFile + " -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=" + khFile
	if _, err := run(dir, "-c", "core.sshCommand="+sshCmd, "ls-remote", ss.URL(r)); err != nil {
		if strings.Contains(err.Error(), "ssh: not found") || strings.Contains(err.Error(), "cannot run ssh") {
			t.Skip("no ssh client:", err)
		}
		t.Fatalf("ls-remote over ssh: %v", err)
	}
	out := Git(t, dir, "-c", "core.sshCommand="+sshCmd, "ls-remote", ss.URL(r), "refs/heads/main")
	if !strings.HasPrefix(out, sha) {
		t.Fatalf("ls-remote = %q, want %s", out, sha)
	}
}
