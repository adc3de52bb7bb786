package loadworker

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/cas-reconciler/reconciler/internal/cuetest"
	"github.com/cas-reconciler/reconciler/pkg/spec"
)

func TestMain(m *testing.M) {
	if os.Getenv(Env) != "" {
		os.Exit(Serve())
	}
	os.Exit(m.Run())
}

// retail returns the retail example repository as a map, so that tests can
// add and change files.
func retail(t *testing.T) fstest.MapFS {
	t.Helper()
	src := os.DirFS("../../examples/retail")
	out := fstest.MapFS{}
	err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(src, p)
		out[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func codes(err error) map[string]string {
	out := map[string]string{}
	var be *BudgetError
	if errors.As(err, &be) {
		for _, d := range be.Diagnostics {
			out[d.Pos.File] = d.Code
		}
	}
	return out
}

func TestLoadWithinBudget(t *testing.T) {
	res, err := New(Limits{}).Load(context.Background(), retail(t))
	if err != nil {
		t.Fatal(err)
	}
	if res.Diagnostics.HasErrors() || len(res.State.Parents) != 1 {
		t.Fatalf("diagnostics %v, %d parents", res.Diagnostics, len(res.State.Parents))
	}
	// Every file was evaluated once, in the worker: the load in process
	// found each one's result in the cache.
	if res.Cached != res.Files || res.Files < 5 {
		t.Errorf("%d of %d files came from the worker's results", res.Cached, res.Files)
	}
}

func TestCaps(t *testing.T) {
	cases := []struct {
		name string
		lim  Limits
		big  int
		file string
		code string
	}{
		{name: "file size", lim: Limits{MaxFileBytes: 4096}, big: 8192, file: "segments/zz.cue", code: CodeFileTooLarge},
		{name: "file count", lim: Limits{MaxFiles: 3}, file: "segments/lifecycle.cue", code: CodeTooManyFiles},
		{name: "total size", file: "segments/engagement.cue", code: CodeRepoTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fsys := retail(t)
			if c.code == CodeRepoTooLarge {
				// The first files fit; the first segment file is over.
				c.lim.MaxTotalBytes = int64(len(fsys["parent.cue"].Data) + len(fsys["repo.cue"].Data) + 1)
			}
			if c.big > 0 {
				fsys["segments/zz.cue"] = &fstest.MapFile{Data: []byte("package retail\n\n// " + strings.Repeat("x", c.big) + "\n")}
			}
			res, err := New(c.lim).Load(context.Background(), fsys)
			var be *BudgetError
			if !errors.As(err, &be) || !be.OverBudget() {
				t.Fatalf("err = %v, want a BudgetError", err)
			}
			if got := codes(err)[c.file]; got != c.code {
				t.Errorf("code of %s = %q, want %q (all: %v)", c.file, got, c.code, codes(err))
			}
			if res == nil || !res.Diagnostics.HasErrors() {
				t.Errorf("the result lacks the budget diagnostics")
			}
		})
	}
}

// TestExplosiveFileIsOverBudget: the worker is killed at the memory limit,
// the file is blamed, the others are still loaded.
func TestExplosiveFileIsOverBudget(t *testing.T) {
	fsys := retail(t)
	fsys["segments/explosive.cue"] = &fstest.MapFile{Data: []byte(cuetest.Explosive("retail"))}
	res, err := New(Limits{MemoryLimit: 128 << 20}).Load(context.Background(), fsys)
	if got := codes(err)["segments/explosive.cue"]; got != CodeOverBudget {
		t.Fatalf("err = %v, want over-budget for the explosive file", err)
	}
	if len(codes(err)) != 1 {
		t.Errorf("other files blamed: %v", codes(err))
	}
	if len(res.State.Parents) != 1 || len(res.State.Segments) == 0 {
		t.Errorf("the other files were not loaded: %d parents, %d segments", len(res.State.Parents), len(res.State.Segments))
	}
}

// TestCachedFilesNeedNoWorker: a second load of the same files evaluates
// nothing in a worker; a changed file does.
func TestCachedFilesNeedNoWorker(t *testing.T) {
	fsys := retail(t)
	l := New(Limits{})
	if _, err := l.Load(context.Background(), fsys); err != nil {
		t.Fatal(err)
	}
	l.Executable = "/nonexistent/reconciler"
	if _, err := l.Load(context.Background(), fsys); err != nil {
		t.Fatalf("second load of unchanged files started a worker: %v", err)
	}
	fsys["segments/new.cue"] = &fstest.MapFile{Data: []byte("package retail\n\nsegments: \"New\": where: [{attribute: \"country\", oneOf: [\"DE\"]}]\n")}
	if _, err := l.Load(context.Background(), fsys); err == nil || !strings.Contains(err.Error(), "load worker") {
		t.Fatalf("a new file was not sent to a worker: err = %v", err)
	}
}

// TestFileCPUBudget: a file whose evaluation takes more CPU time than the
// per-file budget is over budget; with a budget below what starting the
// worker and evaluating the first file costs, that file is blamed.
func TestFileCPUBudget(t *testing.T) {
	fsys := retail(t)
	_, err := New(Limits{FileTimeout: time.Millisecond}).Load(context.Background(), fsys)
	var be *BudgetError
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want a BudgetError", err)
	}
	d := be.Diagnostics[0]
	if d.Pos.File != "parent.cue" || d.Code != CodeOverBudget || !strings.Contains(d.Summary, "CPU time") {
		t.Errorf("first diagnostic = %s %s %q", d.Pos.File, d.Code, d.Summary)
	}
}

func TestCPUTime(t *testing.T) {
	cmd := exec.Command("sh", "-c", "while :; do :; done")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	for range 1500 {
		if d, ok := cpuTime(cmd.Process.Pid); ok && d >= 50*time.Millisecond {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	d, ok := cpuTime(cmd.Process.Pid)
	t.Fatalf("cpuTime of a busy loop = %v, %v after 30 s", d, ok)
}

// TestRunCPUBudget: when the workers of one load use up RunTimeout of CPU
// time, every file not evaluated by then is over budget and no further
// worker is started.
func TestRunCPUBudget(t *testing.T) {
	fsys := retail(t)
	_, err := New(Limits{RunTimeout: time.Millisecond}).Load(context.Background(), fsys)
	var be *BudgetError
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want a BudgetError", err)
	}
	names, _ := spec.Files(fsys)
	if len(be.Diagnostics) != len(names) {
		t.Errorf("%d diagnostics for %d files: %v", len(be.Diagnostics), len(names), be.Diagnostics)
	}
	for _, d := range be.Diagnostics {
		if d.Code != CodeOverBudget || !strings.Contains(d.Summary, "CPU time limit of 1ms") {
			t.Errorf("%s: %s %q", d.Pos.File, d.Code, d.Summary)
		}
	}
}
