//go:build cgo

package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cas-reconciler/reconciler/internal/config"
	"github.com/cas-reconciler/reconciler/internal/logging"
	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin"
	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin/dbxtest"
	"github.com/cas-reconciler/reconciler/internal/standin/gittest"
	"github.com/cas-reconciler/reconciler/internal/standin/tdstandin"
	"github.com/cas-reconciler/reconciler/internal/syncbuf"
	"github.com/cas-reconciler/reconciler/internal/warehouse"
	"github.com/cas-reconciler/reconciler/internal/webhook"
	"github.com/cas-reconciler/reconciler/internal/wiring"
	"github.com/cas-reconciler/reconciler/pkg/treasure"
)

const (
	tdKey     = "1/0123456789abcdef0123456789abcdef"
	gitToken  = "git-token-0123456789"
	hookKey   = "hook-secret-0123456789"
	dbxToken  = "dapi-treasure-sp"
	retailDir = "../../examples/retail"
)

// retailTreasure starts a Treasure stand-in with the connections the
// retail repository names (its parent segment's and an activation's).
func retailTreasure(t *testing.T) *tdstandin.Server {
	t.Helper()
	td, err := tdstandin.New(tdstandin.Options{MasterKeys: []string{tdKey}, Connections: map[string]string{"databricks-retail": "341079", "s3-retail-exports": "341090"}})
	if err != nil {
		t.Fatal(err)
	}
	td.Start()
	t.Cleanup(td.Close)
	return td
}

// parseConfig parses a test configuration whose secrets come from vars.
func parseConfig(t *testing.T, src string, vars map[string]string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.cue", []byte(src), config.Options{LookupEnv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

type harness struct {
	td     *tdstandin.Server
	dbx    *dbxstandin.Server
	repo   *gittest.Repo
	d      *Daemon
	base   string
	logs   *syncbuf.Buffer
	cancel context.CancelFunc
	done   chan error
	start  func(shutdown time.Duration)
	now    func() time.Time
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, 20*time.Second, nil)
}

// newHarnessWith lets before change the stand-ins before the daemon starts.
func newHarnessWith(t *testing.T, shutdown time.Duration, before func(*tdstandin.Server)) *harness {
	t.Helper()
	return newHarnessOpts(t, harnessOptions{shutdown: shutdown, before: before})
}

// harnessOptions vary the harness.
type harnessOptions struct {
	shutdown time.Duration
	before   func(*tdstandin.Server)
	// dbxAuth replaces the credentials of the databricks block (default
	// a token from DBX_TOKEN); env adds environment variables.
	dbxAuth string
	env     map[string]string
	// now is the daemon's clock (default time.Now).
	now func() time.Time
	// config is appended to the configuration.
	config string
}

func newHarnessOpts(t *testing.T, o harnessOptions) *harness {
	t.Helper()
	shutdown, before := o.shutdown, o.before
	if o.dbxAuth == "" {
		o.dbxAuth = `token: env: "DBX_TOKEN"`
	}
	git := gittest.NewServer(t, gittest.WithToken(gitToken))
	repo := git.NewRepo(t, "retail")
	repo.ImportDir(t, "retail segments", retailDir)

	td := retailTreasure(t)
	dbx, ep := dbxtest.Start(t, "../../examples/retail-warehouse.yaml")

	src := fmt.Sprintf(`
listen: "127.0.0.1:0"
sources: [{name: "retail", url: %q, auth: token: env: "GIT_TOKEN", schedule: "@every 1h"}]
treasure: {endpoints: {cdp: %q, cas: %q, classic: %q}, apiKey: env: "TD_API_KEY"}
databricks: {host: %q, port: %d, httpPath: %q, insecure: true, %s}
webhooks: generic: env: "HOOK_SECRET"
%s
`, repo.URL(), td.URL(), td.URL(), td.URL(), ep.Host, ep.Port, ep.HTTPPath, o.dbxAuth, o.config)
	vars := map[string]string{"GIT_TOKEN": gitToken, "TD_API_KEY": tdKey, "DBX_TOKEN": dbxToken, "HOOK_SECRET": hookKey}
	maps.Copy(vars, o.env)
	cfg := parseConfig(t, src, vars)

	logs := &syncbuf.Buffer{}
	red := logging.NewRedactor()
	log, err := logging.New(logs, "debug", "json", red)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{td: td, dbx: dbx, repo: repo, logs: logs, now: o.now}
	h.start = func(shutdown time.Duration) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		h.startOn(t, cfg, log, red, ln, shutdown)
	}
	if before != nil {
		before(td)
	}
	h.start(shutdown)
	t.Cleanup(func() {
		h.stop(t)
		for _, secret := range []string{tdKey, gitToken, hookKey, dbxToken} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("logs contain the secret %q", secret)
			}
		}
		if t.Failed() {
			t.Logf("daemon logs:\n%s", logs.String())
		}
	})
	return h
}

