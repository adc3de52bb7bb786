package leader

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cas-reconciler/reconciler/internal/standin/leadertest"
)

// TestShutdownDrainKeepsTheLease checks that a leader whose work takes a
// while to finish after Run's context ended (the daemon lets a run in
// flight complete on shutdown) keeps renewing until the work returned, so
// that no other candidate leads meanwhile; and that the other takes over at
// once after the release.
func TestShutdownDrainKeepsTheLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, "a", "b")
		var aWorking atomic.Bool
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- Run(ctx, Options{Enabled: true, Client: clientFor(c.api, "a"), Namespace: testNamespace,
				Name: testLease, Identity: "a", Logger: discardLogger()}, Callbacks{OnStartedLeading: func(lctx context.Context) {
				aWorking.Store(true)
				<-lctx.Done()
				time.Sleep(30 * time.Second) // the daemon's shutdown grace
				aWorking.Store(false)
			}})
		}()
		synctest.Wait()
		b := c.start("b", Options{})
		time.Sleep(5 * time.Second)
		cancel()
		stopAt := time.Now()
		select {
		case <-b.leading:
			if aWorking.Load() {
				t.Errorf("b leads %s after a's shutdown began, while a's work still runs", time.Since(stopAt))
			}
			if waited := time.Since(stopAt); waited > 35*time.Second { // the drain, then one poll of b (RetryPeriod with jitter)
				t.Errorf("b took over %s after the shutdown began; the release should hand over at once", waited)
			}
		case <-time.After(60 * time.Second):
			t.Error("b never took over")
		}
		<-done
		b.cancel()
		<-b.done
	})
}

// TestStoredLeaseDurationRoundsUp checks that a lease duration that is not
// whole seconds is stored rounded up: stored rounded down (1 s for 1.9 s),
// followers would take over before the leader's 1.5 s renew deadline.
func TestStoredLeaseDurationRoundsUp(t *testing.T) {
	if got := leaseSeconds(1900 * time.Millisecond); got != 2 {
		t.Errorf("leaseSeconds(1.9s) = %d, want 2", got)
	}
	if got := leaseSeconds(15 * time.Second); got != 15 {
		t.Errorf("leaseSeconds(15s) = %d, want 15", got)
	}
	for i := range 10 {
		synctest.Test(t, func(t *testing.T) {
			o := Options{LeaseDuration: 1900 * time.Millisecond, RenewDeadline: 1500 * time.Millisecond, RetryPeriod: 500 * time.Millisecond}
			c := newCluster(t, "a", "b")
			a := c.start("a", o)
			if first(t, a) == nil {
				t.Fatal("no leader")
			}
			b := c.start("b", o)
			time.Sleep(3 * time.Second)
			c.api.Partition("token-a", leadertest.Hang)
			time.Sleep(10 * time.Second)
			if n := c.maxActive.Load(); n > 1 {
				t.Errorf("run %d: two candidates ran the work at once", i)
			}
			c.api.Partition("token-a", leadertest.Healthy)
			a.cancel()
			b.cancel()
			<-a.done
			<-b.done
		})
	}
}

// slowFirstGet answers the first Get late (a slow API server), with the
// lease as it is when the answer is sent, then calls after.
type slowFirstGet struct {
	LeaseClient
	delay time.Duration
	done  bool
	after func()
}

func (s *slowFirstGet) Get(ctx context.Context, ns, name string) (*Lease, error) {
	if s.done {
		return s.LeaseClient.Get(ctx, ns, name)
	}
	s.done = true
	time.Sleep(s.delay)
	l, err := s.LeaseClient.Get(ctx, ns, name)
	s.after()
	return l, err
}

