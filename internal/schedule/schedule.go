package schedule

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// Defaults for Options.
const (
	DefaultBackoffBase = 30 * time.Second
	DefaultBackoffMax  = 15 * time.Minute
)

// Errors returned by Scheduler methods.
var (
	ErrUnknownJob = errors.New("unknown job")
	ErrSuspended  = errors.New("job is suspended")
	ErrDuplicate  = errors.New("job already exists")
	ErrStopped    = errors.New("scheduler stopped")
)

// Reason says why a run started.
type Reason int

const (
	// Scheduled runs come from the job's cron schedule.
	Scheduled Reason = iota
	// Triggered runs come from Trigger (a webhook, an API call).
	Triggered
	// Retry runs come from the backoff timer after a failed run.
	Retry
	// Resumed runs come from Resume.
	Resumed
)

// String names the reason, for logs and metric labels.
func (r Reason) String() string {
	switch r {
	case Triggered:
		return "triggered"
	case Retry:
		return "retry"
	case Resumed:
		return "resumed"
	default:
		return "scheduled"
	}
}

// Outcome is how a run ended.
type Outcome int

const (
	// Succeeded means Run returned nil.
	Succeeded Outcome = iota
	// Failed means Run returned an error; the run is retried with backoff.
	Failed
	// StalledOutcome means Run returned an error wrapped with Stalled; the
	// run is not retried until the next tick or trigger.
	StalledOutcome
	// Panicked means Run panicked; it counts as a failure.
	Panicked
	// Skipped means the job was stalled and its Changed hook reported
	// nothing new, so Run was not called.
	Skipped
)

// String names the outcome, for logs and metric labels.
func (o Outcome) String() string {
	switch o {
	case Failed:
		return "failed"
	case StalledOutcome:
		return "stalled"
	case Panicked:
		return "panicked"
	case Skipped:
		return "skipped"
	default:
		return "succeeded"
	}
}

// StalledError marks a run that cannot succeed until something changes
// (an invalid spec, a schema mismatch). Create it with Stalled.
type StalledError struct{ Err error }

func (e *StalledError) Error() string { return "stalled: " + e.Err.Error() }

// Unwrap returns the cause.
func (e *StalledError) Unwrap() error { return e.Err }

// Stalled wraps err so the scheduler does not retry the run.
func Stalled(err error) error {
	if err == nil {
		err = errors.New("stalled")
	}
	return &StalledError{Err: err}
}

// RetryAfterError asks for the retry of a failed run to wait at least
// After. Create it with RetryAfter.
type RetryAfterError struct {
	Err   error
	After time.Duration
}

func (e *RetryAfterError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter wraps err so that the run is retried no earlier than after d
// (a server's Retry-After): the retry delay is the larger of the backoff
// and d, and never more than Options.BackoffMax. A d of zero or less leaves
// the backoff alone.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		err = errors.New("retry later")
	}
	return &RetryAfterError{Err: err, After: d}
}

// PanicError is the error recorded for a run that panicked.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Run describes one run, passed to Job.Run.
type Run struct {
	// Job is the job's name.
	Job string
	// Reason says why the run started.
	Reason Reason
	// Failures is the number of consecutive failed runs before this one.
	Failures int
	// Stalled reports that the previous run stalled.
	Stalled bool
}

// Job is a named unit of work on a schedule.
type Job struct {
	// Name identifies the job (one per source); it also seeds its jitter.
	Name string
	// Spec is a cron expression or a descriptor such as "@every 5m".
	Spec string
	// Run does the work. Return nil on success, an error wrapped with
	// Stalled to wait for the next tick or trigger without retries, or any
	// other error to retry with backoff. ctx is cancelled when Stop gives
	// up waiting.
	Run func(ctx context.Context, run Run) error
	// Changed, if set, is asked before each run while the job is stalled;
	// when it returns false (and no error) the run is skipped. An error
	// lets the run go ahead.
	Changed func(ctx context.Context) (bool, error)
}

