package metrics

import (
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Namespace prefixes every metric name.
const Namespace = "reconciler"

// Labels are the closed value sets of the labels that say how something
// ended or why. Their values are decided by the packages that decide
// outcomes (reconcile, apply, plan) and are given to New unchanged by the
// wiring: this package has no names of its own for them. Every set is
// pre-initialised, and a value outside its set is never recorded.
type Labels struct {
	// RunResults: result of reconciler_runs_total (the run's condition);
	// RunSuccess is the one that sets the last success time.
	RunResults []string
	RunSuccess string
	// Steps: step of reconciler_run_step_duration_seconds, in order.
	Steps []string
	// ApplyOutcomes: outcome of reconciler_apply_changes_total.
	ApplyOutcomes []string
	// PruneReasons: reason of reconciler_prune_blocked_total (the block
	// reasons of deletes).
	PruneReasons []string
	// UnresolvedReasons: reason of reconciler_unresolved_changes (a
	// conflict, or the block reason of a change a person must resolve).
	UnresolvedReasons []string
}

// Closed label value sets that are this package's own, used to
// pre-initialise series and to reject unbounded values.
var (
	Actions        = []string{"create", "update", "replace", "delete", "conflict"}
	Kinds          = []string{"parent", "folder", "segment", "activation"}
	Severities     = []string{"error", "warning"}
	QueryKinds     = []string{"columns", "freshness", "missing", "population", "privileges", "probe", "uniqueness"}
	QueryResults   = []string{"success", "error"}
	Providers      = []string{"github", "gitlab", "generic", "unknown"}
	WebhookResults = []string{"accepted", "ignored", "unauthorized", "bad_request", "too_large"}
)

// Buckets for the duration histograms.
var (
	// RunBuckets cover a reconcile pass: 50 ms to about 7 minutes.
	RunBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 240, 420}
	// RequestBuckets cover one HTTP request or SQL statement: 5 ms to 60 s.
	RequestBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
)

// Recorder holds every metric of one reconciler process. Its methods are
// safe for concurrent use. A nil *Recorder records nothing, so callers need
// no nil checks.
type Recorder struct {
	labels Labels

	buildInfo *prometheus.GaugeVec

	runs          *prometheus.CounterVec
	runDuration   *prometheus.HistogramVec
	stepDuration  *prometheus.HistogramVec
	lastRun       *prometheus.GaugeVec
	lastSuccess   *prometheus.GaugeVec
	sourceInfo    *prometheus.GaugeVec
	stalled       *prometheus.GaugeVec
	suspended     *prometheus.GaugeVec
	ready         *prometheus.GaugeVec
	planned       *prometheus.GaugeVec
	applied       *prometheus.CounterVec
	drift         *prometheus.GaugeVec
	pruneBlocked  *prometheus.GaugeVec
	pruneBlockedN *prometheus.CounterVec
	unresolved    *prometheus.GaugeVec
	diagnostics   *prometheus.GaugeVec

	tdRequests *prometheus.CounterVec
	tdDuration *prometheus.HistogramVec

	dbxQueries  *prometheus.CounterVec
	dbxDuration *prometheus.HistogramVec
	dbxUp       prometheus.Gauge

	gitFetch         *prometheus.HistogramVec
	gitFetchFailures *prometheus.CounterVec

	webhooks  *prometheus.CounterVec
	leader    prometheus.Gauge
	shardHeld *prometheus.GaugeVec

	mu sync.Mutex
	// info remembers the labels of each source's reconciler_source_info
	// series so the old one can be deleted when the revision changes.
	info map[string][2]string
}

