package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cas-reconciler/reconciler/internal/cuetest"
	"github.com/cas-reconciler/reconciler/internal/loadworker"
)

func TestMain(m *testing.M) {
	if os.Getenv(loadworker.Env) != "" {
		os.Exit(loadworker.Serve())
	}
	os.Exit(m.Run())
}

// TestValidateExplosiveFile: a file whose evaluation exceeds the memory
// limit makes validate exit 1 with a diagnostic naming the file, while the
// other files are still checked, instead of running out of memory.
func TestValidateExplosiveFile(t *testing.T) {
	dir := t.TempDir()
	retail, err := os.ReadDir(retailDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range retail {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(retailDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "bomb.cue"), []byte(cuetest.Explosive("cas")), 0o644); err != nil {
		t.Fatal(err)
	}
	old := validateLimits
	validateLimits = loadworker.Limits{MemoryLimit: 256 << 20}
	t.Cleanup(func() { validateLimits = old })

	code, out, errs := runValidateArgs(t, dir)
	if code != exitFailed {
		t.Errorf("exit %d, want %d; stderr %q", code, exitFailed, errs)
	}
	want := filepath.ToSlash(dir) + "/bomb.cue:1:1: error: evaluating this file took more than the memory limit of 256 MiB"
	if !strings.Contains(out, want) {
		t.Errorf("stdout lacks %q:\n%s", want, out)
	}
	if !strings.HasSuffix(out, "1 error, 0 warnings in 3 files\n") {
		t.Errorf("summary: %s", out)
	}
}

// TestValidateFileTooLarge: a file over the size cap is an error naming it,
// and is not evaluated.
func TestValidateFileTooLarge(t *testing.T) {
	dir := t.TempDir()
	big := "package cas\n\n// " + strings.Repeat("x", 2000) + "\n"
	if err := os.WriteFile(filepath.Join(dir, "big.cue"), []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	old := validateLimits
	validateLimits = loadworker.Limits{MaxFileBytes: 1000}
	t.Cleanup(func() { validateLimits = old })
	code, out, _ := runValidateArgs(t, dir)
	if code != exitFailed || !strings.Contains(out, "big.cue:1:1: error: file of 2017 bytes is larger than the limit of 1000 bytes") {
		t.Errorf("exit %d, stdout:\n%s", code, out)
	}
}

// TestValidateMaxFiles: --max-files sets the most files validate loads.
func TestValidateMaxFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a.cue", "b.cue", "c.cue"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("package cas\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, out, _ := runValidateArgs(t, "--max-files", "2", dir)
	if code != exitFailed || !strings.Contains(out, "c.cue:1:1: error: the repository has 3 CUE files, more than the limit of 2") {
		t.Errorf("--max-files 2: exit %d, stdout:\n%s", code, out)
	}
	if code, out, _ := runValidateArgs(t, "--max-files", "3", dir); strings.Contains(out, "too-many-files") || strings.Contains(out, "more than the limit") {
		t.Errorf("--max-files 3: exit %d, stdout:\n%s", code, out)
	}
}
