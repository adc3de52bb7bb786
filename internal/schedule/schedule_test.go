package schedule

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// epoch is where synctest bubbles start.
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// recorder collects run times and results.
type recorder struct {
	mu      sync.Mutex
	runs    []Run
	at      []time.Duration // since epoch
	results []Result
}

func (r *recorder) run(ctx context.Context, run Run) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs = append(r.runs, run)
	r.at = append(r.at, time.Since(epoch))
}

func (r *recorder) onResult(res Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.results = append(r.results, res)
}

func (r *recorder) times() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.at...)
}

func (r *recorder) outcomes() []Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Outcome
	for _, res := range r.results {
		out = append(out, res.Outcome)
	}
	return out
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func mustAdd(t *testing.T, s *Scheduler, j Job) {
	t.Helper()
	if err := s.Add(j); err != nil {
		t.Fatalf("Add: %v", err)
	}
}

func stop(t *testing.T, s *Scheduler) {
	t.Helper()
	if err := s.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func TestCronFiresInUTCAndLocation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var utc, ny recorder
		s := New(Options{})
		mustAdd(t, s, Job{Name: "a", Spec: "*/5 * * * *", Run: func(ctx context.Context, r Run) error {
			utc.run(ctx, r)
			return nil
		}})
		s.Start(context.Background())
		time.Sleep(16 * time.Minute)
		stop(t, s)
		want := []time.Duration{5 * time.Minute, 10 * time.Minute, 15 * time.Minute}
		if got := utc.times(); !equalDurations(got, want) {
			t.Fatalf("runs at %v, want %v", got, want)
		}

		loc, err := time.LoadLocation("America/New_York")
		if err != nil {
			t.Skip("no tzdata:", err)
		}
		s2 := New(Options{Location: loc})
		mustAdd(t, s2, Job{Name: "b", Spec: "0 3 * * *", Run: func(ctx context.Context, r Run) error {
			ny.run(ctx, r)
			return nil
		}})
		start := time.Since(epoch)
		s2.Start(context.Background())
		time.Sleep(24 * time.Hour)
		stop(t, s2)
		got := ny.times()
		if len(got) != 1 {
			t.Fatalf("daily runs = %v, want one", got)
		}
		// 03:00 in New York in January is 08:00 UTC.
		if at := epoch.Add(got[0]); at.Hour() != 8 || at.Minute() != 0 {
			t.Fatalf("ran at %v UTC (started %v), want 08:00", at, start)
		}
	})
}

func TestEvery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		s := New(Options{})
		mustAdd(t, s, Job{Name: "a", Spec: "@every 1m", Run: func(ctx context.Context, r Run) error {
			rec.run(ctx, r)
			return nil
		}})
		s.Start(context.Background())
		time.Sleep(3*time.Minute + time.Second)
		stop(t, s)
		want := []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute}
		if got := rec.times(); !equalDurations(got, want) {
			t.Fatalf("runs at %v, want %v", got, want)
		}
	})
}

func TestJitterIsBoundedAndDeterministic(t *testing.T) {
	const jitter = 90 * time.Second
	names := []string{"alpha", "beta", "gamma", "delta", "epsilon", "zeta"}
	first := func() map[string]time.Duration {
		out := map[string]time.Duration{}
		synctest.Test(t, func(t *testing.T) {
			var mu sync.Mutex
			s := New(Options{Jitter: jitter})
			for _, n := range names {
				mustAdd(t, s, Job{Name: n, Spec: "*/5 * * * *", Run: func(ctx context.Context, r Run) error {
					mu.Lock()
					defer mu.Unlock()
					if _, ok := out[n]; !ok {
						out[n] = time.Since(epoch)
					}
					return nil
				}})
			}
			s.Start(context.Background())
			time.Sleep(10 * time.Minute)
			stop(t, s)
		})
		return out
	}
	a, b := first(), first()
	distinct := map[time.Duration]bool{}
	for _, n := range names {
		at, ok := a[n]
		if !ok {
			t.Fatalf("%s never ran", n)
		}
		// The scheduler starts exactly on a tick (00:00), so the first
		// shifted tick is 00:00 plus the offset.
		if at <= 0 || at >= jitter {
			t.Errorf("%s first ran at %v, want in (0, %v)", n, at, jitter)
		}
		if b[n] != at {
			t.Errorf("%s: offset differs between schedulers: %v vs %v", n, at, b[n])
		}
		distinct[at] = true
	}
	if len(distinct) < 2 {
		t.Errorf("all jobs fire together at %v: jitter has no effect", a)
	}
}