// New creates the metrics, with the label value sets of labels, and
// registers them on reg. It panics if a metric
// is already registered there, as prometheus.MustRegister does: that is a
// programming error. The build info is set from the Go runtime with version
// and commit "unknown" until SetBuildInfo is called.
func New(reg prometheus.Registerer, labels Labels) *Recorder {
	r := &Recorder{
		labels: labels,
		buildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "build_info",
			Help: "A metric with a constant '1' value labelled by the reconciler's version, commit and Go version.",
		}, []string{"version", "commit", "goversion"}),

		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "runs_total",
			Help: "Reconcile runs per source by result (success, failed, stalled, waiting).",
		}, []string{"source", "result"}),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "run_duration_seconds",
			Help:    "Duration of reconcile runs per source.",
			Buckets: RunBuckets,
		}, []string{"source"}),
		stepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "run_step_duration_seconds",
			Help:    "Duration of the steps of reconcile runs per source (fetch, load, validate, observe, plan, apply).",
			Buckets: RunBuckets,
		}, []string{"source", "step"}),
		lastRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "last_run_timestamp_seconds",
			Help: "Unix time at which the last reconcile run of the source finished.",
		}, []string{"source"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "last_success_timestamp_seconds",
			Help: "Unix time at which the last successful reconcile run of the source finished.",
		}, []string{"source"}),
		sourceInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "source_info",
			Help: "Constant 1 labelled with the revision and branch last applied for the source.",
		}, []string{"source", "revision", "branch"}),
		stalled: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "source_stalled",
			Help: "1 when the source is stalled and waits for a new revision (invalid spec, schema mismatch).",
		}, []string{"source"}),
		suspended: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "source_suspended",
			Help: "1 when reconciliation of the source is suspended.",
		}, []string{"source"}),
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "source_ready",
			Help: "1 when the last run of the source succeeded and Treasure matches its revision.",
		}, []string{"source"}),
		planned: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "planned_changes",
			Help: "Changes in the source's last plan by action (create, update, replace, delete, conflict).",
		}, []string{"source", "action"}),
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "apply_changes_total",
			Help: "Changes applied to Treasure Data by action and outcome (success, failed, skipped).",
		}, []string{"source", "action", "outcome"}),
		drift: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "drift_objects",
			Help: "Objects changed outside the reconciler in the source's last plan, by kind.",
		}, []string{"source", "kind"}),
		pruneBlocked: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "prune_blocked",
			Help: "1 when the source's last plan had deletes blocked by the prune policy.",
		}, []string{"source"}),
		pruneBlockedN: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "prune_blocked_total",
			Help: "Plans whose deletes were blocked, by reason.",
		}, []string{"source", "reason"}),
		unresolved: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "unresolved_changes",
			Help: "Changes of the source's last plan that apply does not make and a person must resolve, by reason " +
				"(conflict, drift_report, or the prune rule that blocked a delete); protected objects are not counted.",
		}, []string{"source", "reason"}),
		diagnostics: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "spec_diagnostics",
			Help: "Diagnostics of the source's last load and validation, by severity.",
		}, []string{"source", "severity"}),

		tdRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "treasure_requests_total",
			Help: "HTTP requests to Treasure Data by endpoint template, method and status code (0: no answer).",
		}, []string{"endpoint", "method", "code"}),
		tdDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "treasure_request_duration_seconds",
			Help:    "Duration of HTTP requests to Treasure Data by endpoint template and method.",
			Buckets: RequestBuckets,
		}, []string{"endpoint", "method"}),

		dbxQueries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "warehouse_queries_total",
			Help: "Statements run on the Databricks SQL warehouse by kind and result.",
		}, []string{"kind", "result"}),
		dbxDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "warehouse_query_duration_seconds",
			Help:    "Duration of statements run on the Databricks SQL warehouse by kind.",
			Buckets: RequestBuckets,
		}, []string{"kind"}),
		dbxUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "warehouse_up",
			Help: "1 when the last contact with the Databricks SQL warehouse succeeded.",
		}),

		gitFetch: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "git_fetch_duration_seconds",
			Help:    "Duration of git fetches per source.",
			Buckets: RequestBuckets,
		}, []string{"source"}),
		gitFetchFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "git_fetch_failures_total",
			Help: "Failed git fetches per source.",
		}, []string{"source"}),

		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "webhook_deliveries_total",
			Help: "Webhook deliveries by provider and result (accepted, ignored, unauthorized, bad_request, too_large).",
		}, []string{"provider", "result"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "leader",
			Help: "1 when this replica holds the leader lease (always 1 when leader election is off).",
		}),
		shardHeld: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "shard_held",
			Help: "1 for each shard whose lease this replica holds (it reconciles the sources of that shard), else 0.",
		}, []string{"shard"}),
		info: map[string][2]string{},
	}
	reg.MustRegister(r.buildInfo, r.runs, r.runDuration, r.stepDuration, r.lastRun, r.lastSuccess, r.sourceInfo,
		r.stalled, r.suspended, r.ready, r.planned, r.applied, r.drift, r.pruneBlocked, r.pruneBlockedN,
		r.unresolved, r.diagnostics, r.tdRequests, r.tdDuration, r.dbxQueries, r.dbxDuration, r.dbxUp,
		r.gitFetch, r.gitFetchFailures, r.webhooks, r.leader, r.shardHeld)

	r.buildInfo.WithLabelValues("unknown", "unknown", runtime.Version()).Set(1)
	for _, k := range QueryKinds {
		for _, res := range QueryResults {
			r.dbxQueries.WithLabelValues(k, res)
		}
	}
	for _, p := range Providers {
		for _, res := range WebhookResults {
			r.webhooks.WithLabelValues(p, res)
		}
	}
	return r
}

