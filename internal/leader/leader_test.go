package leader

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cas-reconciler/reconciler/internal/standin/leadertest"
)

const (
	testNamespace = "cas"
	testLease     = "reconciler"
)

// clientFor returns a client of api that authenticates as id (its token is
// "token-"+id, which api must accept).
func clientFor(api *leadertest.API, id string) *Client {
	return NewClient("https://kubernetes.test", api.HTTPClient(), func() (string, error) { return "token-" + id, nil })
}

// candidate is one replica taking part in the election.
type candidate struct {
	id      string
	cancel  context.CancelFunc
	leading chan struct{} // receives when the work starts
	stopped chan struct{} // receives when the work returned
	done    chan error    // Run's result
}

// cluster tracks how many candidates run the work at the same time.
type cluster struct {
	t         *testing.T
	api       *leadertest.API
	active    atomic.Int32
	maxActive atomic.Int32
}

func newCluster(t *testing.T, ids ...string) *cluster {
	var tokens []string
	for _, id := range ids {
		tokens = append(tokens, "token-"+id)
	}
	return &cluster{t: t, api: leadertest.New(tokens...)}
}

func (c *cluster) start(id string, o Options) *candidate {
	ctx, cancel := context.WithCancel(context.Background())
	// A failed test ends its candidates, so that the bubble can exit.
	c.t.Cleanup(cancel)
	cand := &candidate{id: id, cancel: cancel, leading: make(chan struct{}, 8),
		stopped: make(chan struct{}, 8), done: make(chan error, 1)}
	o.Enabled = true
	o.Client = clientFor(c.api, id)
	o.Namespace = testNamespace
	o.Name = testLease
	o.Identity = id
	go func() {
		cand.done <- Run(ctx, o, Callbacks{
			OnStartedLeading: func(ctx context.Context) {
				n := c.active.Add(1)
				for {
					m := c.maxActive.Load()
					if n <= m || c.maxActive.CompareAndSwap(m, n) {
						break
					}
				}
				cand.leading <- struct{}{}
				<-ctx.Done()
				c.active.Add(-1)
				cand.stopped <- struct{}{}
			},
		})
	}()
	return cand
}

func (c *cluster) lease() leadertest.Lease {
	c.t.Helper()
	l, ok := c.api.Lease(testNamespace, testLease)
	if !ok {
		c.t.Fatal("no lease stored")
	}
	return l
}

func (c *cluster) holder() string {
	c.t.Helper()
	return c.lease().HolderIdentity
}

// first waits until one of the candidates leads and returns it.
func first(t *testing.T, cands ...*candidate) *candidate {
	t.Helper()
	synctest.Wait()
	var got *candidate
	for _, c := range cands {
		select {
		case <-c.leading:
			if got != nil {
				t.Fatalf("both %s and %s started leading", got.id, c.id)
			}
			got = c
		default:
		}
	}
	return got
}

// waitLeading advances fake time until c leads or limit passes, and returns
// the fake time it took.
func waitLeading(t *testing.T, c *candidate, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case <-c.leading:
		return time.Since(start)
	case <-time.After(limit):
		t.Fatalf("%s did not lead within %s", c.id, limit)
		return 0
	}
}

// maxFollowerWait is the longest a follower waits between two attempts.
const maxFollowerWait = time.Duration(maxWaitFactor * float64(DefaultRetryPeriod))

func TestOneLeaderAndTakeoverOnShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, "reconciler-a", "reconciler-b")
		a := c.start("reconciler-a", Options{})
		b := c.start("reconciler-b", Options{})

		// Let both campaign for several lease periods: exactly one leads.
		time.Sleep(3 * DefaultLeaseDuration)
		leader := first(t, a, b)
		if leader == nil {
			t.Fatal("no candidate leads after three lease durations")
		}
		follower := b
		if leader == b {
			follower = a
		}
		if h := c.holder(); h != leader.id {
			t.Fatalf("lease holder = %q, want the leading candidate %q", h, leader.id)
		}

		// A graceful shutdown stops the work first, then releases the
		// lease, so the follower takes over well within a lease duration.
		leader.cancel()
		<-leader.stopped
		if err := <-leader.done; err != nil {
			t.Fatalf("Run after cancel = %v, want nil", err)
		}
		took := waitLeading(t, follower, 2*DefaultLeaseDuration)
		// Without the release the follower would wait for the lease to
		// expire (a lease duration); released, it takes over on its next
		// attempt.
		if took > maxFollowerWait {
			t.Errorf("takeover after a released lease took %s, want at most %s", took, maxFollowerWait)
		}
		if h := c.holder(); h != follower.id {
			t.Errorf("lease holder = %q, want %q", h, follower.id)
		}
		if m := c.maxActive.Load(); m != 1 {
			t.Errorf("at most %d candidates worked at once, want exactly 1", m)
		}
		follower.cancel()
		<-follower.stopped
		<-follower.done
	})
}

