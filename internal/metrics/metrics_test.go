package metrics

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

func newRecorder(t *testing.T) (*Recorder, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	return New(reg), reg
}

func TestLint(t *testing.T) {
	r, reg := newRecorder(t)
	r.AddSource("retail")
	r.TreasureRequest("segments", "GET", 200, time.Millisecond)
	r.SetSourceInfo("retail", "abc", "main")
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestSeriesExistBeforeFirstEvent(t *testing.T) {
	r, reg := newRecorder(t)
	r.AddSource("retail")
	want := `
# HELP reconciler_runs_total Reconcile runs per source by result (success, failed, stalled, waiting).
# TYPE reconciler_runs_total counter
reconciler_runs_total{result="failed",source="retail"} 0
reconciler_runs_total{result="stalled",source="retail"} 0
reconciler_runs_total{result="success",source="retail"} 0
reconciler_runs_total{result="waiting",source="retail"} 0
# HELP reconciler_webhook_deliveries_total Webhook deliveries by provider and result (accepted, ignored, unauthorized, bad_request, too_large).
# TYPE reconciler_webhook_deliveries_total counter
`
	for _, p := range Providers {
		for _, res := range WebhookResults {
			want += `reconciler_webhook_deliveries_total{provider="` + p + `",result="` + res + `"} 0` + "\n"
		}
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"reconciler_runs_total", "reconciler_webhook_deliveries_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(r.applied); n != len(Actions)*len(Outcomes) {
		t.Errorf("apply series = %d, want %d", n, len(Actions)*len(Outcomes))
	}
	if n := testutil.CollectAndCount(r.dbxQueries); n != len(QueryKinds)*len(QueryResults) {
		t.Errorf("warehouse query series = %d, want %d", n, len(QueryKinds)*len(QueryResults))
	}
}

func TestRunFinished(t *testing.T) {
	r, reg := newRecorder(t)
	r.AddSource("retail")
	end := time.Unix(1700000000, 0)
	r.RunFinished("retail", ResultSuccess, 2*time.Second, end)
	r.RunFinished("retail", ResultStalled, time.Second, end.Add(time.Minute))
	r.RunFinished("retail", "bogus", time.Second, end.Add(2*time.Minute))
	want := `
# HELP reconciler_last_run_timestamp_seconds Unix time at which the last reconcile run of the source finished.
# TYPE reconciler_last_run_timestamp_seconds gauge
reconciler_last_run_timestamp_seconds{source="retail"} 1.70000012e+09
# HELP reconciler_last_success_timestamp_seconds Unix time at which the last successful reconcile run of the source finished.
# TYPE reconciler_last_success_timestamp_seconds gauge
reconciler_last_success_timestamp_seconds{source="retail"} 1.7e+09
# HELP reconciler_runs_total Reconcile runs per source by result (success, failed, stalled, waiting).
# TYPE reconciler_runs_total counter
reconciler_runs_total{result="failed",source="retail"} 1
reconciler_runs_total{result="stalled",source="retail"} 1
reconciler_runs_total{result="success",source="retail"} 1
reconciler_runs_total{result="waiting",source="retail"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"reconciler_runs_total", "reconciler_last_run_timestamp_seconds", "reconciler_last_success_timestamp_seconds"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(r.runDuration); n != 1 {
		t.Errorf("duration series = %d, want 1", n)
	}
}

func TestStepDurations(t *testing.T) {
	r, _ := newRecorder(t)
	r.AddSource("retail")
	if n := testutil.CollectAndCount(r.stepDuration); n != len(Steps) {
		t.Errorf("step series after AddSource = %d, want %d", n, len(Steps))
	}
	r.StepFinished("retail", "observe", 300*time.Millisecond)
	r.StepFinished("retail", "observe", 2*time.Second)
	r.StepFinished("retail", "made-up", time.Second)
	if n := testutil.CollectAndCount(r.stepDuration); n != len(Steps) {
		t.Errorf("an unknown step added a series: %d", n)
	}
	h := &dto.Metric{}
	if err := r.stepDuration.WithLabelValues("retail", "observe").(prometheus.Histogram).Write(h); err != nil {
		t.Fatal(err)
	}
	if c, s := h.GetHistogram().GetSampleCount(), h.GetHistogram().GetSampleSum(); c != 2 || s != 2.3 {
		t.Errorf("observe step: count %d sum %v, want 2 and 2.3", c, s)
	}
}

func TestSourceInfoReplacesOldRevision(t *testing.T) {
	r, reg := newRecorder(t)
	r.SetSourceInfo("retail", "aaa", "main")
	r.SetSourceInfo("other", "ccc", "main")
	r.SetSourceInfo("retail", "bbb", "main")
	want := `
# HELP reconciler_source_info Constant 1 labelled with the revision and branch last applied for the source.
# TYPE reconciler_source_info gauge
reconciler_source_info{branch="main",revision="bbb",source="retail"} 1
reconciler_source_info{branch="main",revision="ccc",source="other"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "reconciler_source_info"); err != nil {
		t.Fatal(err)
	}
}

func TestLabelsStayBounded(t *testing.T) {
	r, _ := newRecorder(t)
	r.AddSource("retail")
	before := testutil.CollectAndCount(r.applied)
	r.ApplyChange("retail", "no-op", OutcomeSuccess)
	r.ApplyChange("retail", "create", "exploded")
	if got := testutil.CollectAndCount(r.applied); got != before {
		t.Errorf("apply series grew from %d to %d on unknown labels", before, got)
	}
	r.ApplyChange("retail", "create", OutcomeSuccess)
	if got := testutil.ToFloat64(r.applied.WithLabelValues("retail", "create", OutcomeSuccess)); got != 1 {
		t.Errorf("create/success = %v, want 1", got)
	}
	r.WebhookDelivery("bitbucket", "accepted")
	if got := testutil.ToFloat64(r.webhooks.WithLabelValues("unknown", "accepted")); got != 1 {
		t.Errorf("unknown provider counted %v, want 1", got)
	}
	r.SetPruneBlocked("retail", "some free text")
	if got := testutil.ToFloat64(r.pruneBlockedN.WithLabelValues("retail", PruneOther)); got != 1 {
		t.Errorf("prune other = %v, want 1", got)
	}
	if got := testutil.ToFloat64(r.pruneBlocked.WithLabelValues("retail")); got != 1 {
		t.Errorf("prune blocked = %v, want 1", got)
	}
	r.SetPruneBlocked("retail", "")
	if got := testutil.ToFloat64(r.pruneBlocked.WithLabelValues("retail")); got != 0 {
		t.Errorf("prune blocked after clear = %v, want 0", got)
	}
}

func TestGaugesAndClients(t *testing.T) {
	r, reg := newRecorder(t)
	r.AddSource("retail")
	r.SetPlanned("retail", map[string]int{"create": 3, "delete": 1, "no-op": 40})
	r.SetDrift("retail", map[string]int{"segment": 2})
	r.SetUnresolved("retail", map[string]int{UnresolvedConflict: 1, PruneEmpty: 26, "free text": 3})
	r.SetDiagnostics("retail", 4, 1)
	r.SetState("retail", true, false, false)
	r.WarehouseQuery("columns", time.Millisecond, nil)
	r.WarehouseQuery("probe", time.Millisecond, errors.New("down"))
	r.GitFetch("retail", time.Second, errors.New("refused"))
	r.TreasureRequest("segments", "POST", 201, time.Millisecond)
	r.TreasureRequest("segments", "POST", 0, time.Millisecond)
	r.SetLeader(true)
	r.AddShards(3)
	r.SetShardHeld(1, true)
	r.SetBuildInfo("v1.2.3", "deadbeef")
	checks := map[string]struct {
		c    prometheus.Collector
		want float64
	}{
		"planned create":   {r.planned.WithLabelValues("retail", "create"), 3},
		"planned update":   {r.planned.WithLabelValues("retail", "update"), 0},
		"drift segment":    {r.drift.WithLabelValues("retail", "segment"), 2},
		"conflicts":        {r.unresolved.WithLabelValues("retail", UnresolvedConflict), 1},
		"empty repository": {r.unresolved.WithLabelValues("retail", PruneEmpty), 26},
		"held drift":       {r.unresolved.WithLabelValues("retail", UnresolvedDrift), 0},
		"errors":           {r.diagnostics.WithLabelValues("retail", "error"), 4},
		"stalled":          {r.stalled.WithLabelValues("retail"), 1},
		"warehouse up":     {r.dbxUp, 0},
		"warehouse errors": {r.dbxQueries.WithLabelValues("probe", "error"), 1},
		"git failures":     {r.gitFetchFailures.WithLabelValues("retail"), 1},
		"td 201":           {r.tdRequests.WithLabelValues("segments", "POST", "201"), 1},
		"td no answer":     {r.tdRequests.WithLabelValues("segments", "POST", "0"), 1},
		"leader":           {r.leader, 1},
		"shard 0":          {r.shardHeld.WithLabelValues("0"), 0},
		"shard 1":          {r.shardHeld.WithLabelValues("1"), 1},
	}
	for name, c := range checks {
		if got := testutil.ToFloat64(c.c); got != c.want {
			t.Errorf("%s = %v, want %v", name, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(r.planned); n != len(Actions) {
		t.Errorf("planned series = %d, want %d (no-op must not be a label value)", n, len(Actions))
	}
	if n := testutil.CollectAndCount(r.unresolved); n != len(UnresolvedReasons) {
		t.Errorf("unresolved series = %d, want %d (unknown reasons must not be label values)", n, len(UnresolvedReasons))
	}
	if n := testutil.CollectAndCount(r.buildInfo); n != 1 {
		t.Errorf("build info series = %d, want 1", n)
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("pedantic gather: %v", err)
	}
}

func TestNilRecorder(t *testing.T) {
	var r *Recorder
	r.AddSource("x")
	r.RunFinished("x", ResultSuccess, time.Second, time.Now())
	r.SetSourceInfo("x", "a", "b")
	r.TreasureRequest("segments", "GET", 200, time.Second)
	r.WarehouseQuery("columns", time.Second, nil)
	r.SetLeader(true)
	r.AddShards(2)
	r.SetShardHeld(1, true)
}

// TestEveryMetricDocumented checks that the metrics table in the daemon
// documentation names every metric this package registers.
func TestEveryMetricDocumented(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	r := New(reg)
	r.AddSource("s")
	r.SetSourceInfo("s", "r", "b")
	r.TreasureRequest("segments", "GET", 200, time.Second)
	r.RunFinished("s", ResultSuccess, time.Second, time.Now())
	r.WarehouseQuery("columns", time.Second, nil)
	r.AddShards(1)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 27 {
		t.Errorf("registered %d metric families, want 27", len(mfs))
	}
	doc, err := readDoc()
	if err != nil {
		t.Fatalf("documentation not found: %v", err)
	}
	for _, mf := range mfs {
		if !strings.Contains(doc, "`"+mf.GetName()+"`") {
			t.Errorf("metric %s is not documented in docs/operations.md (Metrics)", mf.GetName())
		}
	}
}
