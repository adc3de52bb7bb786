//go:build cgo

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin/dbxtest"
	"github.com/cas-reconciler/reconciler/internal/standin/gittest"
	"github.com/cas-reconciler/reconciler/internal/standin/tdstandin"
	"github.com/cas-reconciler/reconciler/internal/syncbuf"
	"github.com/cas-reconciler/reconciler/internal/webhook"
)

// The secrets of a test environment. Every test checks that none of them
// shows up in the daemon's logs or metrics.
const (
	e2eTDKey      = "1/e2e0123456789abcdef0123456789abcdef"
	e2eGitUser    = "reconciler"
	e2eGitPass    = "git-password-0123456789"
	e2eHookSecret = "hook-secret-0123456789"
	e2eDBXToken   = "dapi-treasure-sp"
	retailDir     = "../../examples/retail"
	retailParent  = "Retail Customers"
	// retailSegments is the number of segments in examples/retail.
	retailSegments = 28
)

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// TestMain removes the binary built for the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// reconcilerBinary builds cmd/reconciler once per test run, as a user builds
// it, and returns its path.
func reconcilerBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "reconciler-e2e-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "reconciler")
		// Built as it ships (the Dockerfile's static build): without cgo,
		// so without the embedded warehouse stand-in of the demo.
		build := exec.Command("go", "build", "-o", binPath, "./cmd/reconciler")
		build.Dir = "../.."
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// world is one test's environment: a git server with basic auth holding
// the retail example, both stand-ins, a configuration file for them, and at
// most one running daemon process.
type world struct {
	td     *tdstandin.Server
	repo   *gittest.Repo
	bin    string
	cfg    string
	base   string
	env    []string
	daemon *exec.Cmd
	exited chan error
	logs   *syncbuf.Buffer
}

// contract is what the Treasure stand-in answers: everything the client
// reads, or only the fields Treasure Data's published schemas document.
type contract string

const (
	contractFull       contract = "full"
	contractDocumented contract = "documented"
)

// eachContract runs a test against the stand-in in both modes, so every
// end-to-end behaviour also holds when Treasure answers no more than its
// published contract.
func eachContract(t *testing.T, test func(*testing.T, contract)) {
	for _, c := range []contract{contractFull, contractDocumented} {
		t.Run(string(c), func(t *testing.T) { test(t, c) })
	}
}

// newWorld builds the environment. before runs on the Treasure stand-in
// before anything talks to it (to inject faults from the first request).
func newWorld(t *testing.T, c contract, treasureExtra string, before func(*tdstandin.Server)) *world {
	t.Helper()
	bin := reconcilerBinary(t)
	git := gittest.NewServer(t, gittest.WithBasicAuth(e2eGitUser, e2eGitPass))
	repo := git.NewRepo(t, "segments")
	repo.ImportDir(t, "retail segments", retailDir)

	td, err := tdstandin.New(tdstandin.Options{MasterKeys: []string{e2eTDKey}, Connections: map[string]string{"databricks-retail": "341079", "s3-retail-exports": "341090"},
		DocumentedOnly: c == contractDocumented})
	if err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(td)
	}
	td.Start()
	t.Cleanup(td.Close)

	_, ep := dbxtest.Start(t, "../../examples/retail-warehouse.yaml")

	port := freeTCPPort(t)
	cfg := fmt.Sprintf(`// written by the end-to-end tests
listen: "127.0.0.1:%d"
log: {level: "debug", format: "json"}
sources: [{
	name:     "retail"
	url:      %q
	auth: basic: {username: %q, password: env: "E2E_GIT_PASSWORD"}
	schedule: "@every 1h"
	jitter:   "0s"
}]
treasure: {
	endpoints: {cdp: %q, cas: %q, classic: %q}
	apiKey: file: %q
	rateLimit: 1000
	burst:     100
	%s
}
databricks: {host: %q, port: %d, httpPath: %q, insecure: true, token: env: "E2E_DBX_TOKEN"}
webhooks: github: env: "E2E_HOOK_SECRET"
`, port, repo.URL(), e2eGitUser, td.URL(), td.URL(), td.URL(), "KEYFILE", treasureExtra, ep.Host, ep.Port, ep.HTTPPath)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "td-api-key")
	if err := os.WriteFile(keyFile, []byte(e2eTDKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg = strings.Replace(cfg, `"KEYFILE"`, fmt.Sprintf("%q", keyFile), 1)
	cfgPath := filepath.Join(dir, "reconciler.cue")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	w := &world{
		td: td, repo: repo, bin: bin, cfg: cfgPath,
		base: fmt.Sprintf("http://127.0.0.1:%d", port),
		env: append(os.Environ(),
			"E2E_GIT_PASSWORD="+e2eGitPass, "E2E_DBX_TOKEN="+e2eDBXToken, "E2E_HOOK_SECRET="+e2eHookSecret,
			"NO_COLOR=1"),
	}
	t.Cleanup(func() {
		if w.daemon != nil {
			_ = w.daemon.Process.Kill()
			<-w.exited
		}
		if t.Failed() && w.logs != nil {
			t.Logf("daemon output:\n%s", tail(w.logs.String(), 60))
		}
	})
	return w
}

// start runs `reconciler run --config FILE` and waits until it answers
// /healthz.
func (w *world) start(t *testing.T) {
	t.Helper()
	w.logs = &syncbuf.Buffer{}
	cmd := exec.Command(w.bin, "run", "--config", w.cfg)
	cmd.Env = w.env
	cmd.Stdout, cmd.Stderr = w.logs, w.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.daemon, w.exited = cmd, make(chan error, 1)
	go func() { w.exited <- cmd.Wait() }()
	eventually(t, "the daemon answers /healthz", time.Minute, func() bool {
		resp, err := http.Get(w.base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// stop sends sig to the daemon and returns its exit code.
func (w *world) stop(t *testing.T, sig os.Signal) int {
	t.Helper()
	if err := w.daemon.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-w.exited:
	case <-time.After(90 * time.Second):
		t.Fatal("the daemon did not exit within 90s of the signal")
	}
	w.daemon = nil
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.ExitCode()
	default:
		t.Fatal(err)
		return -1
	}
}

// cli runs a one-shot command of the binary with the world's environment.
func (w *world) cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.bin, args...)
	cmd.Env = w.env
	cmd.Stdin = strings.NewReader("")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatal(err)
	}
	return code, o.String(), e.String()
}