// SetBuildInfo replaces the build info series.
func (r *Recorder) SetBuildInfo(version, commit string) {
	if r == nil {
		return
	}
	r.buildInfo.Reset()
	r.buildInfo.WithLabelValues(version, commit, runtime.Version()).Set(1)
}

// AddSource pre-initialises every per-source series of a configured source
// so rate and absence alerts work before its first run.
func (r *Recorder) AddSource(source string) {
	if r == nil {
		return
	}
	for _, res := range r.labels.RunResults {
		r.runs.WithLabelValues(source, res)
	}
	r.runDuration.WithLabelValues(source)
	for _, st := range r.labels.Steps {
		r.stepDuration.WithLabelValues(source, st)
	}
	r.stalled.WithLabelValues(source)
	r.suspended.WithLabelValues(source)
	r.ready.WithLabelValues(source)
	for _, a := range Actions {
		r.planned.WithLabelValues(source, a)
		for _, o := range r.labels.ApplyOutcomes {
			r.applied.WithLabelValues(source, a, o)
		}
	}
	for _, k := range Kinds {
		r.drift.WithLabelValues(source, k)
	}
	r.pruneBlocked.WithLabelValues(source)
	for _, reason := range r.labels.PruneReasons {
		r.pruneBlockedN.WithLabelValues(source, reason)
	}
	for _, reason := range r.labels.UnresolvedReasons {
		r.unresolved.WithLabelValues(source, reason)
	}
	for _, s := range Severities {
		r.diagnostics.WithLabelValues(source, s)
	}
	r.gitFetch.WithLabelValues(source)
	r.gitFetchFailures.WithLabelValues(source)
}

// RunFinished records a finished run: its result (one of
// Labels.RunResults; another value is not counted), duration and end time.
// Labels.RunSuccess also sets the last success time.
func (r *Recorder) RunFinished(source, result string, d time.Duration, end time.Time) {
	if r == nil {
		return
	}
	r.runDuration.WithLabelValues(source).Observe(d.Seconds())
	ts := float64(end.UnixNano()) / 1e9
	r.lastRun.WithLabelValues(source).Set(ts)
	if !slices.Contains(r.labels.RunResults, result) {
		return
	}
	r.runs.WithLabelValues(source, result).Inc()
	if result == r.labels.RunSuccess {
		r.lastSuccess.WithLabelValues(source).Set(ts)
	}
}

// StepFinished records how long one step of a run took. Steps not in
// Labels.Steps are ignored, which keeps the label bounded.
func (r *Recorder) StepFinished(source, step string, d time.Duration) {
	if r == nil || !slices.Contains(r.labels.Steps, step) {
		return
	}
	r.stepDuration.WithLabelValues(source, step).Observe(d.Seconds())
}

// SetSourceInfo records the revision and branch last applied for a source,
// deleting the series of the previous revision.
func (r *Recorder) SetSourceInfo(source, revision, branch string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.info[source]; ok {
		if old == [2]string{revision, branch} {
			return
		}
		r.sourceInfo.DeleteLabelValues(source, old[0], old[1])
	}
	r.info[source] = [2]string{revision, branch}
	r.sourceInfo.WithLabelValues(source, revision, branch).Set(1)
}

// SetState records the stalled, suspended and ready flags of a source.
func (r *Recorder) SetState(source string, stalled, suspended, ready bool) {
	if r == nil {
		return
	}
	r.stalled.WithLabelValues(source).Set(b2f(stalled))
	r.suspended.WithLabelValues(source).Set(b2f(suspended))
	r.ready.WithLabelValues(source).Set(b2f(ready))
}

// SetSuspended records only the suspended flag of a source.
func (r *Recorder) SetSuspended(source string, suspended bool) {
	if r == nil {
		return
	}
	r.suspended.WithLabelValues(source).Set(b2f(suspended))
}

// SetPlanned records the number of changes per action of the source's last
// plan. Actions missing from counts are set to zero; actions outside Actions
// (such as no-op) are ignored.
func (r *Recorder) SetPlanned(source string, counts map[string]int) {
	if r == nil {
		return
	}
	for _, a := range Actions {
		r.planned.WithLabelValues(source, a).Set(float64(counts[a]))
	}
}

// ApplyChange counts one applied change. Unknown actions or outcomes are
// ignored, keeping the label sets closed.
func (r *Recorder) ApplyChange(source, action, outcome string) {
	if r == nil || !slices.Contains(Actions, action) || !slices.Contains(r.labels.ApplyOutcomes, outcome) {
		return
	}
	r.applied.WithLabelValues(source, action, outcome).Inc()
}

// SetDrift records the number of drifted objects per kind of the source's
// last plan; kinds missing from counts are set to zero.
func (r *Recorder) SetDrift(source string, counts map[string]int) {
	if r == nil {
		return
	}
	for _, k := range Kinds {
		r.drift.WithLabelValues(source, k).Set(float64(counts[k]))
	}
}

