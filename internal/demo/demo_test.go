//go:build cgo

package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/standin/gittest"
	"github.com/cas-reconciler/reconciler/internal/syncbuf"
)

// TestDemoReconcilesACommit runs the demo: it prints the first
// plan, applies it, and a commit to the demo repository (its post-commit
// hook calls the daemon) is applied; cancelling stops it with exit 0.
func TestDemoReconcilesACommit(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := filepath.Join(t.TempDir(), "demo")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncbuf.Buffer
	done := make(chan int, 1)
	go func() {
		// A long schedule: only the commit hook can make the second run.
		done <- run(ctx, []string{"--dir", dir, "--listen", addr, "--every", "1h"}, stdio{in: strings.NewReader(""), out: &out, err: &errOut})
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(out.String(), "Press Ctrl-C to stop.") {
		select {
		case code := <-done:
			t.Fatalf("demo exited %d early\n%s\n%s", code, out.String(), errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo did not come up\n%s\n%s", out.String(), errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	text := out.String()
	for _, want := range []string{
		"Plan: 37 to add, 0 to change, 0 to replace, 0 to destroy.",
		"Treasure Data now holds 1 parent segment(s), 8 folders and 28 segments",
		"==> doctor, read-only",
		"OK    treasure.key",
		"OK    warehouse.privileges",
		"==> doctor with a sandbox round trip",
		"OK    sandbox:doctor-sandbox:plan: No changes.",
		"OK    sandbox:doctor-sandbox:cleanup: nothing left",
		"http://" + addr + "/metrics",
		"http://" + addr + "/status",
		filepath.Join(dir, "retail"),
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q\n%s", want, text)
		}
	}

	repo := filepath.Join(dir, "retail")
	path := filepath.Join(repo, "segments", "marketing.cue")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(src, []byte("atLeast: 1000")) {
		t.Fatalf("the example the demo suggests no longer applies to %s", path)
	}
	if err := os.WriteFile(path, bytes.Replace(src, []byte("atLeast: 1000"), []byte("atLeast: 2000"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	commit := exec.Command("git", "commit", "-qam", "raise the VIP threshold")
	commit.Dir = repo
	commit.Env = gittest.Env()
	if b, err := commit.CombinedOutput(); err != nil {
		t.Fatalf("git commit: %v\n%s", err, b)
	}
	rev := strings.TrimSpace(gittest.Git(t, repo, "rev-parse", "HEAD"))

	type status struct {
		Sources []struct {
			AppliedRevision string `json:"applied_revision"`
			LastRun         struct {
				Trigger  string         `json:"trigger"`
				Outcomes map[string]int `json:"outcomes"`
			} `json:"last_run"`
		} `json:"sources"`
	}
	var st status
	for deadline := time.Now().Add(time.Minute); ; {
		resp, err := http.Get("http://" + addr + "/status")
		if err == nil {
			st = status{}
			_ = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if len(st.Sources) == 1 && st.Sources[0].AppliedRevision == rev {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the commit %s was not applied: %+v\n%s", rev, st, errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if tr := st.Sources[0].LastRun.Trigger; tr == "scheduled" {
		t.Errorf("the commit was applied by the schedule, not by the hook (trigger %q)", tr)
	}
	if n := st.Sources[0].LastRun.Outcomes["success"]; n != 1 {
		t.Errorf("the commit applied %d changes, want 1 (%+v)", n, st.Sources[0].LastRun)
	}

	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("demo exit code %d after cancel, want 0\n%s", code, errOut.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("demo did not stop within a minute of the cancel")
	}
	if strings.Contains(errOut.String(), "panic") {
		t.Errorf("demo stderr:\n%s", errOut.String())
	}
}

// The demo deletes its directory at every start, so it refuses a
// non-empty one it did not make, before doing anything else.
func TestDemoRefusesADirectoryItDidNotMake(t *testing.T) {
	dir := t.TempDir()
	mine := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(mine, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut syncbuf.Buffer
	code := run(context.Background(), []string{"--dir", dir, "--listen", "127.0.0.1:0", "--once"},
		stdio{in: strings.NewReader(""), out: &out, err: &errOut})
	if code != exitFailed {
		t.Errorf("exit %d, want %d", code, exitFailed)
	}
	if !strings.Contains(errOut.String(), "not made by the demo") || out.String() != "" {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	}
	if b, err := os.ReadFile(mine); err != nil || string(b) != "mine" {
		t.Errorf("the user's file: %q, %v", b, err)
	}
}

// A directory the demo made (or an empty one) is cleared and marked.
func TestDemoDirectoryIsMarkedAndReset(t *testing.T) {
	base := t.TempDir()
	for name, setup := range map[string]func(dir string){
		"missing": func(string) {},
		"empty":   func(dir string) { _ = os.Mkdir(dir, 0o755) },
		"marked": func(dir string) {
			_ = os.MkdirAll(filepath.Join(dir, "retail"), 0o755)
			_ = os.WriteFile(filepath.Join(dir, demoMarker), nil, 0o644)
			_ = os.WriteFile(filepath.Join(dir, "retail", "old.cue"), nil, 0o644)
		},
	} {
		dir := filepath.Join(base, name)
		setup(dir)
		if err := checkDemoDir(dir); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if err := resetDemoDir(dir); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 || entries[0].Name() != demoMarker {
			t.Errorf("%s: after the reset the directory holds %v, want only %s", name, entries, demoMarker)
		}
	}
	// A directory holding a directory named like the marker is not one the
	// demo made.
	odd := filepath.Join(base, "odd")
	_ = os.MkdirAll(filepath.Join(odd, demoMarker), 0o755)
	if err := checkDemoDir(odd); err == nil {
		t.Error("a directory with a directory named like the marker was accepted")
	}
}

// A busy port fails the demo at once: nothing is printed or started.
func TestDemoChecksThePortFirst(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dir := filepath.Join(t.TempDir(), "demo")
	var out, errOut syncbuf.Buffer
	code := run(context.Background(), []string{"--dir", dir, "--listen", l.Addr().String(), "--once"},
		stdio{in: strings.NewReader(""), out: &out, err: &errOut})
	if code != exitFailed {
		t.Errorf("exit %d, want %d", code, exitFailed)
	}
	if !strings.Contains(errOut.String(), "cannot listen on "+l.Addr().String()) || !strings.Contains(errOut.String(), "--listen") {
		t.Errorf("stderr:\n%s", errOut.String())
	}
	if out.String() != "" {
		t.Errorf("the demo printed before failing:\n%s", out.String())
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the demo made its directory before failing: %v", err)
	}
}