// TestSlowReadIsDatedWhenAnswered checks that a follower dates a lease it
// read when the answer arrived, not when it asked: a renewal that landed
// during a slow read would otherwise look older, and the follower would
// take over before the leader stopped.
func TestSlowReadIsDatedWhenAnswered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, "a", "b")
		a := c.start("a", Options{})
		if first(t, a) == nil {
			t.Fatal("no leader")
		}
		time.Sleep(3500 * time.Millisecond)
		o, err := Options{Enabled: true, Namespace: testNamespace, Name: testLease, Identity: "b",
			Client: &slowFirstGet{LeaseClient: clientFor(c.api, "b"), delay: 9 * time.Second,
				after: func() { c.api.Partition("token-a", leadertest.Hang) }}}.complete()
		if err != nil {
			t.Fatal(err)
		}
		e := newElector(o, discardLogger(), nil)
		for {
			if ok, _ := e.tryAcquireOrRenew(context.Background()); ok {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		select {
		case <-a.stopped:
		default:
			t.Error("b acquired the lease while a still runs its work")
		}
		c.api.Partition("token-a", leadertest.Healthy)
		a.cancel()
		<-a.done
	})
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestNewLeaderCallbacksInOrder checks that leader callbacks, which run on
// their own goroutines, never report an older leader after a newer one.
func TestNewLeaderCallbacksInOrder(t *testing.T) {
	// Goroutine scheduling decides the order: many rounds make a
	// regression show.
	for range 3000 {
		newLeaderRound(t)
	}
}

func newLeaderRound(t *testing.T) {
	started, release, last := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var got []string
	var mu sync.Mutex
	cb := func(h string) {
		if h == "a" {
			close(started)
			<-release // the first callback is slow
		}
		mu.Lock()
		got = append(got, h)
		mu.Unlock()
		if h == "c" {
			close(last)
		}
	}
	o, err := Options{Enabled: true, Namespace: testNamespace, Name: testLease, Identity: "z",
		Client: clientFor(leadertest.New(), "z")}.complete()
	if err != nil {
		t.Fatal(err)
	}
	e := newElector(o, discardLogger(), cb)
	e.observe(&Lease{Spec: LeaseSpec{HolderIdentity: "a", LeaseDurationSeconds: 15}}, time.Now())
	<-started
	for _, h := range []string{"b", "c"} {
		e.observe(&Lease{Spec: LeaseSpec{HolderIdentity: h, LeaseDurationSeconds: 15}}, time.Now())
	}
	close(release)
	<-last // c is the newest: it is never skipped
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(got); i++ {
		if got[i] < got[i-1] {
			t.Errorf("callbacks ran out of order: %v", got)
		}
	}
	if got[0] != "a" || got[len(got)-1] != "c" {
		t.Errorf("callbacks ran for %v, want a first and c last", got)
	}
}

// TestLeaseLostDuringDrain checks that when renewals fail during a
// shutdown drain, OnLeaseLost tells the work to stop before the lease can
// expire for the other candidates, and that they take over only after.
func TestLeaseLostDuringDrain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, "a", "b")
		var aWorking atomic.Bool
		stopNow := make(chan struct{})
		var lostAt time.Time
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- Run(ctx, Options{Enabled: true, Client: clientFor(c.api, "a"), Namespace: testNamespace,
				Name: testLease, Identity: "a", Logger: discardLogger()}, Callbacks{
				OnStartedLeading: func(lctx context.Context) {
					aWorking.Store(true)
					<-lctx.Done()
					select { // a long drain, cut short when the lease is lost
					case <-time.After(30 * time.Second):
					case <-stopNow:
					}
					aWorking.Store(false)
				},
				OnLeaseLost: func() { lostAt = time.Now(); close(stopNow) },
			})
		}()
		synctest.Wait()
		b := c.start("b", Options{})
		time.Sleep(5 * time.Second)
		cancel()
		time.Sleep(time.Second)
		c.api.Partition("token-a", leadertest.Unavailable)
		select {
		case <-b.leading:
			if aWorking.Load() {
				t.Error("b leads while a's work still runs")
			}
			if lostAt.IsZero() {
				t.Error("b leads but a was never told it lost the lease")
			}
		case <-time.After(60 * time.Second):
			t.Error("b never took over")
		}
		c.api.Partition("token-a", leadertest.Healthy)
		<-done
		b.cancel()
		<-b.done
	})
}
