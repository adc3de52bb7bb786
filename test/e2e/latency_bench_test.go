//go:build cgo

package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin/dbxtest"
	"github.com/cas-reconciler/reconciler/internal/standin/gittest"
	"github.com/cas-reconciler/reconciler/internal/standin/tdstandin"
	"github.com/cas-reconciler/reconciler/internal/webhook"
	"github.com/databricks/databricks-sql-go/logger"
)

func init() { _ = logger.SetLogLevel("disabled") }

const (
	benchKey    = "1/bench0123456789abcdef0123456789abcdef"
	benchSecret = "bench-webhook-secret"
)

// generated returns a repository of n one-segment files in 100 folders on
// the retail parent segment.
func generated(n int, threshold map[int]int) map[string]string {
	files := map[string]string{}
	for i := range n {
		t := 100 + i%1000
		if v, ok := threshold[i]; ok {
			t = v
		}
		files[fmt.Sprintf("gen/f%02d/s%05d.cue", i%100, i)] = fmt.Sprintf(
			"package retail\n\nsegments: \"S%05d\": {folder: \"Gen/F%02d\", where: [{attribute: \"ltv\", atLeast: %d}, {behavior: \"orders\", count: {atLeast: 2}, within: {days: 30}}]}\n",
			i, i%100, t)
	}
	return files
}

// BenchmarkCommitToApplied measures the time from a pushed one-segment
// change (its webhook delivered at once) to the change being in Treasure Data,
// in repositories of 1,000 and 10,000 segments, and reports p50 and p95 and
// the daemon's peak heap.
func BenchmarkCommitToApplied(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("segments=%d", n), func(b *testing.B) { benchLatency(b, n) })
	}
}

func benchLatency(b *testing.B, n int) {
	td, err := tdstandin.New(tdstandin.Options{MasterKeys: []string{benchKey}, Connections: map[string]string{"databricks-retail": "341079", "s3-retail-exports": "341090"}})
	if err != nil {
		b.Fatal(err)
	}
	td.Start()
	b.Cleanup(td.Close)
	_, ep := dbxtest.Start(b, "../../examples/retail-warehouse.yaml")
	git := gittest.NewServer(b)
	repo := git.NewRepo(b, "segments")
	repo.ImportDir(b, "retail parent", "../../examples/retail")
	repo.Remove(b, "only the parent", "segments")
	repo.Commit(b, "generated segments", generated(n, nil))

	dir := b.TempDir()
	b.Setenv("BENCH_TD_KEY", benchKey)
	b.Setenv("BENCH_DBX_TOKEN", "dapi-treasure-sp")
	b.Setenv("BENCH_WEBHOOK", benchSecret)
	port := freeTCPPort(b)
	cfgText := fmt.Sprintf(`listen: "127.0.0.1:%d"
log: {level: error}
sources:
  - name: bench
    url: %s
    schedule: "@every 1h"
    jitter: "0s"
    prune: {enabled: true, maxDeletes: 0, maxDeletePercent: 0}
treasure:
  endpoints: {cdp: %q, cas: %q, classic: %q}
  apiKey: {env: BENCH_TD_KEY}
  rateLimit: 100000
  burst: 1000
  concurrency: 16
databricks:
  host: %q
  port: %d
  httpPath: %q
  insecure: true
  token: {env: BENCH_DBX_TOKEN}
webhooks:
  github: {env: BENCH_WEBHOOK}
debug: {pprof: %t}
`, port, repo.URL(), td.URL(), td.URL(), td.URL(), ep.Host, ep.Port, ep.HTTPPath, os.Getenv("BENCH_PPROF") != "")
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		b.Fatal(err)
	}
	// The daemon runs as its own process, as a user runs it, so that its
	// memory is measured alone.
	bin := reconcilerBinary(b)
	daemonCmd := exec.Command(bin, "run", "--config", cfgPath)
	daemonCmd.Stderr = os.Stderr
	if v := os.Getenv("BENCH_DAEMON_ENV"); v != "" {
		// Extra variables for the daemon alone, for example
		// "GODEBUG=gctrace=1 GOGC=50".
		daemonCmd.Env = append(os.Environ(), strings.Fields(v)...)
	}
	if err := daemonCmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = daemonCmd.Process.Signal(os.Interrupt); _ = daemonCmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	eventually(b, "the daemon answers /healthz", time.Minute, func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	if os.Getenv("BENCH_PPROF") != "" {
		// Profiles: go tool pprof http://ADDR/debug/pprof/heap
		fmt.Fprintf(os.Stderr, "daemon profiles at http://%s/debug/pprof/\n", addr)
	}
	hook := "http://" + addr + "/hooks/github"
	push := func() {
		body := fmt.Appendf(nil, `{"ref":"refs/heads/main","repository":{"clone_url":%q,"html_url":%q}}`, repo.URL(), repo.URL())
		req, _ := http.NewRequest("POST", hook, bytes.NewReader(body))
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-Hub-Signature-256", webhook.Sign([]byte(benchSecret), body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			b.Fatalf("webhook answered %s", resp.Status)
		}
	}
	// Initial apply of every segment.
	push()
	eventually(b, "the first apply", 30*time.Minute, func() bool { return len(td.Segments()) >= n })
	initialRSS := peakRSS(b, daemonCmd.Process.Pid)

	var lat, pushes []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		want := 5000 + i
		target := fmt.Sprintf("S%05d", (i*7919)%n)
		b.StopTimer()
		files := generated(n, nil)
		name := fmt.Sprintf("gen/f%02d/s%05d.cue", (i*7919)%n%100, (i*7919)%n)
		files = map[string]string{name: strings.Replace(files[name], fmt.Sprintf("atLeast: %d}", 100+((i*7919)%n)%1000), fmt.Sprintf("atLeast: %d}", want), 1)}
		b.StartTimer()
		// The clock starts when the commit is on the git server, as a git
		// host sends its push webhook then; the time the test's git CLI
		// takes to commit and push 10,000 files is reported apart.
		pushStart := time.Now()
		repo.Commit(b, "change "+target, files)
		start := time.Now()
		pushes = append(pushes, start.Sub(pushStart))
		push()
		eventually(b, "the change applied", 5*time.Minute, func() bool { return ruleHas(td, target, fmt.Sprint(want)) })
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	slices.Sort(pushes)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
		b.ReportMetric(float64(lat[(len(lat)*95)/100].Milliseconds()), "p95-ms")
		b.ReportMetric(float64(pushes[len(pushes)/2].Milliseconds()), "git-push-p50-ms")
	}
	b.ReportMetric(float64(peakRSS(b, daemonCmd.Process.Pid))/1024, "daemon-peak-RSS-MiB")
	b.ReportMetric(float64(initialRSS)/1024, "initial-apply-peak-RSS-MiB")
}

func ruleHas(td *tdstandin.Server, name, needle string) bool {
	for _, s := range td.Segments() {
		if s.Name == name {
			return bytes.Contains(s.Rule, []byte(needle))
		}
	}
	return false
}

// peakRSS returns the peak resident set size of a process in KiB (VmHWM).
func peakRSS(b *testing.B, pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Logf("peak RSS unknown: %v", err)
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
			return kb
		}
	}
	return 0
}
