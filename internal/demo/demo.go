//go:build cgo

// Package demo runs the whole system on embedded stand-ins: a Treasure Data
// stand-in, a Databricks warehouse stand-in (DuckDB, hence cgo) and a local
// git repository made from the embedded retail example. It is the
// reconciler-demo binary; the product binary links none of it.
package demo

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cas-reconciler/reconciler/examples"
	"github.com/cas-reconciler/reconciler/internal/cli"
	"github.com/cas-reconciler/reconciler/internal/config"
	"github.com/cas-reconciler/reconciler/internal/daemon"
	"github.com/cas-reconciler/reconciler/internal/logging"
	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin"
	"github.com/cas-reconciler/reconciler/internal/standin/tdstandin"
	"github.com/cas-reconciler/reconciler/internal/wiring"
)

// Credentials of the demo's stand-ins. They are not secrets: they exist only
// inside the demo process.
const (
	demoTDKey = "1/demo0123456789abcdef0123456789abcdef"
	// The warehouse is used as a service principal (OAuth machine to
	// machine): the stand-in's token endpoint exchanges this client id
	// and secret for a bearer token of principal treasure-sp.
	demoDBXClientID = "demo-reconciler-sp"
	demoDBXSecret   = "demo-oauth-secret-0123456789"
	demoConnName    = "databricks-retail"
	demoRepoName    = "retail"
	demoSourceKey   = "retail"
)

// stdio carries the process streams, so that the demo can be run in tests.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// Exit codes, as the reconciler's.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// Main runs the demo with the arguments after the program name (the same
// whether started as reconciler-demo or through `reconciler demo`) and
// returns the process exit code: the whole system on embedded stand-ins,
// with a local git repository to commit into.
func Main(ctx context.Context, args []string, in io.Reader, out, errw io.Writer) int {
	return run(ctx, args, stdio{in: in, out: out, err: errw})
}

func run(ctx context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(io.err)
	dir := fs.String("dir", ".demo", "working `directory` of the demo: created, or recreated if an earlier demo made it; any other non-empty directory is refused")
	listen := fs.String("listen", "127.0.0.1:8080", "address of the daemon's HTTP server")
	every := fs.Duration("every", 15*time.Second, "reconcile schedule (commits also trigger at once)")
	logLevel := fs.String("log-level", "warn", "daemon log level")
	once := fs.Bool("once", false, "exit after the first reconcile (for scripts and tests)")
	fs.Usage = func() {
		fmt.Fprintln(io.err, "Usage: reconciler demo [flags]   (or reconciler-demo [flags])")
		fmt.Fprintln(io.err)
		fmt.Fprintln(io.err, "Runs the reconciler against a Treasure Data stand-in, a Databricks warehouse")
		fmt.Fprintln(io.err, "stand-in and a local git repository made from the embedded retail example.")
		fs.PrintDefaults()
	}
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case err != nil:
		return exitUsage
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	if err := demo(ctx, io, *dir, *listen, *every, *logLevel, *once); err != nil {
		fmt.Fprintf(io.err, "reconciler demo: %v\n", err)
		return exitFailed
	}
	return exitOK
}

