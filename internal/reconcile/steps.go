package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cas-reconciler/reconciler/internal/apply"
	"github.com/cas-reconciler/reconciler/pkg/catalog"
	"github.com/cas-reconciler/reconciler/pkg/diag"
	"github.com/cas-reconciler/reconciler/pkg/plan"
	"github.com/cas-reconciler/reconciler/pkg/segment"
	"github.com/cas-reconciler/reconciler/pkg/validate"
)

// A reconcile is a sequence of steps: fetch, load, check warehouse,
// write first (only for Mode.WritesFirst, see writeFirst), observe, plan,
// apply (which prunes: deletes go last, see apply.Run). Each
// step is a method of Reconciler that reads what the steps before it left
// in the run and adds its own; its comment says what it needs, what it
// leaves, and the Condition and Reason of the errors it returns. The first
// error ends the run, and ConditionOf classifies it by its type.

// run is the state of one reconcile, passed from step to step.
type run struct {
	res  *Result
	mode Mode
	now  func() time.Time
	snap Snapshot

	cat      *catalog.Catalog // warehouse metadata; nil without Catalog
	observed segment.State
	opts     plan.Options
}

// timed records the duration of step name from now until the returned
// function is called.
func (rn *run) timed(name string) func() {
	t0 := rn.now()
	return func() { rn.res.Steps = append(rn.res.Steps, StepTiming{Step: name, Duration: rn.now().Sub(t0)}) }
}

func (r *Reconciler) begin(mode Mode) *run {
	now := r.Now
	if now == nil {
		now = time.Now
	}
	return &run{res: &Result{Start: now()}, mode: mode, now: now}
}

// finish ends a run: its end time and the classification of err.
func (rn *run) finish(err error) (*Result, error) {
	rn.res.End = rn.now()
	rn.res.Condition, rn.res.Reason = ConditionOf(err)
	return rn.res, err
}

// Reconcile fetches the revision to reconcile from Source and reconciles
// it. The Result is returned even with an error, as far as the run got;
// its Condition and Reason classify the error.
func (r *Reconciler) Reconcile(ctx context.Context, mode Mode) (*Result, error) {
	rn := r.begin(mode)
	if err := r.fetch(ctx, rn); err != nil {
		return rn.finish(err)
	}
	return rn.finish(r.reconcile(ctx, rn))
}

// Run reconciles snap (a revision already fetched, or a local checkout).
// The Result is returned even with an error, as far as the run got; its
// Condition and Reason classify the error.
func (r *Reconciler) Run(ctx context.Context, snap Snapshot, mode Mode) (*Result, error) {
	rn := r.begin(mode)
	rn.setSnapshot(snap)
	return rn.finish(r.reconcile(ctx, rn))
}

func (rn *run) setSnapshot(snap Snapshot) {
	rn.snap = snap
	rn.res.Revision, rn.res.Commit = snap.Revision, snap.Commit
}

// reconcile runs the steps after the fetch.
func (r *Reconciler) reconcile(ctx context.Context, rn *run) error {
	for _, step := range []func(context.Context, *run) error{r.load, r.checkWarehouse, r.writeFirst, r.observe, r.plan, r.apply} {
		if err := step(ctx, rn); err != nil {
			if rn.res.Applied {
				// What the run wrote makes any earlier observation stale.
				r.takeSettled()
			}
			return err
		}
	}
	r.keepSettled(rn)
	return nil
}

// fetch fetches the revision to reconcile.
//
// Needs: Source. Leaves: the snapshot, the Result's Revision and Commit.
// Errors: waiting with ReasonGitUnavailable when the fetcher's error is
// temporary (the git server is unreachable), else failed with
// ReasonGitFetchFailed.
func (r *Reconciler) fetch(ctx context.Context, rn *run) error {
	defer rn.timed(StepFetch)()
	if r.Source == nil {
		return &Failure{Reason: ReasonGitFetchFailed, Err: errors.New("no git repository to fetch from")}
	}
	snap, err := r.Source.Fetch(ctx)
	if err != nil {
		var t temporary
		if errors.As(err, &t) && t.Temporary() {
			return &Waiting{Reason: ReasonGitUnavailable, Err: err}
		}
		return &Failure{Reason: ReasonGitFetchFailed, Err: err}
	}
	rn.setSnapshot(snap)
	return nil
}