// pushHook delivers a signed GitHub push event for the source's branch, as
// the forge does after a push.
func (w *world) pushHook(t *testing.T) {
	t.Helper()
	body := fmt.Appendf(nil, `{"ref":"refs/heads/main","after":%q,"repository":{"clone_url":%q,"html_url":%q}}`,
		w.repo.Head(t, "main"), w.repo.URL(), w.repo.URL())
	req, err := http.NewRequest(http.MethodPost, w.base+"/hooks/github", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", fmt.Sprint(time.Now().UnixNano()))
	req.Header.Set("X-Hub-Signature-256", webhook.Sign([]byte(e2eHookSecret), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("webhook answered %s", resp.Status)
	}
}

// sourceStatus holds the /status fields the tests look at.
type sourceStatus struct {
	Name            string `json:"name"`
	Revision        string `json:"revision"`
	AppliedRevision string `json:"applied_revision"`
	Ready           bool   `json:"ready"`
	Stalled         bool   `json:"stalled"`
	Reason          string `json:"reason"`
	Message         string `json:"message"`
	LastRun         *struct {
		ID     string `json:"id"`
		Result string `json:"result"`
		Error  string `json:"error"`
	} `json:"last_run"`
	Plan *struct {
		Text string `json:"summary"`
	} `json:"plan"`
	Diagnostics []struct {
		Severity string `json:"severity"`
	} `json:"diagnostics"`
	DiagnosticsTotal int `json:"diagnostics_total"`
}

// status returns the retail source's entry of /status.
func (w *world) status(t *testing.T) sourceStatus {
	t.Helper()
	resp, err := http.Get(w.base + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Sources []sourceStatus `json:"sources"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("/status: %v", err)
	}
	for _, s := range doc.Sources {
		if s.Name == "retail" {
			return s
		}
	}
	t.Fatalf("/status has no source retail: %+v", doc)
	return sourceStatus{}
}

// waitStatus polls /status until ok holds.
func (w *world) waitStatus(t *testing.T, what string, ok func(sourceStatus) bool) sourceStatus {
	t.Helper()
	var st sourceStatus
	eventually(t, what, 2*time.Minute, func() bool {
		st = w.status(t)
		return ok(st)
	})
	return st
}

// metrics returns the /metrics exposition.
func (w *world) metrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(w.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// metricValue returns the value of the series written exactly as series
// (name and labels in exposition order), or -1 when it is absent.
func metricValue(exposition, series string) float64 {
	for _, line := range strings.Split(exposition, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			if _, err := fmt.Sscan(rest, &v); err == nil {
				return v
			}
		}
	}
	return -1
}

// checkNoSecrets fails when a secret of the world appears in text.
func checkNoSecrets(t *testing.T, where, text string) {
	t.Helper()
	for _, s := range []string{e2eTDKey, e2eGitPass, e2eHookSecret, e2eDBXToken} {
		if strings.Contains(text, s) {
			t.Errorf("%s contains the secret %q", where, s[:6]+"…")
		}
	}
}

// writes returns the requests that changed Treasure state.
func writes(td *tdstandin.Server) []string {
	var out []string
	for _, r := range td.Requests() {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

// segmentNames counts Treasure's segments by name.
func segmentNames(td *tdstandin.Server) map[string]int {
	names := map[string]int{}
	for _, s := range td.Segments() {
		names[s.Name]++
	}
	return names
}

func eventually(t testing.TB, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freeTCPPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
