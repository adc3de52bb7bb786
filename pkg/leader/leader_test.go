package leader

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

const (
	testNamespace = "cas"
	testLease     = "reconciler"
)

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
	client    kubernetes.Interface
	active    atomic.Int32
	maxActive atomic.Int32
}

func (c *cluster) start(id string, o Options) *candidate {
	ctx, cancel := context.WithCancel(context.Background())
	cand := &candidate{id: id, cancel: cancel, leading: make(chan struct{}, 8),
		stopped: make(chan struct{}, 8), done: make(chan error, 1)}
	o.Enabled = true
	o.Client = c.client
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

func (c *cluster) holder() string {
	c.t.Helper()
	l, err := c.client.CoordinationV1().Leases(testNamespace).Get(context.Background(), testLease, metav1.GetOptions{})
	if err != nil {
		c.t.Fatalf("get lease: %v", err)
	}
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
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

func TestOneLeaderAndTakeoverOnShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &cluster{t: t, client: fake.NewClientset()}
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
		// expire (up to a lease duration); released, it takes over on its
		// next retry.
		if limit := 3 * DefaultRetryPeriod; took > limit {
			t.Errorf("takeover after a released lease took %s, want at most %s", took, limit)
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

// partition makes the API server reject lease writes by id, as when that
// replica hangs or loses its network: it can no longer renew.
func partition(client *fake.Clientset, id string, on *atomic.Bool) {
	client.PrependReactor("update", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
		l, ok := a.(k8stesting.UpdateAction).GetObject().(*coordinationv1.Lease)
		if on.Load() && ok && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity == id {
			return true, nil, errors.New("connection refused")
		}
		return false, nil, nil
	})
}

func TestTakeoverWhenTheLeaderStopsRenewing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client := fake.NewClientset()
		// The reactor is installed before any candidate runs: the fake
		// clientset's reactor chain may not change while it is in use.
		var cut atomic.Bool
		partition(client, "reconciler-a", &cut)
		c := &cluster{t: t, client: client}
		a := c.start("reconciler-a", Options{})
		synctest.Wait()
		if first(t, a) == nil {
			t.Fatal("a single candidate does not lead")
		}
		b := c.start("reconciler-b", Options{})
		time.Sleep(2 * DefaultLeaseDuration)
		if first(t, b) != nil {
			t.Fatal("the second candidate leads while the first still renews")
		}

		cut.Store(true)
		// a stops its work once it cannot renew (RenewDeadline); b takes
		// over when the lease it last saw renewed expires.
		start := time.Now()
		select {
		case <-a.stopped:
		case <-time.After(2 * DefaultLeaseDuration):
			t.Fatal("the partitioned leader kept working")
		}
		took := waitLeading(t, b, 4*DefaultLeaseDuration)
		if total := time.Since(start); total > DefaultLeaseDuration+2*DefaultRetryPeriod {
			t.Errorf("takeover took %s (b waited %s), want within the lease duration %s plus a retry",
				total, took, DefaultLeaseDuration)
		}
		if m := c.maxActive.Load(); m != 1 {
			t.Errorf("%d candidates worked at once, want 1", m)
		}
		if h := c.holder(); h != b.id {
			t.Errorf("lease holder = %q, want %q", h, b.id)
		}

		// a keeps campaigning: when b shuts down and the partition heals,
		// a leads again.
		cut.Store(false)
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
	})
}

func TestWorkReturningReleasesTheLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client := fake.NewClientset()
		var stoppedCalls atomic.Int32
		err := Run(context.Background(), Options{Enabled: true, Client: client, Namespace: testNamespace,
			Name: testLease, Identity: "reconciler-a"}, Callbacks{
			OnStartedLeading: func(context.Context) {},
			OnStoppedLeading: func() { stoppedCalls.Add(1) },
		})
		if !errors.Is(err, ErrWorkReturned) {
			t.Fatalf("Run = %v, want ErrWorkReturned", err)
		}
		if n := stoppedCalls.Load(); n != 1 {
			t.Errorf("OnStoppedLeading called %d times, want 1", n)
		}
		c := &cluster{t: t, client: client}
		if h := c.holder(); h != "" {
			t.Errorf("lease holder after the work returned = %q, want released", h)
		}
	})
}

func TestCancelWhileFollowingReturnsWithoutWork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client := fake.NewClientset()
		c := &cluster{t: t, client: client}
		a := c.start("reconciler-a", Options{})
		synctest.Wait()
		<-a.leading
		ctx, cancel := context.WithCancel(context.Background())
		var worked atomic.Bool
		done := make(chan error, 1)
		go func() {
			done <- Run(ctx, Options{Enabled: true, Client: client, Namespace: testNamespace, Name: testLease,
				Identity: "reconciler-b"}, Callbacks{OnStartedLeading: func(context.Context) { worked.Store(true) }})
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
	client := fake.NewClientset()
	work := Callbacks{OnStartedLeading: func(context.Context) { t.Error("work ran with invalid options") }}
	base := Options{Enabled: true, Client: client, Namespace: testNamespace, Name: testLease, Identity: "a"}
	for name, tc := range map[string]struct {
		mutate func(*Options)
		cb     Callbacks
	}{
		"no work":                  {mutate: func(*Options) {}, cb: Callbacks{}},
		"no name":                  {mutate: func(o *Options) { o.Name = "" }, cb: work},
		"lease below one second":   {mutate: func(o *Options) { o.LeaseDuration = 500 * time.Millisecond }, cb: work},
		"renew exceeds lease":      {mutate: func(o *Options) { o.RenewDeadline = 20 * time.Second }, cb: work},
		"retry too close to renew": {mutate: func(o *Options) { o.RetryPeriod = 9 * time.Second }, cb: work},
	} {
		t.Run(name, func(t *testing.T) {
			o := base
			tc.mutate(&o)
			if err := Run(context.Background(), o, tc.cb); err == nil {
				t.Error("Run accepted invalid options")
			}
		})
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
