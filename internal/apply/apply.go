package apply

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cas-reconciler/reconciler/pkg/plan"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// Target is what apply needs from Treasure Data.
type Target interface {
	ResolveConnection(ctx context.Context, name string) (id string, err error)
	CreateParent(ctx context.Context, p *segment.Parent) (*segment.Parent, error)
	UpdateParent(ctx context.Context, id string, p *segment.Parent) (*segment.Parent, error)
	DeleteParent(ctx context.Context, id string) error
	CreateFolder(ctx context.Context, parentID, parentFolderID string, f *segment.Folder) (*segment.Folder, error)
	UpdateFolder(ctx context.Context, id string, f *segment.Folder) (*segment.Folder, error)
	DeleteFolder(ctx context.Context, id string) error
	CreateSegment(ctx context.Context, parentID, folderID string, s *segment.Segment) (*segment.Segment, error)
	UpdateSegment(ctx context.Context, id, folderID string, s *segment.Segment) (*segment.Segment, error)
	DeleteSegment(ctx context.Context, id string) error
	CreateActivation(ctx context.Context, segmentID string, a *segment.Activation) (*segment.Activation, error)
	UpdateActivation(ctx context.Context, segmentID, id string, a *segment.Activation) (*segment.Activation, error)
	DeleteActivation(ctx context.Context, segmentID, id string) error
}

// Options tune Run.
type Options struct {
	// Concurrency bounds changes in flight within one level (default 4).
	Concurrency int
	// Now is the clock used for durations (default time.Now).
	Now func() time.Time
	// OnChange, if set, is called after every change with its result, one
	// call at a time.
	OnChange func(Result)
	// Grace is how long changes in flight may take to finish once ctx is
	// canceled (default 30s). They run on a context that keeps ctx's values
	// but not its cancellation, so that a shutdown does not cut a write in
	// half; after Grace they are canceled too.
	Grace time.Duration
}

// Outcome is what happened to one change. The set is closed (Outcomes);
// a value goes unchanged to the outcome label of
// reconciler_apply_changes_total, to last_run.outcomes in /status and to
// the outcome field of the change's log line.
type Outcome string

// Outcomes.
const (
	Succeeded Outcome = "success"
	Failed    Outcome = "failed"
	Skipped   Outcome = "skipped"
)

// Outcomes lists every Outcome.
func Outcomes() []Outcome { return []Outcome{Succeeded, Failed, Skipped} }

func (o Outcome) String() string { return string(o) }

// Result is the outcome of one change.
type Result struct {
	Change   *plan.Change
	Outcome  Outcome
	Err      error
	Duration time.Duration
	// ID is the object's id after the change (new for creates).
	ID string
}

// Report is what Run did.
type Report struct {
	Results []Result
}

// Counts returns the number of results per outcome.
func (r *Report) Counts() map[Outcome]int {
	m := map[Outcome]int{}
	for _, x := range r.Results {
		m[x.Outcome]++
	}
	return m
}

// Failed reports whether any change failed.
func (r *Report) Failed() bool { return r.Counts()[Failed] > 0 }

// Err joins the errors of the failed changes.
func (r *Report) Err() error {
	var errs []error
	for _, x := range r.Results {
		if x.Outcome == Failed {
			errs = append(errs, fmt.Errorf("%s %s: %w", x.Change.Action, x.Change.Ref(), x.Err))
		}
	}
	return errors.Join(errs...)
}

// ErrDependency marks a change skipped because something it needs failed.
// The Skipped outcome says "skipped"; the error says why.
var ErrDependency = errors.New("a change it depends on did not succeed")

// ErrDeletesSkipped marks deletes skipped after a failure.
var ErrDeletesSkipped = errors.New("no deletes after a failed change")

// ErrNotApplyable is returned by Run for a plan with errors.
var ErrNotApplyable = errors.New("the plan has errors and cannot be applied")