func TestTakeoverWhenTheLeaderStopsRenewing(t *testing.T) {
	for name, failure := range map[string]leadertest.Failure{
		"refused": leadertest.Unavailable,
		"hanging": leadertest.Hang,
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { testTakeover(t, failure) })
		})
	}
}

func testTakeover(t *testing.T, failure leadertest.Failure) {
	c := newCluster(t, "reconciler-a", "reconciler-b")
	a := c.start("reconciler-a", Options{})
	if first(t, a) == nil {
		t.Fatal("a single candidate does not lead")
	}
	b := c.start("reconciler-b", Options{})
	time.Sleep(2 * DefaultLeaseDuration)
	if first(t, b) != nil {
		t.Fatal("the second candidate leads while the first still renews")
	}

	// a loses its connection to the API server: it must stop its work
	// within RenewDeadline of its last renewal, and b takes over once the
	// lease it last saw renewed has gone unchanged for LeaseDuration.
	c.api.Partition("token-reconciler-a", failure)
	cut := time.Now()
	select {
	case <-a.stopped:
	case <-time.After(2 * DefaultLeaseDuration):
		t.Fatal("the partitioned leader kept working")
	}
	if d := time.Since(cut); d > DefaultRenewDeadline {
		t.Errorf("the partitioned leader stopped after %s, want within the renew deadline %s", d, DefaultRenewDeadline)
	}
	waitLeading(t, b, 4*DefaultLeaseDuration)
	// a renewed at most a retry period before the cut, and b saw that
	// renewal at most one follower wait after it.
	total := time.Since(cut)
	if lo, hi := DefaultLeaseDuration-DefaultRetryPeriod, DefaultLeaseDuration+2*maxFollowerWait; total < lo || total > hi {
		t.Errorf("takeover %s after the cut, want between %s and %s", total, lo, hi)
	}
	if m := c.maxActive.Load(); m != 1 {
		t.Errorf("%d candidates worked at once, want 1", m)
	}
	if h := c.holder(); h != b.id {
		t.Errorf("lease holder = %q, want %q", h, b.id)
	}

	// a keeps campaigning: when b shuts down and the partition heals, a
	// leads again.
	c.api.Partition("token-reconciler-a", leadertest.Healthy)
	b.cancel()
	<-b.stopped
	<-b.done
	waitLeading(t, a, 3*DefaultLeaseDuration)
	if h := c.holder(); h != a.id {
		t.Errorf("lease holder = %q, want %q", h, a.id)
	}
	a.cancel()
	<-a.stopped
	if err := <-a.done; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

// TestTakeoverAfterAKilledLeader kills the leader (its requests stop
// reaching the API, and it never releases the lease) at several points of
// its renewal period. A follower must take over no earlier than a lease
// duration after the last renewal, and no later than a lease duration plus
// one follower wait (1.2 retry periods): it sees that renewal at most one
// wait after it was written, and tries again the moment the lease it saw
// expires rather than at its next regular attempt.
func TestTakeoverAfterAKilledLeader(t *testing.T) {
	const longestWait = DefaultRetryPeriod * 12 / 10
	for i := range 8 {
		offset := time.Duration(i) * DefaultRetryPeriod / 8
		t.Run(offset.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := newCluster(t, "reconciler-a", "reconciler-b")
				a := c.start("reconciler-a", Options{})
				if first(t, a) == nil {
					t.Fatal("a single candidate does not lead")
				}
				b := c.start("reconciler-b", Options{})
				time.Sleep(2*DefaultLeaseDuration + offset)
				synctest.Wait()
				if first(t, b) != nil {
					t.Fatal("the second candidate leads while the first still renews")
				}

				c.api.Partition("token-reconciler-a", leadertest.Hang)
				last, err := time.Parse(time.RFC3339Nano, c.lease().RenewTime)
				if err != nil {
					t.Fatal(err)
				}
				waitLeading(t, b, 4*DefaultLeaseDuration)
				took := time.Since(last)
				if lo, hi := DefaultLeaseDuration, DefaultLeaseDuration+longestWait; took < lo || took > hi {
					t.Errorf("takeover %s after the last renewal, want between %s and %s", took, lo, hi)
				}
				if m := c.maxActive.Load(); m != 1 {
					t.Errorf("%d candidates worked at once, want 1", m)
				}
				b.cancel()
				<-b.stopped
				<-b.done
				a.cancel()
				<-a.done
			})
		})
	}
}

