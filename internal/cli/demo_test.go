//go:build unix

package cli

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/syncbuf"
)

// fakeEnv is a machine with the given executable files, go.mod files (path →
// content) and working directory.
func fakeEnv(exe string, files map[string]string, path []string, wd string) demoEnv {
	return demoEnv{
		executable: exe,
		lookPath: func(name string) (string, error) {
			for _, d := range path {
				if p := filepath.Join(d, name); files[p] == "exe" {
					return p, nil
				}
			}
			return "", exec.ErrNotFound
		},
		getwd: func() (string, error) { return wd, nil },
		readFile: func(p string) ([]byte, error) {
			if c, ok := files[p]; ok && c != "exe" {
				return []byte(c), nil
			}
			return nil, fs.ErrNotExist
		},
		isFile: func(p string) bool { return files[p] == "exe" },
	}
}

func TestFindDemo(t *testing.T) {
	const ours = "// the reconciler\nmodule github.com/cas-reconciler/reconciler // here\n\ngo 1.26\n"
	for _, c := range []struct {
		name  string
		exe   string
		files map[string]string
		path  []string
		wd    string
		want  demoWay
	}{
		{"next to the binary first", "/opt/bin/reconciler",
			map[string]string{"/opt/bin/reconciler-demo": "exe", "/usr/bin/reconciler-demo": "exe", "/usr/bin/go": "exe", "/src/go.mod": ours},
			[]string{"/usr/bin"}, "/src", demoWay{binary: "/opt/bin/reconciler-demo"}},
		{"then on PATH", "/opt/bin/reconciler",
			map[string]string{"/usr/bin/reconciler-demo": "exe", "/usr/bin/go": "exe", "/src/go.mod": ours},
			[]string{"/tmp/x", "/usr/bin"}, "/src", demoWay{binary: "/usr/bin/reconciler-demo"}},
		{"then built in a checkout", "/tmp/go-build1/exe/reconciler",
			map[string]string{"/usr/bin/go": "exe", "/src/go.mod": ours},
			[]string{"/usr/bin"}, "/src/internal/cli", demoWay{moduleRoot: "/src", goTool: "/usr/bin/go"}},
		{"not in another module", "/opt/bin/reconciler",
			map[string]string{"/usr/bin/go": "exe", "/src/go.mod": ours, "/src/sub/go.mod": "module example.org/other\n"},
			[]string{"/usr/bin"}, "/src/sub/dir", demoWay{}},
		{"not outside a checkout", "/opt/bin/reconciler",
			map[string]string{"/usr/bin/go": "exe", "/src/go.mod": ours},
			[]string{"/usr/bin"}, "/home/me", demoWay{}},
		{"not without go", "/opt/bin/reconciler",
			map[string]string{"/src/go.mod": ours},
			[]string{"/usr/bin"}, "/src", demoWay{}},
	} {
		if got := findDemo(fakeEnv(c.exe, c.files, c.path, c.wd)); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestModulePath(t *testing.T) {
	for in, want := range map[string]string{
		"module github.com/cas-reconciler/reconciler\n":             module,
		"// c\nmodule \"github.com/cas-reconciler/reconciler\"\n":   module,
		"module github.com/cas-reconciler/reconciler/v2\n":          module + "/v2",
		"modulex github.com/cas-reconciler/reconciler\n":            "",
		"go 1.26\n\nmodule\tgithub.com/cas-reconciler/reconciler\n": module,
	} {
		if got := modulePath([]byte(in)); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

// fakeDemo writes a reconciler-demo script into a new directory and returns
// the directory.
func fakeDemo(t *testing.T, script string) string {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, demoBinary), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// `reconciler demo` runs the reconciler-demo on PATH with its arguments and
// streams, and returns its exit code.
func TestDemoRunsTheDemoOnPath(t *testing.T) {
	dir := fakeDemo(t, `echo "args: $*"; read line; echo "stdin: $line"; echo "to stderr" >&2; exit 3`+"\n")
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	var out, errb bytes.Buffer
	code := dispatch(context.Background(), []string{"demo", "--dir", "my dir", "--once"},
		stdio{in: strings.NewReader("hello\n"), out: &out, err: &errb})
	if code != 3 {
		t.Errorf("exit %d, want 3 (the demo's)", code)
	}
	if want := "args: --dir my dir --once\nstdin: hello\n"; out.String() != want {
		t.Errorf("stdout %q, want %q", out.String(), want)
	}
	if errb.String() != "to stderr\n" {
		t.Errorf("stderr %q", errb.String())
	}
}

// SIGINT and SIGTERM sent to reconciler are passed on to the demo, and the
// end of the context interrupts it.
func TestDemoGetsTheSignals(t *testing.T) {
	dir := fakeDemo(t, `trap 'echo got TERM; exit 9' TERM
trap 'echo got INT; exit 7' INT
echo ready
while :; do sleep 0.1; done
`)
	way := demoWay{binary: filepath.Join(dir, demoBinary)}
	for _, c := range []struct {
		name string
		send func(cancel func())
		code int
		want string
	}{
		{"SIGTERM", func(func()) { _ = syscall.Kill(os.Getpid(), syscall.SIGTERM) }, 9, "got TERM"},
		{"SIGINT", func(func()) { _ = syscall.Kill(os.Getpid(), syscall.SIGINT) }, 7, "got INT"},
		{"cancel", func(cancel func()) { cancel() }, 7, "got INT"},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		var out, errb syncbuf.Buffer
		done := make(chan int, 1)
		go func() { done <- runDemoWith(ctx, nil, stdio{in: strings.NewReader(""), out: &out, err: &errb}, way) }()
		for !strings.Contains(out.String(), "ready") {
			select {
			case code := <-done:
				t.Fatalf("%s: the demo exited %d early: %s %s", c.name, code, out.String(), errb.String())
			case <-time.After(10 * time.Millisecond):
			}
		}
		c.send(cancel)
		select {
		case code := <-done:
			if code != c.code || !strings.Contains(out.String(), c.want) {
				t.Errorf("%s: exit %d, output %q; want %d, %q", c.name, code, out.String(), c.code, c.want)
			}
		case <-time.After(time.Minute):
			t.Fatalf("%s: the demo did not stop", c.name)
		}
		cancel()
	}
}

// Without reconciler-demo, outside a checkout, `reconciler demo` says how
// to install it; -h exits 0.
func TestDemoSaysHowToInstallIt(t *testing.T) {
	for _, args := range [][]string{nil, {"--once"}, {"-h"}} {
		var out, errb bytes.Buffer
		code := runDemoWith(context.Background(), args, stdio{in: strings.NewReader(""), out: &out, err: &errb}, demoWay{})
		want := exitUsage
		if len(args) == 1 && args[0] == "-h" {
			want = exitOK
		}
		if code != want {
			t.Errorf("%v: exit %d, want %d", args, code, want)
		}
		for _, s := range []string{"Usage: reconciler demo", "go install " + demoPackage + "@latest", "cgo"} {
			if !strings.Contains(errb.String(), s) {
				t.Errorf("%v: the message lacks %q:\n%s", args, s, errb.String())
			}
		}
	}
}

// A demo ended by a signal it does not handle gives 128 + the signal.
func TestDemoKilledBySignal(t *testing.T) {
	dir := fakeDemo(t, "kill -KILL $$\n")
	var out, errb bytes.Buffer
	code := runDemoWith(context.Background(), nil, stdio{in: strings.NewReader(""), out: &out, err: &errb},
		demoWay{binary: filepath.Join(dir, demoBinary)})
	if code != 128+int(syscall.SIGKILL) {
		t.Errorf("exit %d, want %d", code, 128+int(syscall.SIGKILL))
	}
}
