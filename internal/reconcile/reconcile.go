package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cas-reconciler/reconciler/internal/apply"
	"github.com/cas-reconciler/reconciler/pkg/catalog"
	"github.com/cas-reconciler/reconciler/pkg/diag"
	"github.com/cas-reconciler/reconciler/pkg/plan"
	"github.com/cas-reconciler/reconciler/pkg/segment"
	"github.com/cas-reconciler/reconciler/pkg/spec"
	"github.com/cas-reconciler/reconciler/pkg/validate"
)

// Loader loads the desired state from one revision of a repository.
type Loader interface {
	Load(ctx context.Context, fsys fs.FS) (*spec.Result, error)
}

// Catalog reads warehouse metadata: what the warehouse says about the
// tables of a request and about the uniqueness of the customers keys it
// names (catalog.RequestOf builds the request of a desired state).
type Catalog interface {
	Read(ctx context.Context, req catalog.Request) (*catalog.Catalog, error)
}

// Remote is Treasure Data: what it holds, and how to change it.
type Remote interface {
	// Observe returns everything under the named parent segments and under
	// every parent segment that Treasure marks as owned by this source, so
	// that a parent segment removed from the repository is seen (and its
	// deletion planned) without any memory of earlier runs.
	Observe(ctx context.Context, parentNames []string) (segment.State, error)
	// ObserveActivations lists the activations of the observed segments
	// want selects (setting HasActivations and Activations on them).
	ObserveActivations(ctx context.Context, st *segment.State, want func(*segment.Segment) bool) error
	apply.Target
}

// SpecLoader loads with pkg/spec, keeping a cache across runs.
type SpecLoader struct {
	Options spec.Options
}

// NewSpecLoader returns a loader with a fresh cache.
func NewSpecLoader() *SpecLoader { return &SpecLoader{Options: spec.Options{Cache: spec.NewCache()}} }

// Load implements Loader.
func (l *SpecLoader) Load(ctx context.Context, fsys fs.FS) (*spec.Result, error) {
	return spec.Load(ctx, fsys, l.Options)
}

// overBudget is an error of a Loader that refused a revision over its
// memory, time or size limits; the Loader returns the Result too, with
// diagnostics naming the files.
type overBudget interface{ OverBudget() bool }

// Snapshot is one revision of a repository.
type Snapshot struct {
	Revision string
	FS       fs.FS
}

// Mode says how far a run goes.
type Mode struct {
	// DryRun stops after the plan.
	DryRun bool
	// Frozen holds the apply (a freeze window); the plan is still computed.
	Frozen bool
	// NoPopulation skips the population preview (plan --no-population).
	NoPopulation bool
}

// Reconciler runs reconciles of one source. It remembers the last
// successful apply (time and revision) for drift detection; it is safe for
// one run at a time.
type Reconciler struct {
	Loader  Loader
	Catalog Catalog // nil skips the warehouse checks
	Remote  Remote
	// Plan holds the plan options; LastApplied and SameRevision are filled
	// by Run.
	Plan     plan.Options
	Apply    apply.Options
	Validate validate.Options
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Credentials say where the credentials of Remote and Catalog come
	// from, for the message of a run stalled on a refused one.
	Credentials Credentials
	// Population counts the profiles of created and updated segments on
	// the warehouse for the plan; nil leaves the plan without populations.
	Population        Counter
	PopulationOptions PopulationOptions
	// Recheck is how long a passed warehouse check of a revision stands:
	// a run of the same revision, asking for the same tables, within
	// Recheck of the last passed check validates against that check's
	// catalog and sends the warehouse nothing, so that a warehouse can
	// auto-stop between changes. Zero checks on every run.
	Recheck time.Duration

	mu              sync.Mutex
	lastCheck       *passedCheck
	lastApplied     time.Time
	lastAppliedRev  string
	lastObservation time.Time
	// populationHolds are the changes the last run held by
	// population.maxChangePercent, so that the next revision releases them.
	populationHolds plan.PopulationHolds
}