func TestSingleFlightCoalescesTriggers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		release := make(chan struct{})
		var concurrent, maxConcurrent int
		var mu sync.Mutex
		s := New(Options{OnResult: rec.onResult})
		mustAdd(t, s, Job{Name: "a", Spec: "@every 1h", Run: func(ctx context.Context, r Run) error {
			mu.Lock()
			concurrent++
			maxConcurrent = max(maxConcurrent, concurrent)
			mu.Unlock()
			rec.run(ctx, r)
			<-release
			mu.Lock()
			concurrent--
			mu.Unlock()
			return nil
		}})
		s.Start(context.Background())
		if err := s.Trigger("a"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if st, _ := s.Status("a"); !st.Running {
			t.Fatal("job not running after Trigger")
		}
		for range 5 {
			if err := s.Trigger("a"); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
		}
		release <- struct{}{} // first run ends; one coalesced run starts
		synctest.Wait()
		release <- struct{}{}
		synctest.Wait()
		stop(t, s)
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if len(rec.runs) != 2 {
			t.Fatalf("runs = %d, want 2 (one, then one for the coalesced triggers)", len(rec.runs))
		}
		if rec.runs[1].Reason != Triggered {
			t.Fatalf("second run reason = %v", rec.runs[1].Reason)
		}
		if maxConcurrent != 1 {
			t.Fatalf("max concurrent runs = %d", maxConcurrent)
		}
		if err := s.Trigger("nope"); !errors.Is(err, ErrUnknownJob) {
			t.Fatalf("Trigger unknown: %v", err)
		}
	})
}

func TestPanicKeepsSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		s := New(Options{OnResult: rec.onResult, BackoffBase: 24 * time.Hour})
		mustAdd(t, s, Job{Name: "a", Spec: "@every 1m", Run: func(ctx context.Context, r Run) error {
			rec.run(ctx, r)
			panic("boom")
		}})
		s.Start(context.Background())
		time.Sleep(3*time.Minute + time.Second)
		stop(t, s)
		got := rec.outcomes()
		if len(got) != 3 {
			t.Fatalf("outcomes = %v, want 3 panicked runs", got)
		}
		for _, o := range got {
			if o != Panicked {
				t.Fatalf("outcomes = %v", got)
			}
		}
		var pe *PanicError
		if !errors.As(rec.results[0].Err, &pe) || pe.Value != "boom" || !strings.Contains(string(pe.Stack), "schedule_test.go") {
			t.Fatalf("panic error = %#v", rec.results[0].Err)
		}
		st, _ := s.Status("a")
		if st.Failures != 3 {
			t.Fatalf("failures = %d, want 3", st.Failures)
		}
	})
}

func TestBackoffSequenceAndReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		var mu sync.Mutex
		fail := true
		s := New(Options{OnResult: rec.onResult, BackoffBase: 10 * time.Second, BackoffMax: 80 * time.Second})
		mustAdd(t, s, Job{Name: "a", Spec: "@every 24h", Run: func(ctx context.Context, r Run) error {
			rec.run(ctx, r)
			mu.Lock()
			defer mu.Unlock()
			if fail {
				return errors.New("warehouse down")
			}
			return nil
		}})
		s.Start(context.Background())
		if err := s.Trigger("a"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Minute)
		got := rec.times()
		// Retries 10s, 20s, 40s, 80s, 80s, ... after each failure.
		want := []time.Duration{0, 10 * time.Second, 30 * time.Second, 70 * time.Second, 150 * time.Second, 230 * time.Second}
		if !equalDurations(got, want) {
			t.Fatalf("runs at %v, want %v", got, want)
		}
		st, _ := s.Status("a")
		if st.Failures != 6 || !st.NextRetry.Equal(epoch.Add(310*time.Second)) {
			t.Fatalf("status = %+v", st)
		}
		rec.mu.Lock()
		if r := rec.runs[3]; r.Reason != Retry || r.Failures != 3 {
			t.Fatalf("fourth run = %+v", r)
		}
		rec.mu.Unlock()

		// Success resets the backoff and cancels the pending retry.
		mu.Lock()
		fail = false
		mu.Unlock()
		time.Sleep(15 * time.Second) // the retry at 310s succeeds
		if st, _ := s.Status("a"); st.Failures != 0 || !st.NextRetry.IsZero() {
			t.Fatalf("after success status = %+v", st)
		}
		mu.Lock()
		fail = true
		mu.Unlock()
		base := time.Since(epoch)
		s.Trigger("a")
		time.Sleep(15 * time.Second)
		got = rec.times()
		if n := len(got); got[n-2] != base || got[n-1] != base+10*time.Second {
			t.Fatalf("after reset runs at %v, want %v then +10s", got[n-2:], base)
		}
		stop(t, s)
	})
}

func TestStalledWaitsForSomethingNew(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		var mu sync.Mutex
		changed, checks := false, 0
		s := New(Options{OnResult: rec.onResult, BackoffBase: time.Second})
		mustAdd(t, s, Job{Name: "a", Spec: "@every 1h",
			Run: func(ctx context.Context, r Run) error {
				rec.run(ctx, r)
				return Stalled(errors.New("invalid spec"))
			},
			Changed: func(ctx context.Context) (bool, error) {
				mu.Lock()
				defer mu.Unlock()
				checks++
				return changed, nil
			},
		})
		s.Start(context.Background())
		s.Trigger("a")
		time.Sleep(30 * time.Minute) // no retries while stalled
		if n := len(rec.times()); n != 1 {
			t.Fatalf("runs = %d, want 1 (stalled runs are not retried)", n)
		}
		if st, _ := s.Status("a"); !st.Stalled || !st.NextRetry.IsZero() {
			t.Fatalf("status = %+v", st)
		}
		s.Trigger("a") // nothing new: skipped
		time.Sleep(31 * time.Minute)
		if n := len(rec.times()); n != 1 {
			t.Fatalf("runs = %d after unchanged trigger and tick, want 1", n)
		}
		mu.Lock()
		if checks != 2 {
			t.Fatalf("Changed called %d times, want 2", checks)
		}
		changed = true
		mu.Unlock()
		s.Trigger("a")
		synctest.Wait()
		rec.mu.Lock()
		if len(rec.runs) != 2 || !rec.runs[1].Stalled {
			t.Fatalf("runs = %+v, want a second run marked Stalled", rec.runs)
		}
		rec.mu.Unlock()
		want := []Outcome{StalledOutcome, Skipped, Skipped, StalledOutcome}
		got := rec.outcomes()
		if len(got) != len(want) {
			t.Fatalf("outcomes = %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("outcomes = %v, want %v", got, want)
			}
		}
		stop(t, s)
	})
}

func TestSuspendResume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		s := New(Options{})
		mustAdd(t, s, Job{Name: "a", Spec: "@every 1m", Run: func(ctx context.Context, r Run) error {
			rec.run(ctx, r)
			return nil
		}})
		s.Start(context.Background())
		if err := s.Suspend("a"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Minute)
		if n := len(rec.times()); n != 0 {
			t.Fatalf("suspended job ran %d times", n)
		}
		if err := s.Trigger("a"); !errors.Is(err, ErrSuspended) {
			t.Fatalf("Trigger while suspended: %v", err)
		}
		if st, _ := s.Status("a"); !st.Suspended {
			t.Fatal("status not suspended")
		}
		if err := s.Resume("a"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		rec.mu.Lock()
		if len(rec.runs) != 1 || rec.runs[0].Reason != Resumed {
			t.Fatalf("after resume runs = %+v", rec.runs)
		}
		rec.mu.Unlock()
		time.Sleep(time.Minute + time.Second)
		if n := len(rec.times()); n != 2 {
			t.Fatalf("after resume and a tick runs = %d, want 2", n)
		}
		stop(t, s)
	})
}

func TestStopWaitsForInFlightRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		release := make(chan struct{})
		s := New(Options{OnResult: rec.onResult})
		mustAdd(t, s, Job{Name: "a", Spec: "@every 1h", Run: func(ctx context.Context, r Run) error {
			<-release
			return nil
		}})
		s.Start(context.Background())
		s.Trigger("a")
		synctest.Wait()
		stopped := make(chan error, 1)
		go func() { stopped <- s.Stop(context.Background()) }()
		synctest.Wait()
		select {
		case err := <-stopped:
			t.Fatalf("Stop returned %v while a run was in flight", err)
		default:
		}
		close(release)
		if err := <-stopped; err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if got := rec.outcomes(); len(got) != 1 || got[0] != Succeeded {
			t.Fatalf("outcomes = %v: the in-flight run was not reported", got)
		}
		if err := s.Trigger("a"); !errors.Is(err, ErrStopped) {
			t.Fatalf("Trigger after Stop: %v", err)
		}
	})
}

func TestStopGivesUpAndCancelsRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cancelled := make(chan struct{})
		s := New(Options{})
		mustAdd(t, s, Job{Name: "a", Spec: "@every 1h", Run: func(ctx context.Context, r Run) error {
			<-ctx.Done()
			close(cancelled)
			return ctx.Err()
		}})
		s.Start(context.Background())
		s.Trigger("a")
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Stop = %v, want DeadlineExceeded", err)
		}
		<-cancelled
		synctest.Wait()
	})
}

func TestTickWhileRunningIsSkipped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		s := New(Options{})
		mustAdd(t, s, Job{Name: "a", Spec: "@every 1m", Run: func(ctx context.Context, r Run) error {
			rec.run(ctx, r)
			time.Sleep(150 * time.Second) // longer than two intervals
			return nil
		}})
		s.Start(context.Background())
		time.Sleep(6*time.Minute + time.Second)
		stop(t, s)
		// Ticks at 1m (runs until 3m30), 4m (until 6m30).
		want := []time.Duration{time.Minute, 4 * time.Minute}
		if got := rec.times(); !equalDurations(got, want) {
			t.Fatalf("runs at %v, want %v", got, want)
		}
	})
}

func TestInvalidJobs(t *testing.T) {
	s := New(Options{})
	run := func(context.Context, Run) error { return nil }
	for _, spec := range []string{"", "TZ=", "TZ=0", "CRON_TZ=Europe/Berlin 0 3 * * *", "61 * * * *", "* * *", "@every nope", "@yearly-ish"} {
		if err := s.Add(Job{Name: "j-" + spec, Spec: spec, Run: run}); err == nil {
			t.Errorf("Add(%q) succeeded", spec)
		}
	}
	if err := s.Add(Job{Name: "ok", Spec: "@every 5m", Run: run}); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(Job{Name: "ok", Spec: "@every 5m", Run: run}); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate Add: %v", err)
	}
	if err := s.Add(Job{Name: "norun", Spec: "@every 5m"}); err == nil {
		t.Fatal("Add without Run succeeded")
	}
	if sts := s.Statuses(); len(sts) != 1 || sts[0].Name != "ok" {
		t.Fatalf("Statuses = %+v", sts)
	}
}

func TestBackoff(t *testing.T) {
	cases := []struct {
		failures int
		want     time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {4, 5 * time.Second}, {100, 5 * time.Second}}
	for _, c := range cases {
		if got := backoff(time.Second, 5*time.Second, c.failures); got != c.want {
			t.Errorf("backoff(%d) = %v, want %v", c.failures, got, c.want)
		}
	}
}