// Result reports a finished run.
type Result struct {
	Job     string
	Reason  Reason
	Outcome Outcome
	// Err is the run's error (nil on success and skip).
	Err   error
	Start time.Time
	End   time.Time
	// RetryAfter is the least delay before a retry that a failed run asked
	// for with RetryAfter (zero if none).
	RetryAfter time.Duration
	// NextRetry is when a failed run will be retried (zero if none).
	NextRetry time.Time
}

// Status is a job's state at one moment.
type Status struct {
	Name      string
	Spec      string
	Suspended bool
	Running   bool
	Stalled   bool
	// Failures counts consecutive failed runs.
	Failures int
	// Offset is the job's jitter offset.
	Offset time.Duration
	// NextRun is the next scheduled tick; NextRetry the pending retry.
	NextRun   time.Time
	NextRetry time.Time
	// Last is the last finished run (zero before the first).
	Last Result
}

// Options configure a Scheduler.
type Options struct {
	// Location evaluates cron expressions; UTC when nil.
	Location *time.Location
	// Jitter bounds each job's fixed, name-derived offset; none when zero.
	Jitter time.Duration
	// BackoffBase is the first retry delay after a failure; it doubles with
	// each consecutive failure up to BackoffMax. A run that asks for a
	// longer delay (RetryAfter) gets it, up to BackoffMax.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// Logger receives failures and panics; nothing is logged when nil.
	Logger *slog.Logger
	// OnResult, if set, is called after every run from the job's goroutine.
	// It must not block for long.
	OnResult func(Result)
}

// Scheduler runs jobs. Create it with New, add jobs, then Start.
type Scheduler struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	jobs    map[string]*job
	started bool
	stopped bool
	base    context.Context // parent of run contexts
	cancel  context.CancelFunc
	stop    chan struct{}
	wg      sync.WaitGroup
}

// New returns a Scheduler with defaults filled in.
func New(opts Options) *Scheduler {
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = DefaultBackoffBase
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = DefaultBackoffMax
	}
	opts.BackoffMax = max(opts.BackoffMax, opts.BackoffBase)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{opts: opts, log: log, jobs: map[string]*job{}, stop: make(chan struct{})}
}

// Add validates and registers a job. Jobs added after Start begin at once.
func (s *Scheduler) Add(j Job) error {
	if j.Name == "" {
		return errors.New("job name is required")
	}
	if j.Run == nil {
		return fmt.Errorf("job %q: Run is required", j.Name)
	}
	sched, err := ParseSpec(j.Spec, s.opts.Location)
	if err != nil {
		return fmt.Errorf("job %q: %w", j.Name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return ErrStopped
	}
	if _, ok := s.jobs[j.Name]; ok {
		return fmt.Errorf("job %q: %w", j.Name, ErrDuplicate)
	}
	jb := &job{
		Job:     j,
		sched:   sched,
		offset:  offset(j.Name, s.opts.Jitter),
		trigger: make(chan Reason, 1),
		ctl:     make(chan bool, 1),
	}
	jb.status = Status{Name: j.Name, Spec: j.Spec, Offset: jb.offset}
	s.jobs[j.Name] = jb
	if s.started {
		s.wg.Add(1)
		go s.loop(jb)
	}
	return nil
}

// Start begins scheduling. Run contexts derive from ctx. Start is a no-op
// after the first call.
func (s *Scheduler) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.stopped {
		return
	}
	s.started = true
	// Cancelling ctx cancels runs too, but scheduling only ends with Stop.
	s.base, s.cancel = context.WithCancel(ctx)
	for _, j := range s.jobs {
		s.wg.Add(1)
		go s.loop(j)
	}
}

// Trigger asks for a run of the named job now, or right after its current
// run. Triggers coalesce: any number of them while a run is pending or in
// flight cause one run. A trigger before Start runs at Start. It returns
// ErrUnknownJob, ErrSuspended or ErrStopped (wrapped) when it cannot.
func (s *Scheduler) Trigger(name string) error {
	j, err := s.job(name)
	if err != nil {
		return err
	}
	s.mu.Lock()
	stopped := s.stopped
	s.mu.Unlock()
	if stopped {
		return ErrStopped
	}
	if j.get().Suspended {
		return fmt.Errorf("job %q: %w", name, ErrSuspended)
	}
	select {
	case j.trigger <- Triggered:
	default: // one is already pending
	}
	return nil
}

