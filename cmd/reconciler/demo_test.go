//go:build cgo

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/syncbuf"
	"github.com/cas-reconciler/reconciler/pkg/gittest"
)

// TestDemoReconcilesACommit runs the demo from a subdirectory of the
// checkout, as `go run ./cmd/reconciler demo` does: it prints the first
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
		done <- dispatch(ctx, []string{"demo", "--dir", dir, "--listen", addr, "--every", "1h"}, stdio{in: strings.NewReader(""), out: &out, err: &errOut})
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
		"Plan: 36 to add, 0 to change, 0 to replace, 0 to destroy.",
		"Treasure Data now holds 1 parent segment(s), 8 folders and 28 segments",
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
