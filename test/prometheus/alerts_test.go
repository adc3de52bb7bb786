//go:build cgo

package prometheus

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin/dbxtest"
	"github.com/cas-reconciler/reconciler/internal/standin/gittest"
	"github.com/cas-reconciler/reconciler/internal/standin/tdstandin"
)

const (
	apiKey   = "1/0123456789abcdef0123456789abcdef"
	gitToken = "git-token-0123456789"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

func get(url string) (string, int) {
	resp, err := http.Get(url)
	if err != nil {
		return err.Error(), 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return string(b), resp.StatusCode
}

// firing returns the states of the named alert ("firing", "pending") per
// source label.
func firing(t *testing.T, promURL, alert string) map[string]string {
	body, code := get(promURL + "/api/v1/alerts")
	if code != 200 {
		return nil
	}
	var r struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("alerts answer: %v", err)
	}
	out := map[string]string{}
	for _, a := range r.Data.Alerts {
		if a.Labels["alertname"] == alert {
			out[a.Labels["source"]] = a.State
		}
	}
	return out
}

// TestStalledAlertFiresAndResolves runs the daemon against the stand-ins and
// a real git server, with a real Prometheus evaluating the shipped rules (with
// shorter "for" durations): breaking the repository fires
// ReconcilerSourceStalled, fixing it resolves the alert.
func TestStalledAlertFiresAndResolves(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus is not installed (Debian package prometheus); .ci/run installs it")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	// The daemon binary, built as a user would.
	bin := filepath.Join(dir, "reconciler")
	build := exec.Command("go", "build", "-o", bin, "./cmd/reconciler")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}

	// Treasure, Databricks and git.
	td, err := tdstandin.New(tdstandin.Options{MasterKeys: []string{apiKey}, Connections: map[string]string{"databricks-retail": "341079", "s3-retail-exports": "341090"}})
	if err != nil {
		t.Fatal(err)
	}
	td.Start()
	t.Cleanup(td.Close)
	_, ep := dbxtest.Start(t, filepath.Join(root, "examples/retail-warehouse.yaml"))
	git := gittest.NewServer(t, gittest.WithToken(gitToken))
	repo := git.NewRepo(t, "segments")
	repo.ImportDir(t, "retail segments", filepath.Join(root, "examples/retail"))

	port := freePort(t)
	cfg := fmt.Sprintf(`listen: "127.0.0.1:%d"
log: {level: info, format: json}
sources:
  - name: retail
    url: %s
    auth: {token: {env: GIT_TOKEN}}
    schedule: "@every 2s"
    jitter: "0s"
treasure:
  endpoints: {cdp: %q, cas: %q, classic: %q}
  apiKey: {env: TD_API_KEY}
  rateLimit: 100
  burst: 100
databricks:
  host: %q
  port: %d
  httpPath: %q
  insecure: true
  token: {env: DATABRICKS_TOKEN}
`, port, repo.URL(), td.URL(), td.URL(), td.URL(), ep.Host, ep.Port, ep.HTTPPath)
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	daemon := exec.CommandContext(ctx, bin, "run", "--config", cfgPath)
	daemon.Env = append(os.Environ(), "GIT_TOKEN="+gitToken, "TD_API_KEY="+apiKey, "DATABRICKS_TOKEN=dapi-treasure-sp")
	logs, err := os.Create(filepath.Join(dir, "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	daemon.Stdout, daemon.Stderr = logs, logs
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = daemon.Process.Signal(os.Interrupt)
		_ = daemon.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			t.Logf("daemon log:\n%s", tail(string(b), 4000))
		}
	})
	daemonURL := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitFor(t, "the daemon's first reconcile", 90*time.Second, func() bool {
		_, code := get(daemonURL + "/readyz")
		return code == 200 && len(td.Segments()) > 0
	})

	// Prometheus with the shipped rules, "for" shortened to seconds.
	rules, err := os.ReadFile(filepath.Join(root, "deploy/alerts/reconciler-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rules = regexp.MustCompile(`(?m)^(\s+for: ).*$`).ReplaceAll(rules, []byte("${1}2s"))
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o600); err != nil {
		t.Fatal(err)
	}
	promPort := freePort(t)
	promCfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [rules.yaml]
scrape_configs:
  - job_name: reconciler
    static_configs: [{targets: ["127.0.0.1:%d"]}]
`, port)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(promCfg), 0o600); err != nil {
		t.Fatal(err)
	}
	prom := exec.CommandContext(ctx, promBin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"), fmt.Sprintf("--web.listen-address=127.0.0.1:%d", promPort))
	promLog, _ := os.Create(filepath.Join(dir, "prometheus.log"))
	prom.Stdout, prom.Stderr = promLog, promLog
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = prom.Process.Kill()
		_ = prom.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(promLog.Name())
			t.Logf("prometheus log:\n%s", tail(string(b), 3000))
		}
	})
	promURL := fmt.Sprintf("http://127.0.0.1:%d", promPort)
	waitFor(t, "prometheus to scrape the daemon", 60*time.Second, func() bool {
		body, code := get(promURL + `/api/v1/query?query=reconciler_source_stalled`)
		return code == 200 && strings.Contains(body, `"source":"retail"`)
	})
	if s := firing(t, promURL, "ReconcilerSourceStalled"); s["retail"] != "" {
		t.Fatalf("ReconcilerSourceStalled is %s before the repository broke", s["retail"])
	}

	// Break the repository: an attribute that does not exist.
	repo.Commit(t, "break", map[string]string{"broken.cue": "package retail\n\nsegments: \"Broken\": {where: [{attribute: \"no_such_attribute\", equals: 1}]}\n"})
	waitFor(t, "ReconcilerSourceStalled to fire", 90*time.Second, func() bool {
		return firing(t, promURL, "ReconcilerSourceStalled")["retail"] == "firing"
	})
	// Fix it: the alert resolves.
	repo.Remove(t, "fix", "broken.cue")
	waitFor(t, "ReconcilerSourceStalled to resolve", 90*time.Second, func() bool {
		return firing(t, promURL, "ReconcilerSourceStalled")["retail"] == ""
	})
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
