package hooks

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// build builds the reconciler into a new directory and returns it, for PATH.
func build(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(bin, "reconciler"), "./cmd/reconciler")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// git runs git in dir with env and returns its combined output and error.
func git(dir string, env []string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// TestPreCommitValidatesTheIndex commits to a repository with the hook
// installed: a valid tree passes, a broken one staged (while the working
// file is valid again) is refused with the repository's own paths, and no
// temporary files are left behind either way.
func TestPreCommitValidatesTheIndex(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	bin := build(t)
	hook, err := filepath.Abs("pre-commit")
	if err != nil {
		t.Fatal(err)
	}
	repo := t.TempDir()
	if err := os.CopyFS(repo, os.DirFS("../examples/retail")); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir() // the hook's TMPDIR: must be empty after every commit
	env := append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "TMPDIR="+tmp,
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@localhost", "GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@localhost")
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"config", "core.hooksPath", filepath.Dir(hook)}, {"add", "-A"}} {
		if out, err := git(repo, env, args...); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	leftovers := func(step string) {
		t.Helper()
		entries, err := os.ReadDir(tmp)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			t.Errorf("%s: the hook left %s in TMPDIR", step, e.Name())
			_ = os.RemoveAll(filepath.Join(tmp, e.Name()))
		}
	}

	if out, err := git(repo, env, "commit", "-q", "-m", "valid"); err != nil {
		t.Fatalf("commit of a valid tree refused: %v\n%s", err, out)
	}
	leftovers("valid commit")

	path := filepath.Join(repo, "segments", "marketing.cue")
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Replace(good, []byte(`{attribute: "ltv", atLeast: 1000}`), []byte(`{attribute: "ltvv", atLeast: 1000}`), 1)
	if bytes.Equal(bad, good) {
		t.Fatal("the example changed; the test breaks nothing")
	}
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := git(repo, env, "add", "segments/marketing.cue"); err != nil {
		t.Fatalf("git add: %v\n%s", err, out)
	}
	if err := os.WriteFile(path, good, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := git(repo, env, "commit", "-q", "-m", "broken")
	if err == nil {
		t.Fatalf("commit of a broken index accepted:\n%s", out)
	}
	if !strings.Contains(out, "\nsegments/marketing.cue:8:") && !strings.HasPrefix(out, "segments/marketing.cue:8:") {
		t.Errorf("output does not name segments/marketing.cue:8 as in the repository:\n%s", out)
	}
	if strings.Contains(out, tmp) || strings.Contains(out, os.TempDir()) {
		t.Errorf("output names temporary paths:\n%s", out)
	}
	leftovers("refused commit")
}