func (h *harness) stop(t *testing.T) {
	t.Helper()
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("daemon did not stop")
	}
}

func (h *harness) startOn(t *testing.T, cfg *config.Config, log *slog.Logger, red *logging.Redactor, ln net.Listener, shutdown time.Duration) {
	t.Helper()
	d, err := wired(Options{
		Config: cfg, Logger: log, Listener: ln, Now: h.now,
		BackoffBase: 200 * time.Millisecond, BackoffMax: time.Second, ShutdownTimeout: shutdown,
	}, prometheus.NewPedanticRegistry(), wiring.Options{
		Redactor: red,
		Treasure: func(_ string, o *treasure.Options) {
			o.RateLimit = -1
			o.MaxRetries = 1
			o.Sleep = func(ctx context.Context, d time.Duration) error { return ctx.Err() }
		},
		Warehouse: func(o *warehouse.Options) {
			o.Retries = 1
			o.RetryWaitMin, o.RetryWaitMax = 10*time.Millisecond, 50*time.Millisecond
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.d, h.base, h.cancel, h.done = d, "http://"+d.Addr(), cancel, make(chan error, 1)
	go func() { h.done <- d.Run(ctx) }()
}

// waitFor polls cond (network state, so no fake time here) until it holds.
func (h *harness) waitFor(t *testing.T, what string, cond func(SourceStatus) bool) SourceStatus {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last SourceStatus
	for time.Now().Before(deadline) {
		last = h.status(t)
		if cond(last) {
			return last
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := json.MarshalIndent(last, "", "  ")
	t.Fatalf("timed out waiting for %s; last status:\n%s", what, b)
	return last
}

func (h *harness) status(t *testing.T) SourceStatus {
	t.Helper()
	resp, err := http.Get(h.base + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.Sources[0]
}

func (h *harness) metrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(h.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func (h *harness) push(t *testing.T, rev string) int {
	t.Helper()
	body := fmt.Sprintf(`{"ref":"refs/heads/main","after":%q,"repository":{"clone_url":%q}}`, rev, h.repo.URL())
	req, _ := http.NewRequest("POST", h.base+"/hooks/generic", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Signature-256", webhook.Sign([]byte(hookKey), []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (h *harness) writes() int {
	n := 0
	for _, r := range h.td.Requests() {
		if r.Method != "GET" {
			n++
		}
	}
	return n
}

func hasSegment(td *tdstandin.Server, name string) bool {
	for _, s := range td.Segments() {
		if s.Name == name {
			return true
		}
	}
	return false
}

func TestDaemonAppliesCommitsAndStallsOnInvalidOnes(t *testing.T) {
	h := newHarness(t)

	first := h.waitFor(t, "the first run", func(s SourceStatus) bool { return s.LastRun != nil })
	if first.LastRun.Result != "success" || !first.Ready {
		t.Fatalf("first run = %+v (reason %s: %s)", first.LastRun, first.Reason, first.Message)
	}
	if first.AppliedRevision != h.repo.Head(t, "main") || len(h.td.Segments()) < 20 {
		t.Fatalf("applied %s (head %s), %d segments in Treasure", first.AppliedRevision, h.repo.Head(t, "main"), len(h.td.Segments()))
	}
	resp, err := http.Get(h.base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz = %d after the first run", resp.StatusCode)
	}

	// A commit plus a webhook: the new segment is applied.
	rev := h.repo.Commit(t, "add a segment", map[string]string{
		"segments/daemon.cue": "package retail\n\nsegments: \"Germany\": where: [{attribute: \"country\", oneOf: [\"DE\"]}]\n",
	})
	if code := h.push(t, rev); code != http.StatusAccepted && code != http.StatusOK {
		t.Fatalf("webhook answered %d", code)
	}
	h.waitFor(t, "the new revision applied", func(s SourceStatus) bool { return s.AppliedRevision == rev })
	if !hasSegment(h.td, "Germany") {
		t.Fatal("segment Germany not in Treasure after the push")
	}
	m := h.metrics(t)
	for _, want := range []string{
		`reconciler_runs_total{result="success",source="retail"} 2`,
		`reconciler_source_info{branch="main",revision="` + rev + `",source="retail"} 1`,
		`reconciler_source_ready{source="retail"} 1`,
		`reconciler_webhook_deliveries_total{provider="generic",result="accepted"} 1`,
		`reconciler_apply_changes_total{action="create",outcome="success",source="retail"}`,
		`reconciler_warehouse_up 1`,
		`reconciler_leader 1`,
		// Both runs went through every step.
		`reconciler_run_step_duration_seconds_count{source="retail",step="observe"} 2`,
		`reconciler_run_step_duration_seconds_count{source="retail",step="apply"} 2`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// An invalid commit stalls the source and writes nothing.
	before := h.writes()
	bad := h.repo.Commit(t, "break it", map[string]string{
		"segments/daemon.cue": "package retail\n\nsegments: \"Germany\": where: [{attribute: \"no_such_column\", oneOf: [\"DE\"]}]\n",
	})
	h.push(t, bad)
	st := h.waitFor(t, "the stall", func(s SourceStatus) bool { return s.Stalled })
	if st.Revision != bad || len(st.Diagnostics) == 0 || st.Ready {
		t.Errorf("stalled status = revision %s, %d diagnostics, ready %v", st.Revision, len(st.Diagnostics), st.Ready)
	}
	if n := h.writes(); n != before {
		t.Errorf("%d writes to Treasure for an invalid revision", n-before)
	}
	// The same revision again: skipped, not retried.
	h.push(t, bad)
	time.Sleep(500 * time.Millisecond)
	m = h.metrics(t)
	if !strings.Contains(m, `reconciler_runs_total{result="stalled",source="retail"} 1`) {
		t.Errorf("stalled runs should stay at 1:\n%s", grep(m, "reconciler_runs_total"))
	}
	if !strings.Contains(m, `reconciler_source_stalled{source="retail"} 1`) {
		t.Errorf("stalled gauge not set")
	}
	if !strings.Contains(m, `reconciler_source_info{branch="main",revision="`+rev+`",source="retail"} 1`) {
		t.Errorf("source_info should keep the last applied revision:\n%s", grep(m, "reconciler_source_info"))
	}

	// A fix un-stalls it.
	fixed := h.repo.Remove(t, "remove the broken segment", "segments/daemon.cue")
	h.push(t, fixed)
	h.waitFor(t, "the fix applied", func(s SourceStatus) bool { return s.AppliedRevision == fixed && !s.Stalled })
	if hasSegment(h.td, "Germany") {
		t.Error("segment Germany still in Treasure after its file was removed")
	}
}

func TestDaemonWaitsOutTreasureOutage(t *testing.T) {
	h := newHarness(t)
	h.waitFor(t, "the first run", func(s SourceStatus) bool { return s.LastRun != nil && s.Ready })

	h.td.Inject(tdstandin.Fault{Method: "GET", Times: 6, Status: 503})
	rev := h.repo.Commit(t, "add a segment", map[string]string{
		"segments/daemon.cue": "package retail\n\nsegments: \"Germany\": where: [{attribute: \"country\", oneOf: [\"DE\"]}]\n",
	})
	h.push(t, rev)
	h.waitFor(t, "waiting", func(s SourceStatus) bool { return s.LastRun != nil && s.LastRun.Result == "waiting" })
	st := h.waitFor(t, "recovery", func(s SourceStatus) bool { return s.AppliedRevision == rev })
	if !st.Ready || !hasSegment(h.td, "Germany") {
		t.Errorf("after recovery: ready %v, Germany present %v", st.Ready, hasSegment(h.td, "Germany"))
	}
	if m := h.metrics(t); !strings.Contains(m, `reconciler_runs_total{result="waiting",source="retail"}`) ||
		strings.Contains(m, `reconciler_runs_total{result="waiting",source="retail"} 0`) {
		t.Errorf("waiting runs not counted:\n%s", grep(m, "reconciler_runs_total"))
	}
}

func TestDaemonAPI(t *testing.T) {
	h := newHarness(t)
	h.waitFor(t, "the first run", func(s SourceStatus) bool { return s.LastRun != nil })
	post := func(path string) int {
		resp, err := http.Post(h.base+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	resp, err := http.Post(h.base+"/api/v1/sources/retail/suspend", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var answer map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("suspend = %d, %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	if answer["status"] != "suspended" || answer["source"] != "retail" {
		t.Errorf("suspend answered %v, want status suspended", answer)
	}
	if c := post("/api/v1/sources/retail/reconcile"); c != http.StatusConflict {
		t.Errorf("reconcile of a suspended source = %d, want 409", c)
	}
	if st := h.status(t); !st.Suspended {
		t.Error("status does not show the suspension")
	}
	if !strings.Contains(h.metrics(t), `reconciler_source_suspended{source="retail"} 1`) {
		t.Error("suspended gauge not set")
	}
	id := h.status(t).LastRun.ID
	if c := post("/api/v1/sources/retail/resume"); c != http.StatusOK {
		t.Fatalf("resume = %d", c)
	}
	h.waitFor(t, "a run after resume", func(s SourceStatus) bool { return s.LastRun.ID != id })
	id = h.status(t).LastRun.ID
	if c := post("/api/v1/sources/retail/reconcile"); c != http.StatusAccepted {
		t.Fatalf("reconcile = %d", c)
	}
	h.waitFor(t, "a triggered run", func(s SourceStatus) bool { return s.LastRun.ID != id && s.LastRun.Trigger == "triggered" })
	if c := post("/api/v1/sources/nope/reconcile"); c != http.StatusNotFound {
		t.Errorf("unknown source = %d", c)
	}
	if c := post("/hooks/bitbucket"); c != http.StatusNotFound {
		t.Errorf("unknown provider = %d", c)
	}
	// A delivery with a bad signature is refused and counted.
	req, _ := http.NewRequest("POST", h.base+"/hooks/generic", strings.NewReader(`{}`))
	req.Header.Set("X-Signature-256", "sha256=00")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bad signature = %d", resp.StatusCode)
	}
	if !strings.Contains(h.metrics(t), `reconciler_webhook_deliveries_total{provider="generic",result="unauthorized"} 1`) {
		t.Error("unauthorized delivery not counted")
	}
}

func grep(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestDaemonShutdownDuringApplyLosesNothing(t *testing.T) {
	// Every segment create is slowed down and the shutdown grace is short,
	// so stopping in the middle of the first apply interrupts it.
	h := newHarnessWith(t, 300*time.Millisecond, func(td *tdstandin.Server) {
		td.Inject(tdstandin.Fault{Method: "POST", Path: "/entities/segments", Times: 1000, Delay: 150 * time.Millisecond})
	})
	deadline := time.Now().Add(60 * time.Second)
	for len(h.td.Segments()) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	h.stop(t)
	partial := len(h.td.Segments())
	if partial < 2 || partial >= 20 {
		t.Fatalf("%d segments after the interrupted apply; the test wants an apply stopped midway", partial)
	}
	if !strings.Contains(h.logs.String(), "runs in flight were stopped") {
		t.Error("no log line about the stopped run")
	}

	h.td.ClearFaults()
	h.start(20 * time.Second)
	st := h.waitFor(t, "convergence", func(s SourceStatus) bool { return s.LastRun != nil && s.Ready })
	names := map[string]int{}
	for _, s := range h.td.Segments() {
		names[s.Name]++
	}
	for n, c := range names {
		if c > 1 {
			t.Errorf("segment %q exists %d times", n, c)
		}
	}
	if len(names) < 20 || st.Plan == nil {
		t.Errorf("after restart: %d segments, plan %+v", len(names), st.Plan)
	}
}

// TestDaemonSeesARemovedParentAfterARestart: a parent segment removed from
// the repository while the daemon was down shows, after the restart, as a
// delete blocked by prune.allowParentDelete in /status and in
// reconciler_prune_blocked; nothing is deleted and the source is not ready.
func TestDaemonSeesARemovedParentAfterARestart(t *testing.T) {
	h := newHarness(t)
	first := h.waitFor(t, "the first run", func(s SourceStatus) bool { return s.LastRun != nil })
	if first.LastRun.Result != "success" || len(h.td.Parents()) != 1 {
		t.Fatalf("first run = %+v", first.LastRun)
	}
	h.stop(t)
	rev := h.repo.Remove(t, "remove the parent segment", "parent.cue", "segments")
	h.start(20 * time.Second)
	st := h.waitFor(t, "a run of the new revision", func(s SourceStatus) bool { return s.LastRun != nil && s.Revision == rev })
	if st.Plan == nil || st.Ready {
		t.Fatalf("ready=%v plan=%+v", st.Ready, st.Plan)
	}
	var parent *ChangeStatus
	for i := range st.Plan.Changes {
		if c := &st.Plan.Changes[i]; strings.HasPrefix(c.Object, "parent:") {
			parent = c
		}
	}
	if parent == nil || parent.Action != "delete" || parent.BlockedBy != "parent_delete" {
		t.Fatalf("parent change = %+v; changes %+v", parent, st.Plan.Changes)
	}
	if m := grep(h.metrics(t), `reconciler_prune_blocked{source="retail"}`); !strings.HasSuffix(m, " 1") {
		t.Errorf("reconciler_prune_blocked = %q, want 1", m)
	}
	if len(h.td.Parents()) != 1 || len(h.td.Segments()) == 0 {
		t.Error("the parent segment or its segments were deleted")
	}
}
