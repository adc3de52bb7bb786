package spec

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/cas-reconciler/reconciler/schemas"
)

// cueCommand returns a cue command: $CUE if set, else one built from the
// pinned module version. It skips the test when none can be had.
func cueCommand(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CUE"); p != "" {
		return p
	}
	if testing.Short() {
		t.Skip("building the cue command takes minutes; skipped in -short mode (set CUE to a cue binary to run)")
	}
	bin := t.TempDir()
	cmd := exec.Command("go", "install", "cuelang.org/go/cmd/cue@v0.17.1")
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("cannot build the cue command (%v); skipping the cue vet check:\n%s", err, out)
	}
	name := "cue"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	return filepath.Join(bin, name)
}

// copyDir copies the files of fsys into dir.
func copyDir(t *testing.T, fsys fs.FS, dir string) {
	t.Helper()
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCueVet checks that the example repository passes the real `cue vet`
// against the schemas (vendored as an author would), and that cue vet sees
// a schema violation, so the check can fail.
func TestCueVet(t *testing.T) {
	cue := cueCommand(t)
	dir := t.TempDir()
	copyDir(t, os.DirFS(retail), dir)
	copyDir(t, schemas.FS, filepath.Join(dir, "cue.mod", "pkg", "cas.treasuredata.dev", "schemas"))
	vet := func() ([]byte, error) {
		cmd := exec.Command(cue, "vet", "-c", "./...")
		cmd.Dir = dir
		return cmd.CombinedOutput()
	}
	if out, err := vet(); err != nil {
		t.Fatalf("cue vet -c ./... failed on the example repository: %v\n%s", err, out)
	}
	bad := filepath.Join(dir, "segments", "bad.cue")
	if err := os.WriteFile(bad, []byte("package retail\n\nsegments: X: {kind: \"realtime\", where: [{attribute: \"ltv\", atLeast: 1}]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := vet(); err == nil {
		t.Fatalf("cue vet accepted kind \"realtime\":\n%s", out)
	}
}