// SetPruneBlocked records whether the source's last plan had deletes
// blocked, and counts the block under reason (one of Labels.PruneReasons;
// another sets the gauge but is not counted). An empty reason clears the
// gauge.
func (r *Recorder) SetPruneBlocked(source, reason string) {
	if r == nil {
		return
	}
	if reason == "" {
		r.pruneBlocked.WithLabelValues(source).Set(0)
		return
	}
	r.pruneBlocked.WithLabelValues(source).Set(1)
	if slices.Contains(r.labels.PruneReasons, reason) {
		r.pruneBlockedN.WithLabelValues(source, reason).Inc()
	}
}

// SetUnresolved records the number of unresolved changes per reason of the
// source's last plan. Reasons missing from counts are set to zero; reasons
// outside Labels.UnresolvedReasons are ignored.
func (r *Recorder) SetUnresolved(source string, counts map[string]int) {
	if r == nil {
		return
	}
	for _, reason := range r.labels.UnresolvedReasons {
		r.unresolved.WithLabelValues(source, reason).Set(float64(counts[reason]))
	}
}

// SetDiagnostics records the number of error and warning diagnostics of the
// source's last load and validation.
func (r *Recorder) SetDiagnostics(source string, errors, warnings int) {
	if r == nil {
		return
	}
	r.diagnostics.WithLabelValues(source, "error").Set(float64(errors))
	r.diagnostics.WithLabelValues(source, "warning").Set(float64(warnings))
}

// TreasureRequest records one HTTP exchange with Treasure Data. Its
// signature matches treasure.Options.Observer. endpoint must be a bounded
// template name; code is 0 when no answer arrived.
func (r *Recorder) TreasureRequest(endpoint, method string, code int, d time.Duration) {
	if r == nil {
		return
	}
	r.tdRequests.WithLabelValues(endpoint, method, strconv.Itoa(code)).Inc()
	r.tdDuration.WithLabelValues(endpoint, method).Observe(d.Seconds())
}

// WarehouseQuery records one statement on the warehouse and sets
// reconciler_warehouse_up from its error. Its signature matches
// warehouse.Options.Observe.
func (r *Recorder) WarehouseQuery(kind string, d time.Duration, err error) {
	if r == nil {
		return
	}
	res := "success"
	if err != nil {
		res = "error"
	}
	r.dbxQueries.WithLabelValues(kind, res).Inc()
	r.dbxDuration.WithLabelValues(kind).Observe(d.Seconds())
	r.dbxUp.Set(b2f(err == nil))
}

// SetWarehouseUp records whether the last contact with the warehouse
// succeeded (for failures that happen before any statement, such as a
// refused connection).
func (r *Recorder) SetWarehouseUp(up bool) {
	if r == nil {
		return
	}
	r.dbxUp.Set(b2f(up))
}

// GitFetch records one git fetch of a source and counts it as failed when
// err is not nil.
func (r *Recorder) GitFetch(source string, d time.Duration, err error) {
	if r == nil {
		return
	}
	r.gitFetch.WithLabelValues(source).Observe(d.Seconds())
	if err != nil {
		r.gitFetchFailures.WithLabelValues(source).Inc()
	}
}

// WebhookDelivery counts one webhook delivery. An unknown provider is
// counted as "unknown"; an unknown result is ignored.
func (r *Recorder) WebhookDelivery(provider, result string) {
	if r == nil || !slices.Contains(WebhookResults, result) {
		return
	}
	if !slices.Contains(Providers, provider) {
		provider = "unknown"
	}
	r.webhooks.WithLabelValues(provider, result).Inc()
}

// AddShards creates the shard_held series of shards 0 to n-1 at 0.
func (r *Recorder) AddShards(n int) {
	if r == nil {
		return
	}
	for i := range n {
		r.shardHeld.WithLabelValues(strconv.Itoa(i)).Set(0)
	}
}

// SetShardHeld records whether this replica holds the lease of shard.
func (r *Recorder) SetShardHeld(shard int, held bool) {
	if r == nil {
		return
	}
	r.shardHeld.WithLabelValues(strconv.Itoa(shard)).Set(b2f(held))
}

// SetLeader records whether this replica leads.
func (r *Recorder) SetLeader(leading bool) {
	if r == nil {
		return
	}
	r.leader.Set(b2f(leading))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// ShardHeldGauge returns the shard_held series of shard, for tests.
func (r *Recorder) ShardHeldGauge(shard int) prometheus.Gauge {
	return r.shardHeld.WithLabelValues(strconv.Itoa(shard))
}