func demo(ctx context.Context, io stdio, dir, listen string, every time.Duration, logLevel string, once bool) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := checkDemoDir(dir); err != nil {
		return err
	}
	// Take the port before doing anything, so that a busy one fails at once.
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %v; stop what uses it or choose another address with --listen", listen, err)
	}
	defer ln.Close()
	if err := resetDemoDir(dir); err != nil {
		return err
	}
	step := func(format string, a ...any) { fmt.Fprintf(io.out, "==> "+format+"\n", a...) }

	// Treasure Data.
	td, err := tdstandin.New(tdstandin.Options{MasterKeys: []string{demoTDKey},
		Connections: map[string]string{demoConnName: "341079", "s3-retail-exports": "341090"}, User: "demo-user"})
	if err != nil {
		return err
	}
	td.Start()
	defer td.Close()
	step("Treasure Data stand-in at %s (connection %q)", td.URL(), demoConnName)

	// Databricks.
	fx, err := dbxstandin.ParseFixture("retail-warehouse.yaml", examples.RetailWarehouse)
	if err != nil {
		return err
	}
	dbx, err := dbxstandin.New(fx, dbxstandin.WithOAuthClient(demoDBXClientID, demoDBXSecret, "treasure-sp"))
	if err != nil {
		return err
	}
	defer dbx.Close()
	ep, err := dbx.Start()
	if err != nil {
		return err
	}
	step("Databricks SQL warehouse stand-in at %s%s (Unity Catalog retail_prod.cdp with sample rows; OAuth service principal %q)",
		ep.URL, ep.HTTPPath, demoDBXClientID)

	// Git.
	repo := filepath.Join(dir, demoRepoName)
	if err := newDemoRepo(repo); err != nil {
		return err
	}
	gitURL, stopGit, err := serveGit(dir)
	if err != nil {
		return err
	}
	defer stopGit()
	remote := gitURL + "/" + demoRepoName + "/.git"
	step("git repository %s, served at %s", repo, remote)

	// Configuration and daemon.
	for k, v := range map[string]string{"DEMO_TD_API_KEY": demoTDKey, "DEMO_DATABRICKS_CLIENT_SECRET": demoDBXSecret} {
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	cfgText := fmt.Sprintf(`# Written by reconciler demo.
listen: %q
log: {level: %s, format: text}
sources:
  - name: %s
    url: %s
    schedule: "@every %s"
    jitter: "0s"
treasure:
  endpoints: {cdp: %q, cas: %q, classic: %q}
  apiKey: {env: DEMO_TD_API_KEY}
  rateLimit: 50
  burst: 50
databricks:
  host: %q
  port: %d
  httpPath: %q
  insecure: true
  oauth: {clientId: %q, clientSecret: {env: DEMO_DATABRICKS_CLIENT_SECRET}}
prune:
  enabled: true
`, ln.Addr().String(), logLevel, demoSourceKey, remote, every, td.URL(), td.URL(), td.URL(), ep.Host, ep.Port, ep.HTTPPath,
		demoDBXClientID)
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o644); err != nil {
		return err
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return fmt.Errorf("the generated configuration is invalid: %w", err)
	}

	// The first plan, as `reconciler plan` shows it.
	step("first plan (reconciler plan --config %s)", cfgPath)
	res, err := cli.Plan(ctx, cfgPath, io.out, io.err)
	if err != nil {
		return fmt.Errorf("the first plan: %w", err)
	}

	red := logging.NewRedactor(wiring.Secrets(cfg)...)
	log, err := logging.New(io.err, cfg.Log.Level, cfg.Log.Format, red)
	if err != nil {
		return err
	}
	d, err := cli.NewDaemon(daemon.Options{Config: cfg, Logger: log, Listener: ln}, red, prometheus.NewRegistry())
	if err != nil {
		return err
	}
	base := "http://" + d.Addr()
	if err := installHook(repo, base+"/api/v1/sources/"+demoSourceKey+"/reconcile"); err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()

	// Wait for the first apply.
	deadline := time.Now().Add(2 * time.Minute)
	for len(td.Segments()) < len(res.Desired.Segments) && time.Now().Before(deadline) {
		select {
		case err := <-done:
			return fmt.Errorf("daemon stopped: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	step("applied: Treasure Data now holds %d parent segment(s), %d folders and %d segments",
		len(td.Parents()), len(td.Folders()), len(td.Segments()))

	// What an SRE runs before turning the daemon on: read-only, then with a
	// round trip of writes in a sandbox folder.
	doctorArgs := []string{"--config", cfgPath, "--connection", demoConnName}
	for _, p := range res.Desired.Parents {
		doctorArgs = append(doctorArgs, "--parent", p.Name)
	}
	step("doctor, read-only (reconciler doctor %s)", strings.Join(quoteArgs(doctorArgs), " "))
	if code := cli.Main(ctx, append([]string{"doctor"}, doctorArgs...), io.in, io.out, io.err); code != exitOK {
		return fmt.Errorf("reconciler doctor: exit %d", code)
	}
	sandboxArgs := append(doctorArgs, "--sandbox", "doctor-sandbox")
	step("doctor with a sandbox round trip (reconciler doctor %s)", strings.Join(quoteArgs(sandboxArgs), " "))
	if code := cli.Main(ctx, append([]string{"doctor"}, sandboxArgs...), io.in, io.out, io.err); code != exitOK {
		return fmt.Errorf("reconciler doctor --sandbox: exit %d", code)
	}
	fmt.Fprintf(io.out, `
    metrics   %[1]s/metrics
    status    %[1]s/status
    repo      %[2]s

Edit a segment there and commit, for example:

    cd %[2]s
    sed -i 's/atLeast: 1000/atLeast: 2000/' segments/marketing.cue
    git commit -am "raise the VIP threshold"

The commit hook triggers a reconcile at once (the schedule runs every %[3]s too).
Watch it in %[1]s/status. Press Ctrl-C to stop.
`, base, repo, every)
	if once {
		cancel()
		return <-done
	}
	select {
	case <-ctx.Done():
		cancel()
		return <-done
	case err := <-done:
		return err
	}
}

// quoteArgs quotes the arguments that hold spaces, for display.
func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if strings.ContainsAny(a, " \t") {
			out[i] = strconv.Quote(a)
		}
	}
	return out
}

