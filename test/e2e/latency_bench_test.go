//go:build cgo

package e2e

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin"
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
		name, content := generatedFile(i, t)
		files[name] = content
	}
	return files
}

// generatedFile returns the file of segment i of generated, its first
// threshold t.
func generatedFile(i, t int) (name, content string) {
	return fmt.Sprintf("gen/f%02d/s%05d.cue", i%100, i), fmt.Sprintf(
		"package retail\n\nsegments: \"S%05d\": {folder: \"Gen/F%02d\", where: [{attribute: \"ltv\", atLeast: %d}, {behavior: \"orders\", count: {atLeast: 2}, within: {days: 30}}]}\n",
		i, i%100, t)
}

// BenchmarkCommitToApplied measures the time from a pushed one-segment
// change (its webhook delivered at once) to the change being in Treasure Data,
// in repositories of 1,000, 10,000 and 100,000 segments, at the default rate
// limit of the Treasure client (2 requests/s, burst 2). It reports p50 and
// p95, the duration of a run that changes nothing and its steps, and the
// daemon's peak RSS.
//
// The initial apply of every segment runs on a daemon without rate limit
// (at 2 requests/s it would take hours); that daemon is then stopped and
// the measured daemon starts on the same cache directory, as a restarted
// daemon does (its Treasure rule cache saved by the first).
func BenchmarkCommitToApplied(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("segments=%d", n), func(b *testing.B) { benchLatency(b, n) })
	}
}

// benchDaemon is one `reconciler run` process of the benchmark.
type benchDaemon struct {
	cmd  *exec.Cmd
	addr string
}