// passedCheck is the last warehouse check that passed: the revision, the
// request it answered (its ID), when, and what the warehouse said.
type passedCheck struct {
	revision string
	tables   string
	at       time.Time
	cat      *catalog.Catalog
}

// recentCheck returns the catalog of the last passed check when it covers
// revision and tables and is younger than Recheck.
func (r *Reconciler) recentCheck(revision, tables string, now time.Time) (*catalog.Catalog, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.lastCheck
	if r.Recheck <= 0 || c == nil || revision == "" || c.revision != revision || c.tables != tables {
		return nil, time.Time{}
	}
	if age := now.Sub(c.at); age < 0 || age >= r.Recheck {
		return nil, time.Time{}
	}
	return c.cat, c.at
}

// Step names, in order.
const (
	StepLoad     = "load"
	StepValidate = "validate"
	StepObserve  = "observe"
	StepPlan     = "plan"
	StepApply    = "apply"
)

// Steps lists the step names in order (the step label of the
// reconciler_run_step_duration_seconds metric).
var Steps = []string{StepLoad, StepValidate, StepObserve, StepPlan, StepApply}

// StepTiming is how long one step took.
type StepTiming struct {
	Step     string        `json:"step"`
	Duration time.Duration `json:"duration_ns"`
}

// Result is what one run did.
type Result struct {
	Revision    string
	Diagnostics diag.Diagnostics
	// Desired is the loaded (and warehouse-completed) desired state.
	Desired segment.State
	Plan    *plan.Plan
	Report  *apply.Report
	// Applied reports whether apply ran.
	Applied bool
	// Held says why apply did not run although the plan had changes.
	Held  string
	Steps []StepTiming
	Start time.Time
	End   time.Time
	// Outcome is OutcomeOf the run's error.
	Outcome Outcome
	// PopulationStatements is the number of warehouse statements the
	// population preview ran.
	PopulationStatements int
	// WarehouseCheckedAt is when the warehouse check validated against
	// was made; before Start when a recent check of the same revision
	// stood in (Recheck) and the warehouse was not asked.
	WarehouseCheckedAt time.Time
}

// WarehouseSkipped reports whether the run validated against an earlier
// check instead of asking the warehouse.
func (r *Result) WarehouseSkipped() bool {
	return !r.WarehouseCheckedAt.IsZero() && r.WarehouseCheckedAt.Before(r.Start)
}

// Outcome classifies a run, with the values of the runs_total metric's
// result label.
type Outcome string

// Outcomes.
const (
	OutcomeSuccess Outcome = "success"
	OutcomeFailed  Outcome = "failed"
	OutcomeStalled Outcome = "stalled"
	OutcomeWaiting Outcome = "waiting"
)

// OutcomeOf classifies the error Run returned.
func OutcomeOf(err error) Outcome {
	var st *Stalled
	var w *Waiting
	switch {
	case err == nil:
		return OutcomeSuccess
	case errors.As(err, &st):
		return OutcomeStalled
	case errors.As(err, &w):
		return OutcomeWaiting
	}
	return OutcomeFailed
}

// Stalled is an outcome that needs a human; retrying the same revision
// cannot help.
type Stalled struct {
	Reason string
	Err    error
}

func (e *Stalled) Error() string { return "stalled (" + e.Reason + "): " + e.Err.Error() }

// Unwrap returns the cause.
func (e *Stalled) Unwrap() error { return e.Err }

// Waiting is an outcome that should be retried later.
type Waiting struct {
	Reason     string
	Err        error
	RetryAfter time.Duration
}

func (e *Waiting) Error() string { return "waiting (" + e.Reason + "): " + e.Err.Error() }

// Unwrap returns the cause.
func (e *Waiting) Unwrap() error { return e.Err }