// Run applies the plan's applicable changes and returns a report of every
// one of them. The error is non-nil only when the plan is errored
// (ErrNotApplyable, nothing is written) or ctx was canceled (the changes in
// flight finish, the rest are reported skipped); failed changes are in the
// report.
func Run(ctx context.Context, t Target, p *plan.Plan, opts Options) (*Report, error) {
	if p.Errored {
		return &Report{}, fmt.Errorf("%w: %s", ErrNotApplyable, strings.Join(p.Errors, "; "))
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Grace <= 0 {
		opts.Grace = 30 * time.Second
	}
	// Changes run on work: canceled only Grace after ctx.
	work, cancelWork := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelWork(nil)
	done := make(chan struct{})
	defer close(done)
	stop := context.AfterFunc(ctx, func() {
		timer := time.NewTimer(opts.Grace)
		defer timer.Stop()
		select {
		case <-timer.C:
			cancelWork(fmt.Errorf("changes in flight did not finish within %s of the cancel: %w", opts.Grace, context.Cause(ctx)))
		case <-done:
		}
	})
	defer stop()
	r := &runner{t: t, opts: opts, ids: newIDs(p.IDs), bad: map[string]bool{}, conn: map[string]string{}}
	report := &Report{}
	var todo []*plan.Change
	for i := range p.Changes {
		c := &p.Changes[i]
		if c.Applies() {
			todo = append(todo, c)
		}
	}
	for len(todo) > 0 {
		level := todo[0].Level
		n := 0
		for n < len(todo) && todo[n].Level == level {
			n++
		}
		batch := todo[:n]
		todo = todo[n:]
		results := r.runLevel(ctx, work, batch)
		report.Results = append(report.Results, results...)
	}
	if ctx.Err() != nil {
		return report, fmt.Errorf("apply interrupted: %w", context.Cause(ctx))
	}
	return report, nil
}

type runner struct {
	t    Target
	opts Options

	mu     sync.Mutex
	ids    *ids
	bad    map[string]bool // refs of changes that failed or were skipped
	failed bool
	conn   map[string]string

	// reportMu serializes OnChange calls.
	reportMu sync.Mutex
}

// runLevel runs one level: ctx decides whether a change starts, work is
// the context it runs on.
func (r *runner) runLevel(ctx, work context.Context, batch []*plan.Change) []Result {
	results := make([]Result, len(batch))
	sem := make(chan struct{}, r.opts.Concurrency)
	var wg sync.WaitGroup
	for i, c := range batch {
		results[i].Change = c
		// Take a slot first, so that a cancel or a failure that happens
		// while waiting for one is seen before the change starts.
		sem <- struct{}{}
		if reason := r.skipReason(ctx, c); reason != nil {
			<-sem
			results[i].Outcome, results[i].Err = Skipped, reason
			r.markBad(c, false)
			r.report(results[i])
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			start := r.opts.Now()
			id, err := r.apply(work, c)
			res := Result{Change: c, ID: id, Err: err, Duration: r.opts.Now().Sub(start), Outcome: Succeeded}
			if err != nil {
				res.Outcome = Failed
				r.markBad(c, true)
			}
			results[i] = res
			r.report(res)
		}()
	}
	wg.Wait()
	return results
}

func (r *runner) report(res Result) {
	if r.opts.OnChange != nil {
		r.reportMu.Lock()
		defer r.reportMu.Unlock()
		r.opts.OnChange(res)
	}
}

func (r *runner) skipReason(ctx context.Context, c *plan.Change) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("the run was stopped: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c.Action == plan.Delete && r.failed {
		return ErrDeletesSkipped
	}
	for _, d := range c.DependsOn {
		if r.bad[d] {
			return fmt.Errorf("%w (%s)", ErrDependency, d)
		}
	}
	return nil
}

func (r *runner) markBad(c *plan.Change, failed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bad[c.Ref()] = true
	if failed {
		r.failed = true
	}
}