// load loads the desired state from the snapshot with Loader.
//
// Needs: the snapshot. Leaves: the Result's Desired and Diagnostics.
// Errors: stalled with ReasonLoadBudget when the Loader refused the
// revision over its limits, stalled with ReasonInvalidSpec when the
// diagnostics hold an error; any other Loader error fails the run
// (ReasonFailed).
func (r *Reconciler) load(ctx context.Context, rn *run) error {
	stop := rn.timed(StepLoad)
	loaded, err := r.Loader.Load(ctx, rn.snap.FS)
	stop()
	res := rn.res
	if err != nil {
		var ob overBudget
		if errors.As(err, &ob) && ob.OverBudget() && loaded != nil {
			res.Diagnostics = loaded.Diagnostics
			return &Stalled{Reason: ReasonLoadBudget, Err: err}
		}
		return fmt.Errorf("load revision %s: %w", plan.ShortRevision(rn.snap.Revision), err)
	}
	res.Diagnostics = loaded.Diagnostics
	res.Desired = loaded.State
	if loaded.Diagnostics.HasErrors() {
		return &Stalled{Reason: ReasonInvalidSpec, Err: loaded.Diagnostics.Err()}
	}
	return nil
}

// checkWarehouse checks the desired state against the warehouse's
// metadata (Catalog), or against the last passed check of the same
// revision younger than Recheck; without a Catalog it does nothing.
//
// Needs: the Result's Desired. Leaves: the catalog; Desired completed
// from it (validate.Check), its diagnostics added, WarehouseCheckedAt.
// Errors: stalled with ReasonWarehouseUnauthorized when the warehouse
// refused the credentials, waiting with ReasonWarehouseDown,
// ReasonWarehouseStarting or ReasonWarehouseStartTimeout when it did not
// answer, stalled with ReasonWarehouseMismatch when the check found errors.
func (r *Reconciler) checkWarehouse(ctx context.Context, rn *run) error {
	if r.Catalog == nil {
		return nil
	}
	res := rn.res
	stop := rn.timed(StepValidate)
	req := catalog.RequestOf(res.Desired, r.Validate.RequireUniqueKeys)
	key := req.ID()
	cat, at := r.recentCheck(rn.snap.Revision, key, res.Start)
	if cat == nil {
		var err error
		if cat, err = r.Catalog.Read(ctx, req); err != nil {
			stop()
			var u unauthorized
			if errors.As(err, &u) && u.Unauthorized() {
				return refused(ReasonWarehouseUnauthorized, r.Credentials.Warehouse, err)
			}
			return &Waiting{Reason: warehouseWaitReason(err), Err: err}
		}
		at = res.Start
	}
	rn.cat = cat
	res.WarehouseCheckedAt = at
	var ds diag.Diagnostics
	res.Desired, ds = validate.Check(res.Desired, cat, r.Validate)
	res.Diagnostics = append(res.Diagnostics, ds...).Sort()
	r.mu.Lock()
	if ds.HasErrors() {
		// A failed check is never reused: the next run asks again, after
		// someone fixed the warehouse.
		r.lastCheck = nil
	} else if at == res.Start {
		r.lastCheck = &passedCheck{revision: rn.snap.Revision, tables: key, at: at, cat: cat}
	}
	r.mu.Unlock()
	stop()
	if res.Diagnostics.HasErrors() {
		return &Stalled{Reason: ReasonWarehouseMismatch, Err: res.Diagnostics.Err()}
	}
	return nil
}

// observe reads what Treasure holds (Remote): the parent segments desired
// or owned, the activations wanted, and the ids of the desired
// connections.
//
// Needs: the Result's Desired. Leaves: the observed state; ConnectionID
// set on the desired parents and activations; the plan options with the
// last apply filled in. Errors: stalled with ReasonTreasureUnauthorized or
// ReasonTreasureForbidden when Treasure refused the API key, stalled with
// ReasonUnknownConnection (and a diagnostic) for a connection Treasure does
// not have, waiting with ReasonTreasureDown or ReasonTreasureRefused for
// other failures; a canceled run fails (ReasonFailed).
func (r *Reconciler) observe(ctx context.Context, rn *run) error {
	res := rn.res
	// The last run's observation is stale once this one observes (the run
	// replaces it, see keepSettled); forgetting it first keeps one
	// observation in memory instead of two at the observe's peak.
	r.takeSettled()
	stop := rn.timed(StepObserve)
	unknown, err := r.observeTreasure(ctx, rn)
	stop()
	if err != nil {
		if reason := treasureRefusal(err); reason != "" {
			return refused(reason, r.Credentials.Treasure, err)
		}
		return remoteOutcome(err)
	}
	if len(unknown) > 0 {
		res.Diagnostics = append(res.Diagnostics, unknown...).Sort()
		return &Stalled{Reason: ReasonUnknownConnection, Err: unknown.Err()}
	}
	r.mu.Lock()
	r.lastObservation = rn.now()
	r.mu.Unlock()
	rn.opts = r.planOptions(rn.snap.Revision)
	return nil
}

// planOptions returns the plan options with the last apply filled in for
// a plan of revision.
func (r *Reconciler) planOptions(revision string) plan.Options {
	r.mu.Lock()
	defer r.mu.Unlock()
	opts := r.Plan
	opts.LastApplied = r.lastApplied
	opts.SameRevision = r.lastAppliedRev != "" && r.lastAppliedRev == revision
	return opts
}