// Reasons of Stalled and Waiting outcomes.
const (
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonLoadBudget: a file or the repository exceeded a load limit
	// (file size, file count, total size, evaluation memory or time).
	ReasonLoadBudget        = "LoadBudget"
	ReasonWarehouseMismatch = "WarehouseMismatch"
	ReasonWarehouseDown     = "WarehouseUnavailable"
	// ReasonWarehouseStarting: the warehouse answered 503 because it is
	// starting, and the run gave up within the start budget (it was
	// canceled); the next run waits again.
	ReasonWarehouseStarting = "WarehouseStarting"
	// ReasonWarehouseStartTimeout: the warehouse was still starting when
	// the start budget (databricks.startTimeout) ran out.
	ReasonWarehouseStartTimeout = "WarehouseStartTimeout"
	ReasonTreasureDown          = "TreasureUnavailable"
	ReasonTreasureRefused       = "TreasureRefused"
	ReasonApplyFailed           = "ApplyFailed"
	// ReasonTreasureUnauthorized: Treasure refused the API key (401).
	ReasonTreasureUnauthorized = "TreasureUnauthorized"
	// ReasonTreasureForbidden: Treasure refused a request for the key's
	// permissions (403).
	ReasonTreasureForbidden = "TreasureForbidden"
	// ReasonWarehouseUnauthorized: the warehouse or its token URL refused
	// the credentials.
	ReasonWarehouseUnauthorized = "WarehouseUnauthorized"
	// ReasonInvalidPlan is a plan that cannot be applied as a whole (see
	// plan.Plan.Errors).
	ReasonInvalidPlan = "InvalidPlan"
	// ReasonUnknownConnection: a parent segment names a connection that
	// Treasure Data does not have.
	ReasonUnknownConnection = "UnknownConnection"
)

// CodePlanError is the diagnostic code of a plan error.
const CodePlanError = "plan-error"

// CodeUnknownConnection is the diagnostic code of a parent segment whose
// connection Treasure Data does not have.
const CodeUnknownConnection = "unknown-connection"

// ApplyError is the outcome of a run in which changes failed for reasons
// that are not temporary. Its message starts with ReasonApplyFailed.
type ApplyError struct {
	Err error
}

func (e *ApplyError) Error() string { return ReasonApplyFailed + ": " + e.Err.Error() }

// Unwrap returns the joined errors of the failed changes.
func (e *ApplyError) Unwrap() error { return e.Err }

// Credentials name where the credentials of a Reconciler come from: a
// configuration field and its environment variable or file, never a value
// ("treasure.apiKey (env:TD_API_KEY)").
type Credentials struct {
	// Treasure names the Treasure Data API key.
	Treasure string
	// Warehouse names the Databricks token or OAuth client secret.
	Warehouse string
}

// CredentialError is a credential that Treasure Data or the warehouse
// refused. Retrying cannot help until someone replaces the credential or
// grants what it lacks, so the run stalls with Reason.
type CredentialError struct {
	// Reason is ReasonTreasureUnauthorized, ReasonTreasureForbidden or
	// ReasonWarehouseUnauthorized.
	Reason string
	// Credential names where the credential comes from (see
	// Credentials); empty when unknown.
	Credential string
	Err        error
}

func (e *CredentialError) Error() string {
	from := ""
	if e.Credential != "" {
		from = " from " + e.Credential
	}
	var msg string
	switch e.Reason {
	case ReasonTreasureUnauthorized:
		msg = "Treasure Data refused the API key" + from + " (401: wrong, expired or revoked): " +
			"put a valid master API key there and restart the reconciler"
	case ReasonTreasureForbidden:
		msg = "Treasure Data refused a request made with the API key" + from + " (403: the key's user lacks a permission, " +
			"or it is not a master key): grant the permission or use a master API key that has it, then trigger a run or restart the reconciler"
	default:
		msg = "Databricks refused the credentials" + from + " (wrong, expired or revoked, or the principal may not use the warehouse): " +
			"fix them and restart the reconciler"
	}
	return msg + ": " + e.Err.Error()
}

// Unwrap returns the adapter's error.
func (e *CredentialError) Unwrap() error { return e.Err }

// unauthorized and forbidden are implemented by adapter errors that can
// tell refused credentials: 401 (wrong, expired or revoked) and 403 (valid,
// but lacking a permission).
type (
	unauthorized interface{ Unauthorized() bool }
	forbidden    interface{ Forbidden() bool }
)

