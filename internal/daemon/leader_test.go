package daemon

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cas-reconciler/reconciler/internal/config"
	"github.com/cas-reconciler/reconciler/internal/leader"
	"github.com/cas-reconciler/reconciler/internal/standin/leadertest"
	"github.com/cas-reconciler/reconciler/internal/wiring"
)

// TestOnlyTheLeaderReconciles runs two replicas against one Lease on fake
// time: one runs the scheduler, the other reports standby, and takes over
// when the leader stops.
func TestOnlyTheLeaderReconciles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg, err := config.Parse("c.cue", []byte(`
sources: [{name: "retail", url: "https://git.invalid/retail.git", schedule: "@every 1h", jitter: "0s"}]
treasure: apiKey: env: "K"
databricks: {host: "dbc.invalid", httpPath: "/p", token: env: "K"}
leaderElection: {enabled: true, namespace: "cas"}
`), config.Options{LookupEnv: func(string) (string, bool) { return "secret-value", true }})
		if err != nil {
			t.Fatal(err)
		}
		api := leadertest.New("token-replica-a", "token-replica-b")
		type replica struct {
			d      *Daemon
			reg    *prometheus.Registry
			remote *fakeRemote
			cancel context.CancelFunc
			done   chan error
		}
		start := func(id string) *replica {
			reg := prometheus.NewPedanticRegistry()
			d, err := wired(Options{Config: cfg, Listener: &chanListener{done: make(chan struct{})},
				LeaseClient: leader.NewClient("https://kubernetes.test", api.HTTPClient(),
					func() (string, error) { return "token-" + id, nil }),
				LeaderIdentity: id}, reg, wiring.Options{})
			if err != nil {
				t.Fatal(err)
			}
			repo := &fakeRepo{}
			repo.set("rev1", true)
			r := &replica{d: d, reg: reg, remote: &fakeRemote{}, done: make(chan error, 1)}
			st := d.sources[0]
			st.fetch, st.latest = repo.fetch, repo.latest
			st.src.Reconciler.Loader, st.src.Reconciler.Catalog, st.src.Reconciler.Remote = markerLoader{}, nil, r.remote
			var ctx context.Context
			ctx, r.cancel = context.WithCancel(context.Background())
			go func() { r.done <- d.Run(ctx) }()
			return r
		}
		leading := func(r *replica) float64 {
			m, err := r.reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, mf := range m {
				if mf.GetName() == "reconciler_leader" {
					return mf.GetMetric()[0].GetGauge().GetValue()
				}
			}
			t.Fatal("no reconciler_leader")
			return 0
		}
		readyz := func(r *replica) string {
			rec := httptest.NewRecorder()
			r.d.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
			return rec.Body.String()
		}

		a := start("replica-a")
		time.Sleep(5 * time.Second)
		synctest.Wait()
		b := start("replica-b")
		time.Sleep(5 * time.Second)
		synctest.Wait()

		if leading(a) != 1 || leading(b) != 0 {
			t.Fatalf("leader gauges: a=%v b=%v", leading(a), leading(b))
		}
		if l, _ := api.Lease("cas", cfg.LeaderElection.LeaseName); l.HolderIdentity != "replica-a" {
			t.Errorf("lease holder = %q, want replica-a", l.HolderIdentity)
		}
		if a.remote.observed == 0 || b.remote.observed != 0 {
			t.Errorf("observations: leader %d, standby %d", a.remote.observed, b.remote.observed)
		}
		if !strings.Contains(readyz(b), "standby") {
			t.Errorf("standby /readyz = %s", readyz(b))
		}
		if n := testutil.CollectAndCount(b.reg, "reconciler_runs_total"); n == 0 {
			t.Error("standby lacks pre-initialised run series")
		}

		a.cancel()
		if err := <-a.done; err != nil {
			t.Fatalf("leader Run = %v", err)
		}
		time.Sleep(20 * time.Second)
		synctest.Wait()
		if leading(b) != 1 || b.remote.observed == 0 {
			t.Errorf("after the leader stopped: b leads %v, observed %d", leading(b), b.remote.observed)
		}
		b.cancel()
		if err := <-b.done; err != nil {
			t.Fatalf("second leader Run = %v", err)
		}
	})
}