// Suspend stops new runs of the named job (a run in flight finishes).
// Triggers are refused while suspended.
func (s *Scheduler) Suspend(name string) error { return s.setSuspended(name, true) }

// Resume lifts a suspension and runs the job at once.
func (s *Scheduler) Resume(name string) error { return s.setSuspended(name, false) }

func (s *Scheduler) setSuspended(name string, v bool) error {
	j, err := s.job(name)
	if err != nil {
		return err
	}
	j.mu.Lock()
	changed := j.status.Suspended != v
	j.status.Suspended = v
	j.mu.Unlock()
	if changed {
		// Latest request wins; the loop reads the flag from the status.
		select {
		case j.ctl <- v:
		default:
			<-j.ctl
			j.ctl <- v
		}
	}
	return nil
}

// Status returns the named job's state.
func (s *Scheduler) Status(name string) (Status, error) {
	j, err := s.job(name)
	if err != nil {
		return Status{}, err
	}
	return j.get(), nil
}

// Statuses returns every job's state, sorted by name.
func (s *Scheduler) Statuses() []Status {
	s.mu.Lock()
	jobs := make([]*job, 0, len(s.jobs))
	for _, j := range s.jobs {
		jobs = append(jobs, j)
	}
	s.mu.Unlock()
	out := make([]Status, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, j.get())
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// Stop stops scheduling and waits for in-flight runs to finish. If ctx ends
// first, it cancels the runs' contexts and returns ctx's error without
// waiting further.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.mu.Lock()
	if !s.stopped {
		s.stopped = true
		close(s.stop)
	}
	cancel := s.cancel
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		if cancel != nil {
			cancel()
		}
		return nil
	case <-ctx.Done():
		if cancel != nil {
			cancel()
		}
		return ctx.Err()
	}
}

func (s *Scheduler) job(name string) (*job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[name]
	if !ok {
		return nil, fmt.Errorf("job %q: %w", name, ErrUnknownJob)
	}
	return j, nil
}

// offset derives a job's fixed jitter in [0, jitter) from its name.
func offset(name string, jitter time.Duration) time.Duration {
	if jitter <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	return time.Duration(h.Sum64() % uint64(jitter))
}

type job struct {
	Job
	sched   cron.Schedule
	offset  time.Duration
	trigger chan Reason
	ctl     chan bool // suspend (true) or resume (false)

	mu     sync.Mutex
	status Status
}

func (j *job) get() Status {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.status
}

func (j *job) update(f func(*Status)) {
	j.mu.Lock()
	f(&j.status)
	j.mu.Unlock()
}

// next returns the first tick strictly after now, shifted by the offset.
func (j *job) next(now time.Time, first bool) time.Time {
	if _, ok := j.sched.(cron.ConstantDelaySchedule); ok {
		n := j.sched.Next(now)
		if first {
			n = n.Add(j.offset)
		}
		return n
	}
	return j.sched.Next(now.Add(-j.offset)).Add(j.offset)
}

// runDone carries a finished run back to the job's loop.
type runDone struct {
	res Result
}

