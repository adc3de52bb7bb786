package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cas-reconciler/reconciler/internal/apply"
	"github.com/cas-reconciler/reconciler/internal/reconcile"
	"github.com/cas-reconciler/reconciler/internal/schedule"
	"github.com/cas-reconciler/reconciler/internal/wiring"
	"github.com/cas-reconciler/reconciler/pkg/diag"
	"github.com/cas-reconciler/reconciler/pkg/plan"
)

// Limits of what /status shows per source.
const (
	maxStatusChanges     = 100
	maxStatusDiagnostics = 100
)

// SourceStatus is what /status reports about one source.
type SourceStatus struct {
	Name string `json:"name"`
	// Shard is the source's shard (leaderElection.shards); ShardHolder
	// the holder of its lease as last observed, ShardHeld whether this
	// replica holds it and so reconciles the source.
	Shard       int    `json:"shard"`
	ShardHolder string `json:"shard_holder,omitempty"`
	ShardHeld   bool   `json:"shard_held"`
	URL         string `json:"url"`
	Branch      string `json:"branch"`
	Path        string `json:"path"`
	// Revision is the revision of the last run; AppliedRevision the last
	// one Treasure was brought to match.
	Revision        string    `json:"revision,omitempty"`
	AppliedRevision string    `json:"applied_revision,omitempty"`
	AppliedAt       time.Time `json:"applied_at,omitzero"`
	Commit          *Commit   `json:"commit,omitempty"`
	// Summary is one line saying the state of the source: ready, not
	// ready (and why), held, stalled, waiting, failed, suspended.
	Summary string `json:"summary"`
	// Ready means the last run succeeded, nothing is held, and its plan
	// left nothing unresolved (no conflict, no blocked change other than a
	// protected object).
	Ready     bool `json:"ready"`
	Suspended bool `json:"suspended"`
	// SuspendedBy says where a suspension comes from: "config" (only a
	// change of the configuration lifts it for good) or "api".
	SuspendedBy string `json:"suspended_by,omitempty"`
	Stalled     bool   `json:"stalled"`
	// Reason and Message explain a stalled, waiting or failed source.
	Reason  reconcile.Reason `json:"reason,omitempty"`
	Message string           `json:"message,omitempty"`
	Running bool             `json:"running"`
	// Frozen names the freeze window the last run fell in.
	Frozen      string           `json:"frozen,omitempty"`
	LastRun     *RunStatus       `json:"last_run,omitempty"`
	Plan        *PlanStatus      `json:"plan,omitempty"`
	Diagnostics diag.Diagnostics `json:"diagnostics,omitempty"`
	// DiagnosticsTotal counts all diagnostics, of which at most 100 are
	// listed.
	DiagnosticsTotal int       `json:"diagnostics_total"`
	NextRun          time.Time `json:"next_run,omitzero"`
	NextRetry        time.Time `json:"next_retry,omitzero"`
}

// Commit describes the commit of the last run.
type Commit struct {
	Author  string    `json:"author,omitempty"`
	Subject string    `json:"subject,omitempty"`
	Time    time.Time `json:"time,omitzero"`
}