func TestOutageStopsTheLeaderUntilTheAPIReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, "reconciler-a", "reconciler-b")
		a := c.start("reconciler-a", Options{})
		if first(t, a) == nil {
			t.Fatal("a single candidate does not lead")
		}
		b := c.start("reconciler-b", Options{})
		time.Sleep(DefaultLeaseDuration)

		c.api.SetOutage(leadertest.Unavailable)
		<-a.stopped
		time.Sleep(3 * DefaultLeaseDuration)
		if n := c.active.Load(); n != 0 {
			t.Fatalf("%d candidates work while the API server is down, want 0", n)
		}
		c.api.SetOutage(leadertest.Healthy)
		select {
		case <-a.leading:
		case <-b.leading:
		case <-time.After(2 * DefaultLeaseDuration):
			t.Fatal("nobody leads after the API server returned")
		}
		if m := c.maxActive.Load(); m != 1 {
			t.Errorf("%d candidates worked at once, want 1", m)
		}
		a.cancel()
		b.cancel()
		<-a.done
		<-b.done
	})
}

func TestLeaderStepsDownWhenTheLeaseIsTaken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, "reconciler-a")
		a := c.start("reconciler-a", Options{})
		if first(t, a) == nil {
			t.Fatal("a single candidate does not lead")
		}
		// Another client overwrites the lease (someone forcing a handover).
		c.api.SetHolder(testNamespace, testLease, "intruder", 15)
		select {
		case <-a.stopped:
		case <-time.After(2 * DefaultRetryPeriod):
			t.Fatal("the leader kept working after the lease was taken")
		}
		// It campaigns again, and gets the lease once the intruder's
		// expires.
		took := waitLeading(t, a, 3*DefaultLeaseDuration)
		if took < DefaultLeaseDuration-DefaultRetryPeriod {
			t.Errorf("took the lease back after %s, before the intruder's expired", took)
		}
		a.cancel()
		<-a.stopped
		<-a.done
	})
}

func TestLeaseTransitions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, "reconciler-a", "reconciler-b")
		a := c.start("reconciler-a", Options{})
		waitLeading(t, a, DefaultRetryPeriod)
		l := c.lease()
		if l.LeaseTransitions != 0 || l.HolderIdentity != a.id || l.LeaseDurationSeconds != 15 {
			t.Fatalf("created lease = %+v, want held by %s, 15 s, no transitions", l, a.id)
		}
		acquired, renewed := l.AcquireTime, l.RenewTime

		// Renewals keep the holder, acquire time and count.
		time.Sleep(3 * DefaultRetryPeriod)
		synctest.Wait()
		l = c.lease()
		if l.LeaseTransitions != 0 || l.AcquireTime != acquired || l.RenewTime == renewed {
			t.Errorf("after renewals lease = %+v, want transitions 0, acquireTime %s, renewTime after %s",
				l, acquired, renewed)
		}

		b := c.start("reconciler-b", Options{})
		a.cancel()
		<-a.stopped
		<-a.done
		waitLeading(t, b, 2*DefaultRetryPeriod+DefaultRetryPeriod)
		if l := c.lease(); l.LeaseTransitions != 1 || l.HolderIdentity != b.id {
			t.Errorf("after a handover lease = %+v, want held by %s, 1 transition", l, b.id)
		}

		a = c.start("reconciler-a", Options{})
		synctest.Wait()
		b.cancel()
		<-b.stopped
		<-b.done
		waitLeading(t, a, 2*DefaultRetryPeriod+DefaultRetryPeriod)
		if l := c.lease(); l.LeaseTransitions != 2 || l.HolderIdentity != a.id {
			t.Errorf("after a second handover lease = %+v, want held by %s, 2 transitions", l, a.id)
		}
		a.cancel()
		<-a.stopped
		<-a.done
	})
}