// treasureRefusal returns the reason of a Treasure failure caused by the
// API key, or "".
func treasureRefusal(err error) string {
	var u unauthorized
	var f forbidden
	switch {
	case errors.As(err, &u) && u.Unauthorized():
		return ReasonTreasureUnauthorized
	case errors.As(err, &f) && f.Forbidden():
		return ReasonTreasureForbidden
	}
	return ""
}

// refused is the stall of a run whose credential was refused.
func refused(reason, credential string, err error) *Stalled {
	return &Stalled{Reason: reason, Err: &CredentialError{Reason: reason, Credential: credential, Err: err}}
}

// warehouseWaitReason tells a starting warehouse, and one that did not
// start within its budget, from one that is unavailable.
func warehouseWaitReason(err error) string {
	var st interface {
		IsStarting() bool
		StartTimedOut() bool
	}
	if errors.As(err, &st) {
		switch {
		case st.StartTimedOut():
			return ReasonWarehouseStartTimeout
		case st.IsStarting():
			return ReasonWarehouseStarting
		}
	}
	return ReasonWarehouseDown
}

// temporary is implemented by adapter errors that pass by themselves.
type temporary interface{ Temporary() bool }

type retryDelay interface{ RetryDelay() time.Duration }

// Run performs one reconcile of snap. The Result is returned even with an
// error, as far as the run got; its Outcome classifies the error.
func (r *Reconciler) Run(ctx context.Context, snap Snapshot, mode Mode) (*Result, error) {
	res, err := r.run(ctx, snap, mode)
	res.Outcome = OutcomeOf(err)
	return res, err
}