func (r *Reconciler) observeTreasure(ctx context.Context, rn *run) (diag.Diagnostics, error) {
	var err error
	if rn.observed, err = r.Remote.Observe(ctx, r.parentNames(rn.res.Desired)); err != nil {
		return nil, err
	}
	if err = r.Remote.ObserveActivations(ctx, &rn.observed, rn.res.Desired.ActivationsWanted()); err != nil {
		return nil, err
	}
	return r.resolveConnections(ctx, rn.res.Desired)
}

// plan computes the plan from the desired and observed states, and counts
// the populations of created and updated segments (Population), holding
// the changes whose population moves too much (and remembering them, so
// that a later revision releases them).
//
// Needs: Desired, the observed state, the plan options, the catalog.
// Leaves: the Result's Plan and PopulationStatements. Errors: stalled
// with ReasonInvalidPlan (and a diagnostic per plan error) when the plan
// cannot be applied as a whole.
func (r *Reconciler) plan(ctx context.Context, rn *run) error {
	res := rn.res
	stop := rn.timed(StepPlan)
	res.Plan = plan.Compute(res.Desired, rn.observed, rn.opts)
	if r.Population != nil && !rn.mode.NoPopulation && !res.Plan.Errored {
		res.PopulationStatements += r.countAndHold(ctx, rn, res.Plan, rn.observed)
	}
	stop()
	if res.Plan.Errored {
		for _, e := range res.Plan.Errors {
			res.Diagnostics = append(res.Diagnostics, diag.Errorf(diag.Pos{}, CodePlanError, "%s", e))
		}
		return &Stalled{Reason: ReasonInvalidPlan, Err: errors.New(strings.Join(res.Plan.Errors, "; "))}
	}
	return nil
}

// countAndHold counts the populations of p's created and updated segments
// and holds the changes whose population moves too much (remembering
// them, so that a later revision releases them); it returns the number of
// statements run.
func (r *Reconciler) countAndHold(ctx context.Context, rn *run, p *plan.Plan, observed segment.State) int {
	n := countPopulations(ctx, r.Population, p, rn.res.Desired, observed, rn.cat, rn.now(), r.PopulationOptions)
	r.mu.Lock()
	earlier := r.populationHolds
	r.mu.Unlock()
	held := p.HoldPopulationChanges(r.PopulationOptions.MaxChangePercent, rn.snap.Revision, earlier)
	r.mu.Lock()
	r.populationHolds = held
	r.mu.Unlock()
	return n
}

// apply makes the plan's changes on Treasure (Remote), deletes last, unless
// the run is a dry run or frozen; a plan without changes, or an apply in
// which every change succeeded, marks the revision applied.
//
// Needs: the Result's Plan. Leaves: the Result's Held, Applied and Report.
// Errors: stalled with ReasonTreasureUnauthorized or
// ReasonTreasureForbidden when Treasure refused the API key, waiting with
// ReasonTreasureDown when every failure passes by itself (with the longest
// Retry-After), failed with ReasonApplyFailed (ApplyError) otherwise; an
// interrupted apply fails (ReasonFailed).
func (r *Reconciler) apply(ctx context.Context, rn *run) error {
	res := rn.res
	switch {
	case !res.Plan.HasChanges():
		r.markApplied(rn.snap.Revision, rn.now())
		return nil
	case rn.mode.DryRun:
		res.Held = "dry run"
		return nil
	case rn.mode.Frozen:
		res.Held = "freeze window"
		return nil
	}
	stop := rn.timed(StepApply)
	var err error
	res.Report, err = apply.Run(ctx, r.Remote, res.Plan, r.Apply)
	stop()
	res.Applied = true
	if err != nil {
		return err
	}
	if err := r.applyOutcome(res.Report); err != nil {
		return err
	}
	r.markApplied(rn.snap.Revision, rn.now())
	return nil
}

// applyOutcome classifies the failed changes of a report: a refused key
// stalls; the run waits when every failure passes by itself (an outage,
// 429); anything else needs a look.
func (r *Reconciler) applyOutcome(rep *apply.Report) error {
	if !rep.Failed() {
		return nil
	}
	for _, x := range rep.Results {
		if x.Outcome != apply.Failed {
			continue
		}
		if reason := treasureRefusal(x.Err); reason != "" {
			return refused(reason, r.Credentials.Treasure, rep.Err())
		}
	}
	var w *Waiting
	for _, x := range rep.Results {
		if x.Outcome != apply.Failed {
			continue
		}
		tw, ok := temporaryOutcome(x.Err)
		if !ok {
			return &ApplyError{Err: rep.Err()}
		}
		if w == nil || tw.RetryAfter > w.RetryAfter {
			w = tw
		}
	}
	w.Err = rep.Err()
	return w
}