// hookClient runs afterGet once, after its first successful Get.
type hookClient struct {
	LeaseClient
	afterGet func()
}

func (h *hookClient) Get(ctx context.Context, ns, name string) (*Lease, error) {
	l, err := h.LeaseClient.Get(ctx, ns, name)
	if err == nil && h.afterGet != nil {
		f := h.afterGet
		h.afterGet = nil
		f()
	}
	return l, err
}

func TestConcurrentAcquireConflicts(t *testing.T) {
	api := leadertest.New("token-a", "token-b")
	api.SetHolder(testNamespace, testLease, "", 15) // released
	opts := func(id string) Options {
		o, err := Options{Enabled: true, Client: clientFor(api, id), Namespace: testNamespace, Name: testLease,
			Identity: id}.complete()
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	a := newElector(opts("a"), slog.New(slog.DiscardHandler), nil)
	b := newElector(opts("b"), slog.New(slog.DiscardHandler), nil)
	ctx := context.Background()

	// b writes the lease between a's read and a's write.
	var bOK bool
	a.client = &hookClient{LeaseClient: a.client, afterGet: func() {
		var err error
		if bOK, err = b.tryAcquireOrRenew(ctx); err != nil {
			t.Errorf("b: %v", err)
		}
	}}
	ok, err := a.tryAcquireOrRenew(ctx)
	if !bOK {
		t.Fatal("b did not acquire the released lease")
	}
	if ok {
		t.Fatal("a acquired the lease over b's write")
	}
	if !errors.Is(err, ErrConflict) {
		t.Errorf("a's attempt = %v, want ErrConflict", err)
	}
	if n := api.Conflicts(); n != 1 {
		t.Errorf("API refused %d updates, want 1", n)
	}
	l, _ := api.Lease(testNamespace, testLease)
	if l.HolderIdentity != "b" || l.LeaseTransitions != 1 {
		t.Errorf("lease = %+v, want held by b after 1 transition", l)
	}

	// On its next attempt a sees b's lease and leaves it alone.
	if ok, err := a.tryAcquireOrRenew(ctx); ok || err != nil {
		t.Errorf("a's next attempt = %v, %v, want false, nil", ok, err)
	}
	// b, leading, renews by writing the version it knows; when that is
	// stale it reads the lease again and still renews.
	api.SetHolder(testNamespace, testLease, "b", 15)
	before := api.Conflicts()
	if ok, err := b.tryAcquireOrRenew(ctx); !ok || err != nil {
		t.Errorf("b's renewal over a stale version = %v, %v, want true, nil", ok, err)
	}
	if api.Conflicts() != before+1 {
		t.Error("b's renewal did not try the version it knew first")
	}
}

func TestWorkReturningReleasesTheLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, "reconciler-a")
		var stoppedCalls atomic.Int32
		err := Run(context.Background(), Options{Enabled: true, Client: clientFor(c.api, "reconciler-a"),
			Namespace: testNamespace, Name: testLease, Identity: "reconciler-a"}, Callbacks{
			OnStartedLeading: func(context.Context) {},
			OnStoppedLeading: func() { stoppedCalls.Add(1) },
		})
		if !errors.Is(err, ErrWorkReturned) {
			t.Fatalf("Run = %v, want ErrWorkReturned", err)
		}
		if n := stoppedCalls.Load(); n != 1 {
			t.Errorf("OnStoppedLeading called %d times, want 1", n)
		}
		// Released: no holder; the duration is kept.
		if l := c.lease(); l.HolderIdentity != "" || l.LeaseDurationSeconds != 15 {
			t.Errorf("lease after the work returned = %+v, want no holder and 15 s", l)
		}
	})
}

func TestCancelWhileFollowingReturnsWithoutWork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, "reconciler-a", "reconciler-b")
		a := c.start("reconciler-a", Options{})
		synctest.Wait()
		<-a.leading
		ctx, cancel := context.WithCancel(context.Background())
		var worked atomic.Bool
		done := make(chan error, 1)
		go func() {
			done <- Run(ctx, Options{Enabled: true, Client: clientFor(c.api, "reconciler-b"), Namespace: testNamespace,
				Name: testLease, Identity: "reconciler-b"}, Callbacks{OnStartedLeading: func(context.Context) { worked.Store(true) }})
		}()
		time.Sleep(DefaultLeaseDuration)
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
		if worked.Load() {
			t.Error("a follower ran the work")
		}
		if h := c.holder(); h != a.id {
			t.Errorf("lease holder = %q, want %q untouched", h, a.id)
		}
		a.cancel()
		<-a.stopped
		<-a.done
	})
}