func TestRetryDelay(t *testing.T) {
	cases := []struct {
		failures int
		after    time.Duration
		want     time.Duration
	}{
		{1, 0, time.Second},
		{1, -time.Second, time.Second},
		{1, 3 * time.Second, 3 * time.Second},
		{3, 3 * time.Second, 4 * time.Second}, // the backoff is longer
		{1, time.Hour, 5 * time.Second},       // capped at the maximum
	}
	for _, c := range cases {
		if got := retryDelay(time.Second, 5*time.Second, c.failures, c.after); got != c.want {
			t.Errorf("retryDelay(failures %d, after %v) = %v, want %v", c.failures, c.after, got, c.want)
		}
	}
}

// TestRetryAfterIsHonoured checks on fake time that a failed run asking
// for a delay is retried no earlier than that delay, and never later than
// BackoffMax.
func TestRetryAfterIsHonoured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		var mu sync.Mutex
		afters := []time.Duration{45 * time.Second, 5 * time.Second, time.Hour, 0}
		s := New(Options{OnResult: rec.onResult, BackoffBase: 10 * time.Second, BackoffMax: 80 * time.Second})
		mustAdd(t, s, Job{Name: "a", Spec: "@every 24h", Run: func(ctx context.Context, r Run) error {
			rec.run(ctx, r)
			mu.Lock()
			defer mu.Unlock()
			if len(afters) == 0 {
				return nil
			}
			after := afters[0]
			afters = afters[1:]
			return RetryAfter(errors.New("treasure: 429"), after)
		}})
		s.Start(context.Background())
		if err := s.Trigger("a"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if st, _ := s.Status("a"); !st.NextRetry.Equal(epoch.Add(45 * time.Second)) {
			t.Fatalf("next retry after a 45s Retry-After = %v, want epoch+45s", st.NextRetry.Sub(epoch))
		}
		time.Sleep(10 * time.Minute)
		// Run 1 asks 45s (backoff 10s): 45s. Run 2 asks 5s (backoff 20s):
		// 20s. Run 3 asks 1h (backoff 40s): capped at 80s. Run 4 asks
		// nothing (backoff 80s): 80s, then it succeeds.
		want := []time.Duration{0, 45 * time.Second, 65 * time.Second, 145 * time.Second, 225 * time.Second}
		if got := rec.times(); !equalDurations(got, want) {
			t.Fatalf("runs at %v, want %v", got, want)
		}
		rec.mu.Lock()
		var gotAfter []time.Duration
		for _, r := range rec.results {
			gotAfter = append(gotAfter, r.RetryAfter)
		}
		first := rec.results[0]
		rec.mu.Unlock()
		if want := []time.Duration{45 * time.Second, 5 * time.Second, time.Hour, 0, 0}; !equalDurations(gotAfter, want) {
			t.Errorf("Result.RetryAfter = %v, want %v", gotAfter, want)
		}
		if first.Outcome != Failed || !first.NextRetry.Equal(first.End.Add(45*time.Second)) {
			t.Errorf("first result = %+v, want failed with its retry 45s after its end", first)
		}
		stop(t, s)
	})
}

func TestTriggerBeforeStartAndAddAfterStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		s := New(Options{})
		run := func(ctx context.Context, r Run) error {
			rec.run(ctx, r)
			return nil
		}
		mustAdd(t, s, Job{Name: "a", Spec: "@every 1h", Run: run})
		if err := s.Trigger("a"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if n := len(rec.times()); n != 0 {
			t.Fatalf("ran %d times before Start", n)
		}
		s.Start(context.Background())
		synctest.Wait()
		if n := len(rec.times()); n != 1 {
			t.Fatalf("pending trigger: %d runs at Start, want 1", n)
		}
		mustAdd(t, s, Job{Name: "b", Spec: "@every 1m", Run: run})
		time.Sleep(time.Minute + time.Second)
		if n := len(rec.times()); n != 2 {
			t.Fatalf("job added after Start: %d runs total, want 2", n)
		}
		stop(t, s)
	})
}
