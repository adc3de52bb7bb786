package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cas-reconciler/reconciler/internal/config"
	"github.com/cas-reconciler/reconciler/internal/logging"
	"github.com/cas-reconciler/reconciler/internal/metrics"
	"github.com/cas-reconciler/reconciler/internal/reconcile"
	"github.com/cas-reconciler/reconciler/internal/wiring"
	"github.com/cas-reconciler/reconciler/pkg/plan"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

const offlineConfig = `
listen: "127.0.0.1:0"
apiToken: env: "API_TOKEN"
sources: [{name: "retail", url: "https://git.invalid/retail.git", auth: token: env: "GIT_TOKEN"},
	{name: "web", url: "https://git.invalid/web.git", suspend: true}]
treasure: apiKey: env: "TD_API_KEY"
databricks: {host: "dbc.invalid", httpPath: "/sql/1.0/warehouses/x", token: env: "DBX_TOKEN"}
freezeWindows: [{name: "black-friday", start: "0 0 27 11 *", duration: "96h"}]
`

func offline(t *testing.T) *Daemon {
	t.Helper()
	vars := map[string]string{"API_TOKEN": "api-token-123", "GIT_TOKEN": "git-token-123", "TD_API_KEY": "td-key-123", "DBX_TOKEN": "dapi-123"}
	cfg, err := config.Parse("c.cue", []byte(offlineConfig), config.Options{LookupEnv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	d, err := wired(Options{Config: cfg}, prometheus.NewPedanticRegistry(), wiring.Options{Redactor: logging.NewRedactor()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.cleanup() })
	return d
}

func TestNewRequiresConfigAndRegistry(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Error("New without a configuration succeeded")
	}
	if _, err := New(Options{Config: &config.Config{}}); err == nil {
		t.Error("New without a registerer succeeded")
	}
}

func TestFreezeWindows(t *testing.T) {
	d := offline(t)
	for _, c := range []struct {
		at     string
		frozen bool
	}{
		{"2026-11-26T23:59:59Z", false},
		{"2026-11-27T00:00:00Z", true},
		{"2026-11-30T23:59:59Z", true},
		{"2026-12-01T00:00:00Z", false},
		{"2027-06-01T12:00:00Z", false},
	} {
		at, _ := time.Parse(time.RFC3339, c.at)
		got, name := d.frozen(at)
		if got != c.frozen || (got && name != "black-friday") {
			t.Errorf("frozen(%s) = %v %q, want %v", c.at, got, name, c.frozen)
		}
	}
}

// TestBlockReasonsAreMetricLabels checks that every reason plan gives a
// blocked change has a label value of its own (package metrics is a leaf
// and cannot import plan), and that those of deletes are prune reasons.
func TestBlockReasonsAreMetricLabels(t *testing.T) {
	seen := map[string]plan.Block{}
	for _, b := range plan.Blocks {
		if b == plan.BlockProtected {
			continue // kept on purpose, never unresolved
		}
		label := blockReason(b)
		if !slices.Contains(metrics.UnresolvedReasons, label) {
			t.Errorf("block %s maps to %q, not a reason of reconciler_unresolved_changes", b, label)
		}
		if other, ok := seen[label]; ok {
			t.Errorf("blocks %s and %s share the label %q", b, other, label)
		}
		seen[label] = b
		// Drift, parent replaces and the population gate block changes
		// that are not deletes.
		if b != plan.BlockDriftReport && b != plan.BlockParentReplace && b != plan.BlockPopulationChange && !slices.Contains(metrics.PruneReasons, label) {
			t.Errorf("delete block %s maps to %q, not a prune reason", b, label)
		}
	}
	if len(seen)+1 != len(metrics.UnresolvedReasons) { // + conflict
		t.Errorf("%d block labels and a conflict, but %d unresolved reasons", len(seen), len(metrics.UnresolvedReasons))
	}
}

func TestRunOutcome(t *testing.T) {
	refused := errors.New("treasure: 400 rule is invalid")
	for name, c := range map[string]struct {
		err            error
		result, reason string
	}{
		"success":     {nil, metrics.ResultSuccess, ""},
		"stalled":     {&reconcile.Stalled{Reason: reconcile.ReasonInvalidSpec, Err: refused}, metrics.ResultStalled, reconcile.ReasonInvalidSpec},
		"waiting":     {&reconcile.Waiting{Reason: reconcile.ReasonTreasureDown, Err: refused}, metrics.ResultWaiting, reconcile.ReasonTreasureDown},
		"apply error": {&reconcile.ApplyError{Err: refused}, metrics.ResultFailed, reconcile.ReasonApplyFailed},
		"wrapped apply error": {fmt.Errorf("source retail: %w", &reconcile.ApplyError{Err: refused}),
			metrics.ResultFailed, reconcile.ReasonApplyFailed},
		// Only the type counts, not the text.
		"text that looks like an apply error": {errors.New(reconcile.ReasonApplyFailed + ": not one"), metrics.ResultFailed, "Failed"},
		"other error":                         {refused, metrics.ResultFailed, "Failed"},
	} {
		result, reason := runOutcome(c.err)
		if result != c.result || reason != c.reason {
			t.Errorf("%s: runOutcome = %s %q, want %s %q", name, result, reason, c.result, c.reason)
		}
	}
}

func TestHTTPOnStandby(t *testing.T) {
	d := offline(t)
	h := d.Handler()
	do := func(method, path, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if r := do("GET", "/healthz", ""); r.Code != 200 {
		t.Errorf("/healthz = %d", r.Code)
	}
	r := do("GET", "/readyz", "")
	if r.Code != 200 || !strings.Contains(r.Body.String(), "standby") {
		t.Errorf("/readyz before leading = %d %s", r.Code, r.Body)
	}
	var st Status
	if err := json.Unmarshal(do("GET", "/status", "").Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Sources) != 2 || st.Sources[0].Name != "retail" || !st.Sources[1].Suspended || st.Leader {
		t.Errorf("status = %+v", st)
	}
	if r := do("POST", "/api/v1/sources/retail/reconcile", ""); r.Code != http.StatusUnauthorized {
		t.Errorf("reconcile without token = %d", r.Code)
	}
	if r := do("POST", "/api/v1/sources/retail/reconcile", "wrong"); r.Code != http.StatusUnauthorized {
		t.Errorf("reconcile with a wrong token = %d", r.Code)
	}
	if r := do("POST", "/api/v1/sources/retail/reconcile", "api-token-123"); r.Code != http.StatusServiceUnavailable {
		t.Errorf("reconcile on standby = %d", r.Code)
	}
	m := do("GET", "/metrics", "").Body.String()
	for _, want := range []string{
		`reconciler_leader 0`,
		`reconciler_source_suspended{source="web"} 1`,
		`reconciler_runs_total{result="stalled",source="retail"} 0`,
		`reconciler_build_info{`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if r := do("GET", "/debug/pprof/heap", ""); r.Code != http.StatusNotFound {
		t.Errorf("/debug/pprof/heap without debug.pprof = %d, want 404", r.Code)
	}
	for _, secret := range []string{"api-token-123", "git-token-123", "td-key-123", "dapi-123"} {
		if strings.Contains(m, secret) || strings.Contains(do("GET", "/status", "").Body.String(), secret) {
			t.Errorf("secret %q served over HTTP", secret)
		}
	}
}

// TestProtectedDeletesDoNotRaisePruneBlocked checks that objects kept on
// purpose do not set the gauge that alerts on refused deletes.
func TestProtectedDeletesDoNotRaisePruneBlocked(t *testing.T) {
	d := offline(t)
	gauge := func() string {
		rec := httptest.NewRecorder()
		d.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return grepLine(rec.Body.String(), `reconciler_prune_blocked{source="retail"}`)
	}
	del := func(name string, by plan.Block, blocked string) plan.Change {
		return plan.Change{Action: plan.Delete, Kind: plan.KindSegment, Key: segment.Key{Parent: "Retail", Name: name},
			Blocked: blocked, BlockedBy: by}
	}
	d.recordPlan("retail", &plan.Plan{Changes: []plan.Change{del("VIP", plan.BlockProtected, "protected by prune.protect"), del("Other", "", "")}})
	if got := gauge(); got != `reconciler_prune_blocked{source="retail"} 0` {
		t.Errorf("with a protected delete: %s, want 0", got)
	}
	d.recordPlan("retail", &plan.Plan{Changes: []plan.Change{del("VIP", plan.BlockProtected, "protected by prune.protect"),
		del("Other", plan.BlockMaxDeletes, "12 deletes exceed the cap of 10 per run (prune.maxDeletes)")}})
	if got := gauge(); got != `reconciler_prune_blocked{source="retail"} 1` {
		t.Errorf("with a capped delete: %s, want 1", got)
	}
}

func grepLine(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

func TestPprofOptIn(t *testing.T) {
	d := offline(t)
	d.opts.Config.Debug.Pprof = true
	rec := httptest.NewRecorder()
	d.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/debug/pprof/heap?debug=1", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "heap profile") {
		t.Errorf("/debug/pprof/heap with debug.pprof = %d %.80s", rec.Code, rec.Body)
	}
}

// TestStepNamesMatchMetrics checks that the step label of the step
// duration metric lists the reconciler's steps (package metrics is a leaf
// and cannot import them).
func TestStepNamesMatchMetrics(t *testing.T) {
	if !slices.Equal(metrics.Steps, reconcile.Steps) {
		t.Errorf("metrics.Steps = %v, reconcile.Steps = %v", metrics.Steps, reconcile.Steps)
	}
}

// TestNewNeedsEverySecret: the daemon refuses a configuration loaded
// without its git, warehouse or server secrets.
func TestNewNeedsEverySecret(t *testing.T) {
	cfg, err := config.Parse("c.cue", []byte(offlineConfig), config.Options{
		LookupEnv: func(k string) (string, bool) {
			return map[string]string{"TD_API_KEY": "td-key-123"}[k], k == "TD_API_KEY"
		},
		Skip: config.UseWarehouse | config.UseGit | config.UseServer,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wired(Options{Config: cfg}, prometheus.NewPedanticRegistry(), wiring.Options{}); err == nil || !strings.Contains(err.Error(), "without all of its secrets") {
		t.Errorf("New with secrets not read: %v", err)
	}
}