// demoMarker is the file that marks a directory the demo made. Only such a
// directory is deleted and made again; any other non-empty one is the
// user's and is left alone.
const demoMarker = ".reconciler-demo"

// checkDemoDir refuses dir unless it is missing, empty or made by the demo.
func checkDemoDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("--dir %s: %w", dir, err)
	case len(entries) == 0:
		return nil
	}
	if fi, err := os.Lstat(filepath.Join(dir, demoMarker)); err == nil && fi.Mode().IsRegular() {
		return nil
	}
	return fmt.Errorf("--dir %s is not empty and was not made by the demo (it has no %s file); "+
		"the demo deletes its directory at every start: choose a new or empty directory", dir, demoMarker)
}

// resetDemoDir deletes dir (checked by checkDemoDir) and makes it again,
// marked as the demo's.
func resetDemoDir(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, demoMarker),
		[]byte("Made by reconciler demo, which deletes this directory when it starts again here.\n"), 0o644)
}

// git runs a git command in dir with a fixed identity.
func git(dir string, args ...string) error {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Demo", "GIT_AUTHOR_EMAIL=demo@localhost",
		"GIT_COMMITTER_NAME=Demo", "GIT_COMMITTER_EMAIL=demo@localhost")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// newDemoRepo creates a git repository holding the embedded retail example.
func newDemoRepo(repo string) error {
	retail, err := fs.Sub(examples.Retail, "retail")
	if err != nil {
		return err
	}
	if err := os.CopyFS(repo, retail); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"config", "http.receivepack", "true"},
		{"add", "-A"},
		{"commit", "-q", "-m", "Retail segments"},
	} {
		if err := git(repo, args...); err != nil {
			return err
		}
	}
	return nil
}

// serveGit serves the repositories under dir with git http-backend.
func serveGit(dir string) (url string, stop func(), err error) {
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return "", nil, fmt.Errorf("git --exec-path: %w", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	h := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + dir, "GIT_HTTP_EXPORT_ALL=1"}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// installHook makes every commit trigger a reconcile at once.
func installHook(repo, triggerURL string) error {
	hook := fmt.Sprintf(`#!/bin/sh
# Installed by reconciler demo: ask the daemon to reconcile now.
if command -v curl >/dev/null 2>&1; then
  curl -s -o /dev/null -X POST %[1]q || true
elif command -v wget >/dev/null 2>&1; then
  wget -q -O /dev/null --post-data= %[1]q || true
fi
`, triggerURL)
	return os.WriteFile(filepath.Join(repo, ".git", "hooks", "post-commit"), []byte(hook), 0o755)
}