func startBenchDaemon(b *testing.B, cfgPath, addr string) *benchDaemon {
	b.Helper()
	cmd := exec.Command(reconcilerBinary(b), "run", "--config", cfgPath)
	cmd.Stderr = os.Stderr
	if v := os.Getenv("BENCH_DAEMON_ENV"); v != "" {
		// Extra variables for the daemon alone, for example
		// "GODEBUG=gctrace=1 GOGC=50".
		cmd.Env = append(os.Environ(), strings.Fields(v)...)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	d := &benchDaemon{cmd: cmd, addr: addr}
	b.Cleanup(d.stop)
	eventually(b, "the daemon answers /healthz", 10*time.Minute, func() bool {
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
	return d
}

func (d *benchDaemon) stop() {
	if d.cmd.ProcessState != nil {
		return
	}
	_ = d.cmd.Process.Signal(os.Interrupt)
	_ = d.cmd.Wait()
}

// benchRun is the last run of the benchmark's source as /status shows it.
type benchRun struct {
	ID      string `json:"id"`
	Result  string `json:"result"`
	Error   string `json:"error"`
	Start   time.Time
	End     time.Time
	Applied bool `json:"applied"`
	Steps   []struct {
		Step     string        `json:"step"`
		Duration time.Duration `json:"duration_ns"`
	} `json:"steps"`
}

// lastRun returns the last finished run, or nil while none has finished or
// one is running.
func (d *benchDaemon) lastRun(b *testing.B) *benchRun {
	b.Helper()
	resp, err := http.Get("http://" + d.addr + "/status")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Sources []struct {
			Running bool      `json:"running"`
			LastRun *benchRun `json:"last_run"`
		} `json:"sources"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		b.Fatalf("/status: %v", err)
	}
	if len(doc.Sources) != 1 || doc.Sources[0].Running {
		return nil
	}
	return doc.Sources[0].LastRun
}

// waitRun waits for a finished run other than the one with id after.
func (d *benchDaemon) waitRun(b *testing.B, after string, timeout time.Duration) *benchRun {
	b.Helper()
	var r *benchRun
	eventually(b, "a run to finish", timeout, func() bool {
		r = d.lastRun(b)
		return r != nil && r.ID != after
	})
	if r.Result != "success" {
		b.Fatalf("run %s: %s: %s", r.ID, r.Result, r.Error)
	}
	return r
}

// stepTimes collects the durations of runs and of their steps.
type stepTimes map[string][]time.Duration

func (st stepTimes) add(r *benchRun) {
	st["run"] = append(st["run"], r.End.Sub(r.Start))
	for _, s := range r.Steps {
		st[s.Step] = append(st[s.Step], s.Duration)
	}
}

// report reports the median of each as prefix-STEP-ms.
func (st stepTimes) report(b *testing.B, prefix string) {
	for step, ds := range st {
		slices.Sort(ds)
		b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, prefix+"-"+step+"-ms")
	}
}

func benchConfig(b *testing.B, path string, port int, repoURL, tdURL string, ep dbxstandin.Endpoint, cacheDir string, unlimited bool) {
	b.Helper()
	rate := ""
	if unlimited {
		rate = "  rateLimit: 100000\n  burst: 100000\n  concurrency: 16\n"
	}
	cfgText := fmt.Sprintf(`listen: "127.0.0.1:%d"
cacheDir: %q
log: {level: %s}
load: {maxFiles: 200000, maxTotalBytes: 1073741824}
sources:
  - name: bench
    url: %s
    schedule: "@every 1h"
    jitter: "0s"
    prune: {enabled: true, maxDeletes: 0, maxDeletePercent: 0}
treasure:
  endpoints: {cdp: %q, cas: %q, classic: %q}
  apiKey: {env: BENCH_TD_KEY}
%sdatabricks:
  host: %q
  port: %d
  httpPath: %q
  insecure: true
  token: {env: BENCH_DBX_TOKEN}
webhooks:
  github: {env: BENCH_WEBHOOK}
debug: {pprof: %t}
`, port, cacheDir, cmp.Or(os.Getenv("BENCH_LOG_LEVEL"), "error"), repoURL, tdURL, tdURL, tdURL, rate, ep.Host, ep.Port, ep.HTTPPath, os.Getenv("BENCH_PPROF") != "")
	if err := os.WriteFile(path, []byte(cfgText), 0o600); err != nil {
		b.Fatal(err)
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
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cacheDir := filepath.Join(dir, "cache")
	cfgPath := filepath.Join(dir, "config.yaml")
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

	// Initial apply of every segment, without rate limit. The daemon runs
	// as its own process, as a user runs it, so that its memory is
	// measured alone.
	benchConfig(b, cfgPath, port, repo.URL(), td.URL(), ep, cacheDir, true)
	t0 := time.Now()
	first := startBenchDaemon(b, cfgPath, addr)
	eventually(b, "the first apply", 60*time.Minute, func() bool { return td.SegmentCount() >= n })
	r := first.waitRun(b, "", 10*time.Minute)
	initial := time.Since(t0)
	b.Logf("initial apply of %d segments: %s, steps %v", n, initial, r.Steps)
	// A run that changes nothing observes what the apply wrote, so that
	// the client's saved rule cache holds every segment.
	push()
	r = first.waitRun(b, r.ID, 30*time.Minute)
	b.Logf("run after the initial apply: steps %v", r.Steps)
	initialRSS := peakRSS(b, first.cmd.Process.Pid)
	first.stop()

	// The measured daemon: default rate limit, same cache directory.
	benchConfig(b, cfgPath, port, repo.URL(), td.URL(), ep, cacheDir, false)
	t0 = time.Now()
	d := startBenchDaemon(b, cfgPath, addr)
	last := d.waitRun(b, "", 30*time.Minute)
	restart := time.Since(t0)
	b.Logf("first run after the restart: %s, steps %v", restart, last.Steps)

	// Runs that change nothing: the same revision again.
	noop := stepTimes{}
	var noopRequests []int
	for range 5 {
		// As far apart as the client's rate limit refills its burst, as
		// runs on a schedule are.
		time.Sleep(time.Second)
		before := len(td.Requests())
		push()
		last = d.waitRun(b, last.ID, 10*time.Minute)
		noop.add(last)
		noopRequests = append(noopRequests, len(td.Requests())-before)
	}

	ids := map[string]string{}
	for _, s := range td.Segments() {
		ids[s.Name] = s.ID
	}
	changed := stepTimes{}
	var lat, pushes, runs []time.Duration
	var changeRequests []int
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		want := 5000 + i
		k := (i * 7919) % n
		target := fmt.Sprintf("S%05d", k)
		b.StopTimer()
		name, content := generatedFile(k, want)
		b.StartTimer()
		// The clock starts when the commit is on the git server, as a git
		// host sends its push webhook then; the time the test's git CLI
		// takes to commit and push the files is reported apart.
		before := len(td.Requests())
		pushStart := time.Now()
		repo.Commit(b, "change "+target, map[string]string{name: content})
		start := time.Now()
		pushes = append(pushes, start.Sub(pushStart))
		push()
		needle := []byte(fmt.Sprint(want))
		eventually(b, "the change applied", 5*time.Minute, func() bool {
			s, ok := td.Segment(ids[target])
			return ok && bytes.Contains(s.Rule, needle)
		})
		lat = append(lat, time.Since(start))
		// The run goes on after the write (it observes Treasure, plans
		// again); the next push waits for it, untimed.
		b.StopTimer()
		last = d.waitRun(b, last.ID, 10*time.Minute)
		runs = append(runs, last.End.Sub(start))
		changed.add(last)
		changeRequests = append(changeRequests, len(td.Requests())-before)
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(lat)
	slices.Sort(pushes)
	slices.Sort(runs)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
		b.ReportMetric(float64(lat[(len(lat)*95)/100].Milliseconds()), "p95-ms")
		b.ReportMetric(float64(pushes[len(pushes)/2].Milliseconds()), "git-push-p50-ms")
		b.ReportMetric(float64(runs[len(runs)/2].Milliseconds()), "push-to-run-end-p50-ms")
		changed.report(b, "change")
		slices.Sort(changeRequests)
		b.ReportMetric(float64(changeRequests[len(changeRequests)/2]), "change-requests")
	}
	noop.report(b, "noop")
	slices.Sort(noopRequests)
	b.ReportMetric(float64(noopRequests[len(noopRequests)/2]), "noop-requests")
	b.ReportMetric(initial.Seconds(), "initial-apply-s")
	b.ReportMetric(restart.Seconds(), "restart-first-run-s")
	b.ReportMetric(float64(peakRSS(b, d.cmd.Process.Pid))/1024, "daemon-peak-RSS-MiB")
	b.ReportMetric(float64(initialRSS)/1024, "initial-apply-peak-RSS-MiB")
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
