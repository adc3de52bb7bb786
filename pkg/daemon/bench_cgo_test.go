//go:build cgo

package daemon

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/pkg/dbxstandin"
	"github.com/cas-reconciler/reconciler/pkg/gittest"
	"github.com/cas-reconciler/reconciler/pkg/tdstandin"
	"github.com/cas-reconciler/reconciler/pkg/webhook"
)

// segmentFiles generates a repository of n segments in files of 100, each in
// one of n/100 folders, on the retail parent segment.
func segmentFiles(t testing.TB, n int, changed int, value string) map[string]string {
	t.Helper()
	files := map[string]string{}
	for f := 0; f*100 < n; f++ {
		var b strings.Builder
		b.WriteString("package retail\n\nsegments: {\n")
		for i := f * 100; i < min(n, (f+1)*100); i++ {
			v := "US"
			if i == changed {
				v = value
			}
			fmt.Fprintf(&b, "\t\"Bench %05d\": {folder: \"Bench/Group %03d\", where: [{attribute: \"country\", oneOf: [%q]}]}\n", i, f, v)
		}
		b.WriteString("}\n")
		files[fmt.Sprintf("segments/bench_%03d.cue", f)] = b.String()
	}
	return files
}

// BenchmarkPushToApplied measures commit-to-applied latency through the
// generic webhook for a one-segment change, with the daemon running as a
// separate process (reconciler run) against a real git server and both
// stand-ins, and reports the daemon's peak resident memory.
//
//	go test ./pkg/daemon -run '^$' -bench PushToApplied -benchtime 20x
func BenchmarkPushToApplied(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("segments=%d", n), func(b *testing.B) { benchPush(b, n) })
	}
}

func benchPush(b *testing.B, n int) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "reconciler")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/reconciler")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}

	git := gittest.NewServer(b, gittest.WithToken(gitToken))
	repo := git.NewRepo(b, "retail")
	repo.ImportDir(b, "retail parent", retailDir)
	own, err := filepath.Glob(filepath.Join(retailDir, "segments", "*.cue"))
	if err != nil || len(own) == 0 {
		b.Fatalf("no segment files in %s: %v", retailDir, err)
	}
	var drop []string
	for _, f := range own {
		drop = append(drop, "segments/"+filepath.Base(f))
	}
	repo.Remove(b, "only the bench segments", drop...)
	repo.Commit(b, "bench segments", segmentFiles(b, n, -1, ""))

	td, err := tdstandin.New(tdstandin.Options{MasterKeys: []string{tdKey}, Connections: map[string]string{"databricks-retail": "341079"}})
	if err != nil {
		b.Fatal(err)
	}
	td.Start()
	b.Cleanup(td.Close)
	fx, err := dbxstandin.LoadFixture("../../testdata/warehouse/retail.yaml")
	if err != nil {
		b.Fatal(err)
	}
	dbx, err := dbxstandin.New(fx)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { dbx.Close() })
	ep, err := dbx.Start()
	if err != nil {
		b.Fatal(err)
	}

	port := freePort(b)
	cfg := fmt.Sprintf(`listen: "127.0.0.1:%d"
log: {level: warn}
sources:
  - name: retail
    url: %s
    auth: {token: {env: GIT_TOKEN}}
    schedule: "@every 1h"
    jitter: 0s
treasure:
  endpoints: {cdp: %q, cas: %q, classic: %q}
  apiKey: {env: TD_API_KEY}
  rateLimit: 10000
  burst: 100
  concurrency: 8
prune: {maxDeletes: 0, maxDeletePercent: 0}
databricks:
  host: %s
  port: %d
  httpPath: %s
  insecure: true
  token: {env: DBX_TOKEN}
webhooks: {generic: {env: HOOK_SECRET}}
`, port, repo.URL(), td.URL(), td.URL(), td.URL(), ep.Host, ep.Port, ep.HTTPPath)
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", cfgPath)
	cmd.Env = append(os.Environ(), "GIT_TOKEN="+gitToken, "TD_API_KEY="+tdKey, "DBX_TOKEN="+dbxToken, "HOOK_SECRET="+hookKey)
	logf, err := os.Create(filepath.Join(dir, "daemon.log"))
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		logf.Close()
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	head := repo.Head(b, "main")
	start := time.Now()
	waitApplied(b, base, head, 10*time.Minute, filepath.Join(dir, "daemon.log"))
	b.Logf("initial apply of %d segments: %s", n, time.Since(start).Round(time.Millisecond))

	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		name := fmt.Sprintf("segments/bench_%03d.cue", (i%n)/100)
		changed := segmentFiles(b, n, i%n, fmt.Sprintf("C%d", i))[name]
		rev := repo.Commit(b, "change one segment", map[string]string{name: changed})
		b.StartTimer()
		t0 := time.Now()
		body := fmt.Sprintf(`{"ref":"refs/heads/main","after":%q,"repository":{"clone_url":%q}}`, rev, repo.URL())
		req, _ := http.NewRequest("POST", base+"/hooks/generic", strings.NewReader(body))
		req.Header.Set("X-Signature-256", webhook.Sign([]byte(hookKey), []byte(body)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		waitApplied(b, base, rev, time.Minute, filepath.Join(dir, "daemon.log"))
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.95), "p95-ms")
	b.ReportMetric(0, "ns/op")
	if hwm := peakRSS(cmd.Process.Pid); hwm > 0 {
		b.ReportMetric(hwm, "peak-RSS-MiB")
	}
}

func freePort(b *testing.B) int {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitApplied polls /status until the source applied rev.
func waitApplied(b *testing.B, base, rev string, timeout time.Duration, logPath string) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/status")
		if err == nil {
			var st Status
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if err == nil && len(st.Sources) == 1 && st.Sources[0].AppliedRevision == rev {
				return
			}
			if err == nil && len(st.Sources) == 1 && st.Sources[0].Stalled && st.Sources[0].Revision == rev {
				b.Fatalf("revision %s stalled: %s", rev, st.Sources[0].Message)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	logs, _ := os.ReadFile(logPath)
	b.Fatalf("revision %s not applied within %s; daemon log:\n%s", rev, timeout, logs)
}

// peakRSS reads VmHWM (peak resident set size) of a process, in MiB.
func peakRSS(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return float64(kb) / 1024
		}
	}
	return 0
}
