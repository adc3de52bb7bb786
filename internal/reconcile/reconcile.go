package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
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

// Fetcher fetches the revision to reconcile: the tip of the followed
// branch. An error that passes by itself (the server is unreachable)
// implements Temporary() bool.
type Fetcher interface {
	Fetch(ctx context.Context) (Snapshot, error)
}

// Snapshot is one revision of a repository.
type Snapshot struct {
	Revision string
	FS       fs.FS
	// Commit describes the revision; zero when the fetcher does not know
	// it (a local checkout).
	Commit Commit
}

// Commit describes the commit of a revision.
type Commit struct {
	// Branch is the branch the commit was the tip of.
	Branch  string
	Author  string
	Subject string
	Time    time.Time
}

// Mode says how far a run goes.
type Mode struct {
	// DryRun stops after the plan.
	DryRun bool
	// Frozen holds the apply (a freeze window); the plan is still computed.
	Frozen bool
	// NoPopulation skips the population preview (plan --no-population).
	NoPopulation bool
	// WritesFirst lets a run of a new revision whose changes are a few
	// segment updates write them before it observes Treasure, planned on
	// the observation of the last run that wrote nothing after it (see
	// Reconciler.writeFirst): a pushed change reaches Treasure without
	// waiting for the reads of the observation.
	WritesFirst bool
}

// Reconciler runs reconciles of one source. It remembers the last
// successful apply (time and revision) for drift detection; it is safe for
// one run at a time.
type Reconciler struct {
	// Source is where Reconcile fetches the revision from; Run is given
	// one and does not need it.
	Source  Fetcher
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
	// settled is the observation of the last run that wrote nothing after
	// it; nil when unknown or stale.
	settled *settled
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
	StepFetch    = "fetch"
	StepLoad     = "load"
	StepValidate = "validate"
	// StepWriteFirst plans on the last observation and writes before
	// observing (Mode.WritesFirst); absent from runs that did not.
	StepWriteFirst = "write_first"
	StepObserve    = "observe"
	StepPlan       = "plan"
	StepApply      = "apply"
)

// Steps lists the step names in order (the step label of the
// reconciler_run_step_duration_seconds metric).
var Steps = []string{StepFetch, StepLoad, StepValidate, StepWriteFirst, StepObserve, StepPlan, StepApply}

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
	// FirstPlan and WrittenFirst are the changes written before the
	// observation and what became of them (Mode.WritesFirst); nil when
	// the run wrote nothing first. Plan and Report are those of the rest
	// of the run.
	FirstPlan    *plan.Plan
	WrittenFirst *apply.Report
	// Applied reports whether apply ran.
	Applied bool
	// Held says why apply did not run although the plan had changes.
	Held  string
	Steps []StepTiming
	Start time.Time
	End   time.Time
	// Condition and Reason are ConditionOf the run's error.
	Condition Condition
	Reason    Reason
	// Commit describes the fetched revision (see Snapshot).
	Commit Commit
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

// CodePlanError is the diagnostic code of a plan error.
const CodePlanError = "plan-error"

// CodeUnknownConnection is the diagnostic code of a parent segment whose
// connection Treasure Data does not have.
const CodeUnknownConnection = "unknown-connection"

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