func (r *Reconciler) run(ctx context.Context, snap Snapshot, mode Mode) (*Result, error) {
	now := r.Now
	if now == nil {
		now = time.Now
	}
	res := &Result{Revision: snap.Revision, Start: now()}
	defer func() { res.End = now() }()
	step := func(name string, f func() error) error {
		t0 := now()
		err := f()
		res.Steps = append(res.Steps, StepTiming{Step: name, Duration: now().Sub(t0)})
		return err
	}

	// 1. Load.
	var loaded *spec.Result
	if err := step(StepLoad, func() (err error) {
		loaded, err = r.Loader.Load(ctx, snap.FS)
		return err
	}); err != nil {
		var ob overBudget
		if errors.As(err, &ob) && ob.OverBudget() && loaded != nil {
			res.Diagnostics = loaded.Diagnostics
			return res, &Stalled{Reason: ReasonLoadBudget, Err: err}
		}
		return res, fmt.Errorf("load revision %s: %w", short(snap.Revision), err)
	}
	res.Diagnostics = loaded.Diagnostics
	res.Desired = loaded.State
	if loaded.Diagnostics.HasErrors() {
		return res, &Stalled{Reason: ReasonInvalidSpec, Err: loaded.Diagnostics.Err()}
	}

	// 2. Check against the warehouse.
	var cat *catalog.Catalog
	if r.Catalog != nil {
		if err := step(StepValidate, func() error {
			req := catalog.RequestOf(res.Desired, r.Validate.RequireUniqueKeys)
			key := req.ID()
			var at time.Time
			cat, at = r.recentCheck(snap.Revision, key, res.Start)
			if cat == nil {
				var err error
				if cat, err = r.Catalog.Read(ctx, req); err != nil {
					return err
				}
				at = res.Start
			}
			res.WarehouseCheckedAt = at
			var ds diag.Diagnostics
			res.Desired, ds = validate.Check(res.Desired, cat, r.Validate)
			res.Diagnostics = append(res.Diagnostics, ds...).Sort()
			r.mu.Lock()
			if ds.HasErrors() {
				// A failed check is never reused: the next run asks
				// again, after someone fixed the warehouse.
				r.lastCheck = nil
			} else if at == res.Start {
				r.lastCheck = &passedCheck{revision: snap.Revision, tables: key, at: at, cat: cat}
			}
			r.mu.Unlock()
			return nil
		}); err != nil {
			var u unauthorized
			if errors.As(err, &u) && u.Unauthorized() {
				return res, refused(ReasonWarehouseUnauthorized, r.Credentials.Warehouse, err)
			}
			return res, &Waiting{Reason: warehouseWaitReason(err), Err: err}
		}
		if res.Diagnostics.HasErrors() {
			return res, &Stalled{Reason: ReasonWarehouseMismatch, Err: res.Diagnostics.Err()}
		}
	}

	// 3. Observe.
	var observed segment.State
	var unknown diag.Diagnostics
	if err := step(StepObserve, func() (err error) {
		if observed, err = r.Remote.Observe(ctx, r.parentNames(res.Desired)); err != nil {
			return err
		}
		if err = r.Remote.ObserveActivations(ctx, &observed, res.Desired.ActivationsWanted()); err != nil {
			return err
		}
		unknown, err = r.resolveConnections(ctx, res.Desired)
		return err
	}); err != nil {
		if reason := treasureRefusal(err); reason != "" {
			return res, refused(reason, r.Credentials.Treasure, err)
		}
		return res, remoteOutcome(err)
	}
	if len(unknown) > 0 {
		res.Diagnostics = append(res.Diagnostics, unknown...).Sort()
		return res, &Stalled{Reason: ReasonUnknownConnection, Err: unknown.Err()}
	}
	r.mu.Lock()
	r.lastObservation = now()
	opts := r.Plan
	opts.LastApplied = r.lastApplied
	opts.SameRevision = r.lastAppliedRev != "" && r.lastAppliedRev == snap.Revision
	r.mu.Unlock()

	// 4. Plan.
	_ = step(StepPlan, func() error {
		res.Plan = plan.Compute(res.Desired, observed, opts)
		if r.Population != nil && !mode.NoPopulation && !res.Plan.Errored {
			res.PopulationStatements = countPopulations(ctx, r.Population, res.Plan, res.Desired, observed, cat, now(), r.PopulationOptions)
			r.mu.Lock()
			earlier := r.populationHolds
			r.mu.Unlock()
			held := res.Plan.HoldPopulationChanges(r.PopulationOptions.MaxChangePercent, snap.Revision, earlier)
			r.mu.Lock()
			r.populationHolds = held
			r.mu.Unlock()
		}
		return nil
	})
	if res.Plan.Errored {
		for _, e := range res.Plan.Errors {
			res.Diagnostics = append(res.Diagnostics, diag.Errorf(diag.Pos{}, CodePlanError, "%s", e))
		}
		return res, &Stalled{Reason: ReasonInvalidPlan, Err: errors.New(strings.Join(res.Plan.Errors, "; "))}
	}

	// 5. Apply.
	switch {
	case !res.Plan.HasChanges():
		r.markApplied(snap.Revision, now())
		return res, nil
	case mode.DryRun:
		res.Held = "dry run"
		return res, nil
	case mode.Frozen:
		res.Held = "freeze window"
		return res, nil
	}
	var applyErr error
	_ = step(StepApply, func() error {
		res.Report, applyErr = apply.Run(ctx, r.Remote, res.Plan, r.Apply)
		return nil
	})
	res.Applied = true
	if applyErr != nil {
		return res, applyErr
	}
	if res.Report.Failed() {
		// A refused key stalls; wait when every failure passes by itself
		// (an outage, 429); anything else needs a look.
		for _, x := range res.Report.Results {
			if x.Outcome != apply.Failed {
				continue
			}
			if reason := treasureRefusal(x.Err); reason != "" {
				return res, refused(reason, r.Credentials.Treasure, res.Report.Err())
			}
		}
		var w *Waiting
		for _, x := range res.Report.Results {
			if x.Outcome != apply.Failed {
				continue
			}
			tw, ok := temporaryOutcome(x.Err)
			if !ok {
				return res, &ApplyError{Err: res.Report.Err()}
			}
			if w == nil || tw.RetryAfter > w.RetryAfter {
				w = tw
			}
		}
		w.Err = res.Report.Err()
		return res, w
	}
	r.markApplied(snap.Revision, now())
	return res, nil
}