// RunStatus describes one finished run.
type RunStatus struct {
	ID       string    `json:"id"`
	Trigger  string    `json:"trigger"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Duration string    `json:"duration"`
	// Result is the run's condition: success, failed, stalled or waiting.
	Result reconcile.Condition `json:"result"`
	Error  string              `json:"error,omitempty"`
	// Held says why apply did not run although the plan had changes.
	Held    string                 `json:"held,omitempty"`
	Applied bool                   `json:"applied"`
	Steps   []reconcile.StepTiming `json:"steps,omitempty"`
	// Outcomes counts applied changes by outcome.
	Outcomes map[apply.Outcome]int `json:"outcomes,omitempty"`
}

// PlanStatus summarises the plan of the last run. A run that stopped
// before planning (stalled, waiting) has none.
type PlanStatus struct {
	// Revision is the revision the plan was computed for.
	Revision string `json:"revision,omitempty"`
	// Counts by action, as plan.Summary counts them; Protected is the
	// part of Blocked kept on purpose, Unresolved the conflicts and
	// blocked changes that need a person.
	Add          int    `json:"add"`
	Change       int    `json:"change"`
	Replace      int    `json:"replace"`
	Destroy      int    `json:"destroy"`
	Conflict     int    `json:"conflict"`
	Blocked      int    `json:"blocked"`
	Protected    int    `json:"protected"`
	Unchanged    int    `json:"unchanged"`
	Drift        int    `json:"drift"`
	Unresolved   int    `json:"unresolved"`
	Text         string `json:"summary"`
	PruneBlocked string `json:"prune_blocked,omitempty"`
	// PruneBlockedBy is the prune rule that blocked deletes, as a closed
	// value (the reason label of reconciler_prune_blocked_total).
	PruneBlockedBy plan.Block `json:"prune_blocked_by,omitempty"`
	// PopulationWarnings name the segments that would match no profile
	// or every profile.
	PopulationWarnings []string       `json:"population_warnings,omitempty"`
	Changes            []ChangeStatus `json:"changes,omitempty"`
	// ChangesTotal counts all changes other than no-ops, of which at most
	// 100 are listed.
	ChangesTotal int `json:"changes_total"`
}

// ChangeStatus is one planned change.
type ChangeStatus struct {
	Action  string `json:"action"`
	Object  string `json:"object"`
	Blocked string `json:"blocked,omitempty"`
	// BlockedBy is the reason of Blocked as a closed value.
	BlockedBy plan.Block `json:"blocked_by,omitempty"`
	Drift     bool       `json:"drift,omitempty"`
	// Reason explains a conflict; ConflictBy is its closed value
	// (plan.ConflictReason).
	Reason     string              `json:"reason,omitempty"`
	ConflictBy plan.ConflictReason `json:"conflict_by,omitempty"`
	// Population is, for a counted segment create or update, its profiles
	// before and after ("population 1,204 → 1,391 (+15.5%)").
	Population string `json:"population,omitempty"`
}

// sourceState is the daemon's view of one source.
type sourceState struct {
	src   *wiring.Source
	name  string
	shard int
	// fetch and latest read the branch (Source.Snapshot and
	// Repo.LatestRevision; replaced in tests).
	fetch  func(context.Context) (reconcile.Snapshot, error)
	latest func(context.Context) (string, error)

	mu        sync.Mutex
	status    SourceStatus
	suspended bool
	// apiSuspendedAt is when the API suspended the source; zero when its
	// last API call was a resume, or there was none.
	apiSuspendedAt time.Time
	stalledRev     string // revision that stalled; "" when not stalled
	force          bool   // the next run goes ahead even when stalled
	log            *slog.Logger
	firstRun       bool // a run has finished
}

func (st *sourceState) isSuspended() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.suspended
}

// logger returns the logger of the run in flight (with its run id).
func (st *sourceState) logger(def *slog.Logger) *slog.Logger {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.log != nil {
		return st.log
	}
	return def.With("source", st.name)
}

func newRunID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// runSource is the scheduler job of one source: reconcile (from the fetch
// on), record.
func (d *Daemon) runSource(ctx context.Context, st *sourceState, run schedule.Run) error {
	id := newRunID()
	log := d.log.With("source", st.name, "run_id", id)
	st.mu.Lock()
	st.log = log
	st.force = false
	st.status.Running = true
	st.mu.Unlock()
	defer func() {
		st.mu.Lock()
		st.log = nil
		st.status.Running = false
		st.mu.Unlock()
	}()

	log.Info("run started", "trigger", run.Reason.String(), "failures", run.Failures)
	rs := &RunStatus{ID: id, Trigger: run.Reason.String(), Start: d.now()}

	frozen, window := d.frozen(d.now())
	// A triggered run (a push webhook, an API call) writes a few segment
	// updates before it observes Treasure, so that they land at once.
	res, err := st.src.Reconciler.Reconcile(ctx, reconcile.Mode{Frozen: frozen, WritesFirst: run.Reason == schedule.Triggered})
	if !frozen {
		window = ""
	}
	log = st.logger(d.log)
	if res.Reason.WarehouseDown() {
		d.rec.SetWarehouseUp(false)
	}
	d.finish(st, log, rs, res, err, window)
	var waiting *reconcile.Waiting
	switch {
	case res.Condition == reconcile.ConditionStalled:
		return schedule.Stalled(err)
	case errors.As(err, &waiting) && waiting.RetryAfter > 0:
		// Treasure said when to come back (Retry-After): the retry
		// waits at least that long.
		return schedule.RetryAfter(err, waiting.RetryAfter)
	}
	return err
}

// fetcher is the fetch step's adapter (reconcile.Fetcher) on the source's
// branch: it records the fetch in the metrics and adds the revision to the
// run's log.
type fetcher struct {
	d  *Daemon
	st *sourceState
}

// fetchOf returns the fetch of the tip of s's branch, with the commit's
// details.
func fetchOf(s *wiring.Source) func(context.Context) (reconcile.Snapshot, error) {
	return func(ctx context.Context) (reconcile.Snapshot, error) {
		snap, gsnap, err := s.Snapshot(ctx)
		snap.Commit = reconcile.Commit{Branch: gsnap.Branch, Author: gsnap.Author, Subject: gsnap.Subject, Time: gsnap.Time}
		return snap, err
	}
}

func (f fetcher) Fetch(ctx context.Context) (reconcile.Snapshot, error) {
	start := f.d.now()
	snap, err := f.st.fetch(ctx)
	f.d.rec.GitFetch(f.st.name, f.d.now().Sub(start), err)
	if err == nil {
		f.st.mu.Lock()
		if f.st.log != nil {
			f.st.log = f.st.log.With("revision", plan.ShortRevision(snap.Revision))
		}
		f.st.mu.Unlock()
	}
	return snap, err
}

// finish records a run in the status, the metrics and the log. A run whose
// fetch failed (no revision) leaves the plan and diagnostics of the last
// run in the status.
func (d *Daemon) finish(st *sourceState, log *slog.Logger, rs *RunStatus, res *reconcile.Result, err error, window string) {
	end := d.now()
	rs.End = end
	rs.Duration = end.Sub(rs.Start).Round(time.Millisecond).String()
	result, reason := res.Condition, res.Reason
	rs.Result = result
	if err != nil {
		rs.Error = err.Error()
	}
	fetched := res.Revision != ""

	st.mu.Lock()
	s := &st.status
	s.Frozen = window
	s.Reason, s.Message = reason, ""
	if err != nil {
		s.Message = rs.Error
	}
	if fetched {
		s.Revision = res.Revision
		s.Commit = &Commit{Author: res.Commit.Author, Subject: res.Commit.Subject, Time: res.Commit.Time}
	}
	s.Stalled = result == reconcile.ConditionStalled
	if s.Stalled {
		st.stalledRev = res.Revision
	} else {
		st.stalledRev = ""
	}
	rs.Held, rs.Applied, rs.Steps = res.Held, res.Applied, res.Steps
	if fetched {
		for _, rep := range []*apply.Report{res.WrittenFirst, res.Report} {
			if rep == nil {
				continue
			}
			if rs.Outcomes == nil {
				rs.Outcomes = map[apply.Outcome]int{}
			}
			for o, n := range rep.Counts() {
				rs.Outcomes[o] += n
			}
		}
		s.DiagnosticsTotal = len(res.Diagnostics)
		s.Diagnostics = res.Diagnostics
		if len(s.Diagnostics) > maxStatusDiagnostics {
			s.Diagnostics = s.Diagnostics[:maxStatusDiagnostics]
		}
		// The plan shown is this run's: a run that stopped before
		// planning shows none, never the previous revision's.
		s.Plan = nil
		if res.Plan != nil {
			s.Plan = planStatus(res.Plan, res.Revision)
		}
	}
	appliedAt, appliedRev := st.src.Reconciler.LastApplied()
	s.AppliedRevision, s.AppliedAt = appliedRev, appliedAt
	unresolved := 0
	if res.Plan != nil {
		unresolved = res.Plan.Summary().Unresolved()
	}
	synced := result == reconcile.ConditionSucceeded && rs.Held == ""
	s.Ready = synced && unresolved == 0
	s.LastRun = rs
	suspended := st.suspended
	ready, stalledNow := s.Ready, s.Stalled
	st.firstRun = true
	st.mu.Unlock()

	d.rec.RunFinished(st.name, result.String(), end.Sub(rs.Start), end)
	for _, step := range rs.Steps {
		d.rec.StepFinished(st.name, step.Step, step.Duration)
	}
	d.rec.SetState(st.name, stalledNow, suspended, ready)
	if synced && appliedRev != "" {
		d.rec.SetSourceInfo(st.name, appliedRev, res.Commit.Branch)
	}
	if fetched {
		errs, warns := res.Diagnostics.Count()
		d.rec.SetDiagnostics(st.name, errs, warns)
		if res.Plan != nil {
			d.recordPlan(st.name, res.Plan)
		}
	}

	attrs := []any{"result", result, "duration", rs.Duration}
	if res.Plan != nil {
		attrs = append(attrs, "plan", plan.SummaryLine(res.Plan))
		if ws := res.Plan.PopulationWarnings(); len(ws) > 0 {
			attrs = append(attrs, "population_warnings", ws)
		}
	}
	if rs.Held != "" {
		attrs = append(attrs, "held", rs.Held)
	}
	if res.WarehouseSkipped() {
		// databricks.recheck: the warehouse was not asked.
		attrs = append(attrs, "warehouse_checked_at", res.WarehouseCheckedAt.UTC().Format(time.RFC3339))
	}
	if len(res.Diagnostics) > 0 {
		n, w := res.Diagnostics.Count()
		attrs = append(attrs, "diagnostic_errors", n, "diagnostic_warnings", w)
		for i, dg := range res.Diagnostics {
			if i == 20 {
				break
			}
			log.Warn("diagnostic", "at", dg.Pos.String(), "severity", dg.Severity.String(), "code", dg.Code, "summary", dg.Summary)
		}
	}
	if res.FirstPlan != nil {
		attrs = append(attrs, "written_first", len(res.FirstPlan.Changes))
	}
	for _, p := range []*plan.Plan{res.FirstPlan, res.Plan} {
		if p == nil {
			continue
		}
		for i := range p.Changes {
			c := &p.Changes[i]
			if c.Population == nil {
				continue
			}
			pa := []any{"object", c.Ref(), "action", c.Action.String(), "population", c.Population.Text()}
			if w := c.Population.Warning(); w != "" {
				log.Warn("segment population", append(pa, "warning", w)...)
			} else {
				log.Info("segment population", pa...)
			}
		}
	}
	switch {
	case result == reconcile.ConditionSucceeded && unresolved > 0:
		// Nothing failed, but Treasure does not match the repository:
		// conflicts, or changes a safety rule or the drift mode holds.
		sum := res.Plan.Summary()
		attrs = append(attrs, "conflicts", sum.Conflict, "blocked", sum.Blocked-sum.Protected)
		if res.Plan.PruneBlocked != "" {
			attrs = append(attrs, "prune_blocked", res.Plan.PruneBlocked)
		}
		if b := pruneBlockedBy(res.Plan); b != "" {
			attrs = append(attrs, "prune_blocked_by", b)
		}
		log.Warn("run finished, not ready: changes left unresolved", attrs...)
	case result == reconcile.ConditionSucceeded:
		log.Info("run finished", attrs...)
	case result == reconcile.ConditionStalled:
		log.Error("run stalled: not retried until the branch moves or a run is triggered", append(attrs, "reason", reason, "err", err)...)
	case result == reconcile.ConditionWaiting:
		log.Warn("run waiting: a dependency is unavailable", append(attrs, "reason", reason, "err", err)...)
	default:
		log.Error("run failed", append(attrs, "reason", reason, "err", err)...)
	}
}

// recordPlan sets the plan gauges of a source.
func (d *Daemon) recordPlan(name string, p *plan.Plan) {
	d.rec.SetPlanned(name, p.Counts())
	drift := map[string]int{}
	unresolved := map[string]int{}
	for i := range p.Changes {
		c := &p.Changes[i]
		if c.Drift != nil {
			drift[string(c.Kind)]++
		}
		switch {
		case c.Action == plan.Conflict:
			unresolved[unresolvedConflict]++
		case c.BlockedBy.Unresolved():
			// A protected object is kept on purpose: its blocked delete
			// is neither unresolved nor a safety rule refusing deletes.
			unresolved[c.BlockedBy.String()]++
		}
	}
	d.rec.SetDrift(name, drift)
	d.rec.SetPruneBlocked(name, pruneBlockedBy(p).String())
	d.rec.SetUnresolved(name, unresolved)
}

// pruneBlockedBy returns the prune rule that blocked the plan's first
// blocked delete, or "" (protected objects are kept on purpose, not
// blocked by a rule).
func pruneBlockedBy(p *plan.Plan) plan.Block {
	for i := range p.Changes {
		if c := &p.Changes[i]; c.Action == plan.Delete && c.BlockedBy.Prune() {
			return c.BlockedBy
		}
	}
	return ""
}

func planStatus(p *plan.Plan, revision string) *PlanStatus {
	sum := p.Summary()
	ps := &PlanStatus{Revision: revision, Add: sum.Add, Change: sum.Change, Replace: sum.Replace, Destroy: sum.Destroy,
		Conflict: sum.Conflict, Blocked: sum.Blocked, Protected: sum.Protected, Unchanged: sum.Unchanged, Drift: sum.Drift,
		Unresolved: sum.Unresolved(), Text: plan.SummaryLine(p), PruneBlocked: p.PruneBlocked, PruneBlockedBy: pruneBlockedBy(p),
		PopulationWarnings: p.PopulationWarnings()}
	for i := range p.Changes {
		c := &p.Changes[i]
		if c.Action == plan.NoOp {
			continue
		}
		ps.ChangesTotal++
		if len(ps.Changes) < maxStatusChanges {
			ps.Changes = append(ps.Changes, ChangeStatus{Action: c.Action.String(), Object: c.Ref(), Blocked: c.Blocked,
				BlockedBy: c.BlockedBy, Drift: c.Drift != nil, Reason: c.Reason, ConflictBy: c.ConflictBy,
				Population: c.Population.Text()})
		}
	}
	return ps
}

// summarize writes the one-line state of a source from its status.
func summarize(s *SourceStatus) string {
	var line string
	r := s.LastRun
	switch {
	case r == nil && s.Running:
		line = "first run in progress"
	case r == nil:
		line = "no run yet"
	case r.Result == reconcile.ConditionStalled:
		line = fmt.Sprintf("stalled (%s) at revision %s: nothing is planned or applied until the branch moves or a run "+
			"is triggered; see message and diagnostics", s.Reason, plan.ShortRevision(s.Revision))
	case r.Result == reconcile.ConditionWaiting || r.Result == reconcile.ConditionFailed:
		line = fmt.Sprintf("%s (%s) at revision %s", r.Result, s.Reason, plan.ShortRevision(s.Revision))
		if !s.NextRetry.IsZero() {
			line += ": retried at " + s.NextRetry.UTC().Format(time.RFC3339)
		}
	case r.Held != "" && s.Plan != nil:
		line = fmt.Sprintf("held (%s) at revision %s: %s", r.Held, plan.ShortRevision(s.Plan.Revision), s.Plan.Text)
	case s.Plan != nil && s.Plan.Unresolved > 0:
		line = fmt.Sprintf("not ready at revision %s: %s", plan.ShortRevision(s.Plan.Revision), s.Plan.Text)
		if s.Plan.PruneBlocked != "" {
			line += " Deletes blocked: " + s.Plan.PruneBlocked + "."
		}
	case s.Plan != nil:
		line = fmt.Sprintf("ready at revision %s", plan.ShortRevision(s.Plan.Revision))
		if r.Applied {
			line += ", applied"
		}
		line += ": " + s.Plan.Text
	default:
		line = fmt.Sprintf("%s at revision %s", r.Result, plan.ShortRevision(s.Revision))
	}
	if s.Suspended {
		line = "suspended (" + s.SuspendedBy + "); last state: " + line
	}
	return line
}

// changed is the scheduler's question while a source is stalled: has the
// branch moved since the stalled revision (or did someone ask for a run)?
func (d *Daemon) changed(ctx context.Context, st *sourceState) (bool, error) {
	st.mu.Lock()
	force, rev := st.force, st.stalledRev
	st.mu.Unlock()
	if force || rev == "" {
		return true, nil
	}
	latest, err := st.latest(ctx)
	if err != nil {
		return true, err
	}
	if latest == rev {
		d.log.Debug("source still stalled on the same revision; run skipped", "source", st.name, "revision", rev)
		return false, nil
	}
	return true, nil
}

// onResult keeps the scheduler's view (next run, suspension) in the status.
func (d *Daemon) onResult(r schedule.Result) {
	st := d.byName[r.Job]
	if st == nil {
		return
	}
	if r.Outcome == schedule.Panicked {
		d.log.Error("run panicked", "source", r.Job, "err", r.Err)
		d.rec.RunFinished(r.Job, reconcile.ConditionFailed.String(), r.End.Sub(r.Start), r.End)
	}
}
