//go:build cgo && unix

package main

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/syncbuf"
)

// TestInstalledDemoRunsAnywhere builds reconciler-demo and reconciler as a
// user installs them, into one directory, and runs the demo from an empty
// directory outside the source tree, by itself and through `reconciler
// demo`: it applies the embedded example and stops with exit 0 on SIGINT.
func TestInstalledDemoRunsAnywhere(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two binaries")
	}
	bin := t.TempDir()
	for _, pkg := range []string{"./cmd/reconciler-demo", "./cmd/reconciler"} {
		build := exec.Command("go", "build", "-o", bin, pkg)
		build.Dir = "../.."
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	// reconciler alone, as `go run ./cmd/reconciler` leaves it.
	alone := t.TempDir()
	build := exec.Command("go", "build", "-o", alone, "./cmd/reconciler")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/reconciler: %v\n%s", err, out)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, exe string
		args      []string
		dir       string // working directory ("" for an empty one outside the tree)
	}{
		{"reconciler-demo", filepath.Join(bin, "reconciler-demo"), nil, ""},
		{"reconciler demo", filepath.Join(bin, "reconciler"), []string{"demo"}, ""},
		// Neither next to it nor on PATH: built from the checkout.
		{"reconciler demo in the checkout", filepath.Join(alone, "reconciler"), []string{"demo"}, filepath.Join(root, "examples")},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := l.Addr().String()
			l.Close()
			wd := t.TempDir()
			cmd := exec.Command(c.exe, append(c.args, "--dir", filepath.Join(wd, ".demo"), "--listen", addr, "--every", "1h")...)
			cmd.Dir = wd
			if c.dir != "" {
				cmd.Dir = c.dir
			}
			// No reconciler-demo on PATH; go for the checkout's case.
			path := []string{filepath.Dir(mustLookPath(t, "git")), filepath.Dir(mustLookPath(t, "go")), "/usr/bin", "/bin"}
			cmd.Env = append(os.Environ(), "PATH="+strings.Join(path, string(os.PathListSeparator)))
			var errb syncbuf.Buffer
			cmd.Stderr = &errb
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill() }()
			lines := make(chan string)
			go func() {
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
			}()
			var out strings.Builder
			timeout := time.After(3 * time.Minute)
		wait:
			for {
				select {
				case line, ok := <-lines:
					if !ok {
						t.Fatalf("the demo stopped before it was ready:\n%s\n%s", out.String(), errb.String())
					}
					out.WriteString(line + "\n")
					if strings.Contains(line, "Press Ctrl-C to stop.") {
						break wait
					}
				case <-timeout:
					t.Fatalf("the demo was not ready in 3 minutes:\n%s\n%s", out.String(), errb.String())
				}
			}
			for _, want := range []string{"Treasure Data now holds 1 parent segment(s), 8 folders and 28 segments",
				filepath.Join(wd, ".demo", "retail")} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("the output lacks %q:\n%s", want, out.String())
				}
			}
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() {
				for range lines {
				}
				exited <- cmd.Wait()
			}()
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("after SIGINT: %v\n%s", err, errb.String())
				}
			case <-time.After(time.Minute):
				t.Fatalf("the demo did not stop within a minute of SIGINT\n%s", errb.String())
			}
		})
	}
}

func mustLookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("no %s: %v", name, err)
	}
	return p
}