// notFound is implemented by adapter errors that can tell an object that
// does not exist.
type notFound interface{ NotFound() bool }

func (r *Reconciler) resolveConnections(ctx context.Context, desired segment.State) (diag.Diagnostics, error) {
	return ResolveConnections(ctx, r.Remote, desired)
}

// ConnectionResolver resolves a Databricks connection name to Treasure's id;
// an unknown name is an error with NotFound() true.
type ConnectionResolver interface {
	ResolveConnection(ctx context.Context, name string) (string, error)
}

// ResolveConnections sets ConnectionID on every desired parent segment and activation
// from its connection name, so that the plan compares connections by id.
// A name Treasure does not know is a diagnostic (CodeUnknownConnection) at
// the connection field; other failures are returned.
func ResolveConnections(ctx context.Context, remote ConnectionResolver, desired segment.State) (diag.Diagnostics, error) {
	ids := map[string]string{}
	var out diag.Diagnostics
	for i := range desired.Parents {
		p := &desired.Parents[i]
		if p.Connection == "" {
			continue
		}
		id, ok := ids[p.Connection]
		if !ok {
			var err error
			id, err = remote.ResolveConnection(ctx, p.Connection)
			var nf notFound
			switch {
			case errors.As(err, &nf) && nf.NotFound():
				id = ""
			case err != nil:
				return nil, fmt.Errorf("resolve connection %q of parent segment %q: %w", p.Connection, p.Name, err)
			}
			ids[p.Connection] = id
		}
		if id == "" {
			out = append(out, diag.Errorf(p.Origin.At("connection"), CodeUnknownConnection,
				"parent segment %q: connection %q does not exist in Treasure Data", p.Name, p.Connection))
			continue
		}
		p.ConnectionID = id
	}
	for i := range desired.Segments {
		s := &desired.Segments[i]
		for j := range s.Activations {
			a := &s.Activations[j]
			id, ok := ids[a.Connection]
			if !ok {
				var err error
				id, err = remote.ResolveConnection(ctx, a.Connection)
				var nf notFound
				switch {
				case errors.As(err, &nf) && nf.NotFound():
					id = ""
				case err != nil:
					return nil, fmt.Errorf("resolve connection %q of activation %q: %w", a.Connection, a.Name, err)
				}
				ids[a.Connection] = id
			}
			if id == "" {
				out = append(out, diag.Errorf(a.Origin.At("connection"), CodeUnknownConnection,
					"activation %q of segment %q: connection %q does not exist in Treasure Data", a.Name, s.Name, a.Connection))
				continue
			}
			a.ConnectionID = id
		}
	}
	return out, nil
}

// parentNames returns the desired parent segments, sorted; Observe adds
// the ones Treasure marks as this source's.
func (r *Reconciler) parentNames(desired segment.State) []string {
	out := make([]string, 0, len(desired.Parents))
	for _, p := range desired.Parents {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (r *Reconciler) markApplied(rev string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastApplied, r.lastAppliedRev = at, rev
}

// LastApplied returns the time and revision of the last run that left
// Treasure matching the repository.
func (r *Reconciler) LastApplied() (time.Time, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastApplied, r.lastAppliedRev
}

// Observed reports whether a run has observed Treasure at least once.
func (r *Reconciler) Observed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.lastObservation.IsZero()
}

// temporaryOutcome returns the Waiting outcome of a Treasure failure that
// passes by itself.
func temporaryOutcome(err error) (*Waiting, bool) {
	var t temporary
	if !errors.As(err, &t) || !t.Temporary() {
		return nil, false
	}
	w := &Waiting{Reason: ReasonTreasureDown, Err: err}
	var d retryDelay
	if errors.As(err, &d) {
		w.RetryAfter = d.RetryDelay()
	}
	return w, true
}

// remoteOutcome classifies a failure to observe Treasure other than a
// refused key: every one waits, except a canceled run.
func remoteOutcome(err error) error {
	if w, ok := temporaryOutcome(err); ok {
		return w
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &Waiting{Reason: ReasonTreasureRefused, Err: err}
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