// loop owns one job's state: timers, single-flight and backoff.
func (s *Scheduler) loop(j *job) {
	defer s.wg.Done()
	var (
		running   bool
		again     bool
		againWhy  Reason
		failures  int
		stalled   bool
		done      = make(chan runDone, 1)
		retry     *time.Timer
		retryC    <-chan time.Time
		suspended = j.get().Suspended
	)
	now := time.Now()
	due := j.next(now, true)
	tick := time.NewTimer(due.Sub(now))
	defer tick.Stop()
	j.update(func(st *Status) { st.NextRun = due })

	stopRetry := func() {
		if retry != nil {
			retry.Stop()
		}
		retry, retryC = nil, nil
		j.update(func(st *Status) { st.NextRetry = time.Time{} })
	}
	start := func(why Reason) {
		running = true
		j.update(func(st *Status) { st.Running = true })
		run := Run{Job: j.Name, Reason: why, Failures: failures, Stalled: stalled}
		go func() { done <- runDone{res: s.execute(j, run)} }()
	}
	request := func(why Reason) {
		if running {
			if !again {
				again, againWhy = true, why
			}
			return
		}
		start(why)
	}
	finish := func(d runDone) {
		running = false
		r := d.res
		switch r.Outcome {
		case Succeeded:
			failures, stalled = 0, false
			stopRetry()
		case StalledOutcome:
			failures, stalled = 0, true
			stopRetry()
		case Failed, Panicked:
			failures++
			stalled = false
			stopRetry()
			if !suspended {
				delay := retryDelay(s.opts.BackoffBase, s.opts.BackoffMax, failures, r.RetryAfter)
				retry = time.NewTimer(delay)
				retryC = retry.C
				r.NextRetry = r.End.Add(delay)
			}
		case Skipped:
		}
		j.update(func(st *Status) {
			st.Running, st.Failures, st.Stalled, st.Last = false, failures, stalled, r
			st.NextRetry = r.NextRetry
		})
		s.report(r)
	}

	for {
		select {
		case <-s.stop:
			stopRetry()
			if running {
				finish(<-done)
			}
			return
		case <-tick.C:
			now := time.Now()
			due = j.next(now, false)
			tick.Reset(due.Sub(now))
			j.update(func(st *Status) { st.NextRun = due })
			if suspended || running {
				continue
			}
			start(Scheduled)
		case <-retryC:
			retry, retryC = nil, nil
			j.update(func(st *Status) { st.NextRetry = time.Time{} })
			if !suspended {
				request(Retry)
			}
		case why := <-j.trigger:
			if !suspended {
				request(why)
			}
		case v := <-j.ctl:
			if v == suspended {
				continue
			}
			suspended = v
			if suspended {
				stopRetry()
				again = false
				continue
			}
			request(Resumed)
		case d := <-done:
			finish(d)
			if again && !suspended {
				start(againWhy)
			}
			again = false
		}
	}
}

// backoff returns base·2^(failures-1), capped at maxDelay.
func backoff(base, maxDelay time.Duration, failures int) time.Duration {
	d := base
	for i := 1; i < failures; i++ {
		d *= 2
		if d >= maxDelay || d <= 0 {
			return maxDelay
		}
	}
	return min(d, maxDelay)
}

// retryDelay returns the delay before the retry of a failed run: the
// backoff, or the delay the run asked for when that is longer, never more
// than maxDelay.
func retryDelay(base, maxDelay time.Duration, failures int, after time.Duration) time.Duration {
	return max(backoff(base, maxDelay, failures), min(after, maxDelay))
}

// execute performs one run, recovering panics.
func (s *Scheduler) execute(j *job, run Run) (res Result) {
	s.mu.Lock()
	ctx := s.base
	s.mu.Unlock()
	res = Result{Job: j.Name, Reason: run.Reason, Start: time.Now()}
	defer func() {
		if v := recover(); v != nil {
			stack := debug.Stack()
			res.Outcome = Panicked
			res.Err = &PanicError{Value: v, Stack: stack}
			s.log.Error("job panicked", "job", j.Name, "reason", run.Reason.String(), "panic", fmt.Sprint(v), "stack", string(stack))
		}
		res.End = time.Now()
	}()
	if run.Stalled && j.Changed != nil && run.Reason != Resumed {
		changed, err := j.Changed(ctx)
		if err == nil && !changed {
			res.Outcome = Skipped
			return res
		}
	}
	err := j.Run(ctx, run)
	var st *StalledError
	switch {
	case err == nil:
		res.Outcome = Succeeded
	case errors.As(err, &st):
		res.Outcome, res.Err = StalledOutcome, err
		s.log.Warn("job stalled", "job", j.Name, "reason", run.Reason.String(), "err", err)
	default:
		res.Outcome, res.Err = Failed, err
		attrs := []any{"job", j.Name, "reason", run.Reason.String(), "failures", run.Failures + 1, "err", err}
		var ra *RetryAfterError
		if errors.As(err, &ra) && ra.After > 0 {
			res.RetryAfter = ra.After
			attrs = append(attrs, "retry_after", ra.After.String())
		}
		s.log.Warn("job failed", attrs...)
	}
	return res
}

func (s *Scheduler) report(r Result) {
	if s.opts.OnResult != nil {
		s.opts.OnResult(r)
	}
}
