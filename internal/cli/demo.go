package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// The demo is a binary of its own (cmd/reconciler-demo): it links the
// stand-ins and DuckDB, which the product binary leaves out. `reconciler
// demo` runs it, as git and kubectl run their plugins.
const (
	module      = "github.com/cas-reconciler/reconciler"
	demoBinary  = "reconciler-demo"
	demoPackage = module + "/cmd/reconciler-demo"
)

// demoWay is how `reconciler demo` runs the demo.
type demoWay struct {
	binary     string // the reconciler-demo to run; empty when it must be built
	moduleRoot string // with binary empty: the checkout to build it from ("" when neither: print how to install it)
	goTool     string // the go command that builds it
}

// demoEnv is what findDemo looks at, so that tests can set it.
type demoEnv struct {
	executable string                       // this binary ("" if unknown)
	lookPath   func(string) (string, error) // exec.LookPath
	getwd      func() (string, error)       // os.Getwd
	readFile   func(string) ([]byte, error) // os.ReadFile
	isFile     func(string) bool            // an executable regular file
}

func processDemoEnv() demoEnv {
	exe, _ := os.Executable()
	return demoEnv{executable: exe, lookPath: exec.LookPath, getwd: os.Getwd, readFile: os.ReadFile, isFile: isExecutableFile}
}

func isExecutableFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// findDemo picks the reconciler-demo next to this binary, then the one on
// PATH; failing both, inside a checkout of this module with go on PATH,
// building it from the checkout.
func findDemo(env demoEnv) demoWay {
	if env.executable != "" {
		dirs := []string{filepath.Dir(env.executable)}
		if real, err := filepath.EvalSymlinks(env.executable); err == nil && filepath.Dir(real) != dirs[0] {
			dirs = append(dirs, filepath.Dir(real))
		}
		for _, d := range dirs {
			if p := filepath.Join(d, demoBinary); env.isFile(p) {
				return demoWay{binary: p}
			}
		}
	}
	if p, err := env.lookPath(demoBinary); err == nil {
		return demoWay{binary: p}
	}
	goTool, err := env.lookPath("go")
	if err != nil {
		return demoWay{}
	}
	wd, err := env.getwd()
	if err != nil {
		return demoWay{}
	}
	if root := moduleRoot(env, wd); root != "" {
		return demoWay{moduleRoot: root, goTool: goTool}
	}
	return demoWay{}
}

// moduleRoot returns the directory of the nearest go.mod at or above dir if
// it declares this module, else "".
func moduleRoot(env demoEnv, dir string) string {
	for {
		if b, err := env.readFile(filepath.Join(dir, "go.mod")); err == nil {
			if modulePath(b) == module {
				return dir
			}
			return ""
		}
		up := filepath.Dir(dir)
		if up == dir {
			return ""
		}
		dir = up
	}
}

// modulePath reads the module directive of a go.mod file.
func modulePath(gomod []byte) string {
	sc := bufio.NewScanner(strings.NewReader(string(gomod)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "module"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '"') {
			rest, _, _ = strings.Cut(rest, "//")
			rest = strings.TrimSpace(rest)
			if p, err := strconv.Unquote(rest); err == nil {
				return p
			}
			return rest
		}
	}
	return ""
}

func helpAsked(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// runDemo implements `reconciler demo` by running reconciler-demo with the
// same arguments, streams and working directory; signals are passed on and
// its exit code is returned.
func runDemo(ctx context.Context, args []string, io stdio) int {
	return runDemoWith(ctx, args, io, findDemo(processDemoEnv()))
}

func runDemoWith(ctx context.Context, args []string, io stdio, way demoWay) int {
	if way.binary == "" && (way.moduleRoot == "" || helpAsked(args)) {
		// Help is answered here rather than after a build of the demo.
		demoUsage(io, way)
		if helpAsked(args) {
			return exitOK
		}
		return exitUsage
	}
	bin := way.binary
	if bin == "" {
		// As `go run ./cmd/reconciler-demo` from the checkout, but the
		// demo is run by this process, so that signals reach it and its
		// exit code comes back unchanged.
		tmp, err := os.MkdirTemp("", "reconciler-demo-")
		if err != nil {
			fmt.Fprintf(io.err, "reconciler demo: %v\n", err)
			return exitFailed
		}
		defer os.RemoveAll(tmp)
		bin = filepath.Join(tmp, demoBinary)
		fmt.Fprintf(io.err, "reconciler demo: %s is not installed; building it from %s (go build ./cmd/reconciler-demo)\n", demoBinary, way.moduleRoot)
		build := exec.CommandContext(ctx, way.goTool, "build", "-o", bin, "./cmd/reconciler-demo")
		build.Dir = way.moduleRoot
		build.Env = append(os.Environ(), "CGO_ENABLED=1")
		build.Stdout, build.Stderr = io.err, io.err
		if err := build.Run(); err != nil {
			fmt.Fprintf(io.err, "reconciler demo: go build ./cmd/reconciler-demo: %v (the demo needs cgo: a C compiler)\n", err)
			return exitFailed
		}
	}
	return runChild(ctx, bin, args, io)
}

// runChild runs bin with args and the streams of io, passes on SIGINT and
// SIGTERM (and an interrupt when ctx ends), and returns its exit code.
func runChild(ctx context.Context, bin string, args []string, io stdio) int {
	cmd := exec.Command(bin, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = io.in, io.out, io.err
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(io.err, "reconciler demo: %v\n", err)
		return exitFailed
	}
	exited := make(chan struct{})
	go func() {
		done := ctx.Done()
		for {
			select {
			case s := <-sigs:
				_ = cmd.Process.Signal(s)
			case <-done:
				done = nil
				_ = cmd.Process.Signal(os.Interrupt)
			case <-exited:
				return
			}
		}
	}()
	err := cmd.Wait()
	close(exited)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	fmt.Fprintf(io.err, "reconciler demo: %v\n", err)
	return exitFailed
}

func demoUsage(io stdio, way demoWay) {
	fmt.Fprintln(io.err, "Usage: reconciler demo [flags]")
	fmt.Fprintln(io.err)
	fmt.Fprintln(io.err, "Runs "+demoBinary+" (next to this binary or on PATH) with the same flags: the")
	fmt.Fprintln(io.err, "reconciler on embedded stand-ins of Treasure Data and a Databricks warehouse,")
	fmt.Fprintln(io.err, "with a local git repository made from the retail example.")
	fmt.Fprintln(io.err)
	if way.moduleRoot != "" {
		fmt.Fprintln(io.err, demoBinary+" is not installed; in this checkout, `reconciler demo` builds it")
		fmt.Fprintln(io.err, "(go build ./cmd/reconciler-demo, with cgo) and runs it. Its flags: reconciler demo --help")
		fmt.Fprintln(io.err, "once it is installed, or go run ./cmd/reconciler-demo --help.")
		return
	}
	fmt.Fprintln(io.err, demoBinary+" is not installed. It needs cgo (a C compiler: its warehouse")
	fmt.Fprintln(io.err, "stand-in embeds DuckDB). Install it next to reconciler with:")
	fmt.Fprintln(io.err)
	fmt.Fprintln(io.err, "  CGO_ENABLED=1 go install "+demoPackage+"@latest")
	fmt.Fprintln(io.err)
	fmt.Fprintln(io.err, "or run `go run ./cmd/reconciler demo` in a checkout of the source.")
}