func TestOnNewLeaderReportsEachHolder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, "reconciler-a", "reconciler-b")
		a := c.start("reconciler-a", Options{})
		synctest.Wait()
		<-a.leading
		var mu sync.Mutex
		var seen []string
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- Run(ctx, Options{Enabled: true, Client: clientFor(c.api, "reconciler-b"), Namespace: testNamespace,
				Name: testLease, Identity: "reconciler-b"}, Callbacks{
				OnStartedLeading: func(ctx context.Context) { <-ctx.Done() },
				OnNewLeader:      func(id string) { mu.Lock(); seen = append(seen, id); mu.Unlock() },
			})
		}()
		time.Sleep(DefaultLeaseDuration)
		a.cancel()
		<-a.done
		time.Sleep(DefaultLeaseDuration)
		cancel()
		<-done
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != 2 || seen[0] != "reconciler-a" || seen[1] != "reconciler-b" {
			t.Errorf("OnNewLeader saw %q, want reconciler-a then reconciler-b", seen)
		}
	})
}

func TestDisabledRunsTheWorkDirectly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var events []string
	rec := func(s string) { mu.Lock(); events = append(events, s); mu.Unlock() }
	err := Run(ctx, Options{Identity: "laptop"}, Callbacks{
		OnNewLeader:      func(id string) { rec("leader " + id) },
		OnStartedLeading: func(ctx context.Context) { rec("work"); cancel(); <-ctx.Done() },
		OnStoppedLeading: func() { rec("stopped") },
	})
	if err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	want := []string{"leader laptop", "work", "stopped"}
	if len(events) != len(want) {
		t.Fatalf("events = %q, want %q", events, want)
	}
	for i := range want {
		if events[i] != want[i] {
			t.Fatalf("events = %q, want %q", events, want)
		}
	}
}

func TestInvalidOptions(t *testing.T) {
	api := leadertest.New("token-a")
	work := Callbacks{OnStartedLeading: func(context.Context) { t.Error("work ran with invalid options") }}
	base := Options{Enabled: true, Client: clientFor(api, "a"), Namespace: testNamespace, Name: testLease, Identity: "a"}
	for name, tc := range map[string]struct {
		mutate func(*Options)
		cb     Callbacks
	}{
		"no work":                  {mutate: func(*Options) {}, cb: Callbacks{}},
		"no name":                  {mutate: func(o *Options) { o.Name = "" }, cb: work},
		"lease below one second":   {mutate: func(o *Options) { o.LeaseDuration = 500 * time.Millisecond }, cb: work},
		"renew exceeds lease":      {mutate: func(o *Options) { o.RenewDeadline = 20 * time.Second }, cb: work},
		"retry too close to renew": {mutate: func(o *Options) { o.RetryPeriod = 9 * time.Second }, cb: work},
		"negative retry":           {mutate: func(o *Options) { o.RetryPeriod = -time.Second }, cb: work},
	} {
		t.Run(name, func(t *testing.T) {
			o := base
			tc.mutate(&o)
			if err := Run(context.Background(), o, tc.cb); err == nil {
				t.Error("Run accepted invalid options")
			}
		})
	}
	if api.Requests() != 0 {
		t.Errorf("invalid options sent %d requests", api.Requests())
	}
}

func TestDefaultIdentityPrefersPodName(t *testing.T) {
	t.Setenv("POD_NAME", "reconciler-7d9f-abcde")
	if got := DefaultIdentity(); got != "reconciler-7d9f-abcde" {
		t.Errorf("DefaultIdentity() = %q", got)
	}
	t.Setenv("POD_NAME", "")
	if got := DefaultIdentity(); got == "" {
		t.Error("DefaultIdentity() without POD_NAME is empty, want the hostname")
	}
	t.Setenv("POD_NAMESPACE", "cas-system")
	if got := DefaultNamespace(); got != "cas-system" {
		t.Errorf("DefaultNamespace() = %q", got)
	}
}
