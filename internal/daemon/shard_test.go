package daemon

import (
	"context"
	"encoding/json"
	"fmt"
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

// TestShardedReplicasSplitTheSources runs two replicas with two shards on
// fake time: each source is reconciled by the replica that holds its
// shard only, /status and reconciler_shard_held say who holds what, a
// trigger of another replica's source is refused, and when one replica
// stops, the other takes its shard and reconciles its sources.
func TestShardedReplicasSplitTheSources(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		names := []string{"team-a", "team-b", "team-c", "team-d", "team-e", "team-f"}
		perShard := map[int]int{}
		var srcs []string
		for _, n := range names {
			perShard[leader.ShardOf(n, 2)]++
			srcs = append(srcs, fmt.Sprintf(`{name: %q, url: "https://git.invalid/%s.git", schedule: "@every 1h", jitter: "0s"}`, n, n))
		}
		if perShard[0] == 0 || perShard[1] == 0 {
			t.Fatalf("the test's sources all fall in one shard: %v", perShard)
		}
		cfg, err := config.Parse("c.cue", []byte(`
sources: [`+strings.Join(srcs, ", ")+`]
treasure: apiKey: env: "K"
databricks: {host: "dbc.invalid", httpPath: "/p", token: env: "K"}
leaderElection: {enabled: true, namespace: "cas", shards: 2}
`), config.Options{LookupEnv: func(string) (string, bool) { return "secret-value", true }})
		if err != nil {
			t.Fatal(err)
		}
		api := leadertest.New("token-replica-a", "token-replica-b")
		type replica struct {
			d      *Daemon
			reg    *prometheus.Registry
			remote map[string]*fakeRemote
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
			r := &replica{d: d, reg: reg, remote: map[string]*fakeRemote{}, done: make(chan error, 1)}
			for _, st := range d.sources {
				repo := &fakeRepo{}
				repo.set("rev1", true)
				r.remote[st.name] = &fakeRemote{}
				st.fetch, st.latest = repo.fetch, repo.latest
				st.src.Reconciler.Loader, st.src.Reconciler.Catalog, st.src.Reconciler.Remote = markerLoader{}, nil, r.remote[st.name]
			}
			var ctx context.Context
			ctx, r.cancel = context.WithCancel(context.Background())
			go func() { r.done <- d.Run(ctx) }()
			return r
		}
		status := func(r *replica) Status {
			rec := httptest.NewRecorder()
			r.d.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/status", nil))
			var st Status
			if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
				t.Fatal(err)
			}
			return st
		}
		observed := func(r *replica, name string) int {
			f := r.remote[name]
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.observed
		}

		a := start("replica-a")
		time.Sleep(500 * time.Millisecond)
		b := start("replica-b")
		time.Sleep(10 * time.Second)
		synctest.Wait()

		sa, sb := status(a), status(b)
		if len(sa.Shards) != 2 || len(sb.Shards) != 2 {
			t.Fatalf("shards in /status: %+v, %+v", sa.Shards, sb.Shards)
		}
		for i := range 2 {
			if sa.Shards[i].Held == sb.Shards[i].Held {
				t.Errorf("shard %d: held by a %v, by b %v; want exactly one", i, sa.Shards[i].Held, sb.Shards[i].Held)
			}
			if want := leader.ShardLeaseName("cas-reconciler", i, 2); sa.Shards[i].Lease != want {
				t.Errorf("shard %d lease %q, want %q", i, sa.Shards[i].Lease, want)
			}
			holder := "replica-b"
			if sa.Shards[i].Held {
				holder = "replica-a"
			}
			if sb.Shards[i].Holder != holder || sa.Shards[i].Holder != holder {
				t.Errorf("shard %d: holder seen by a %q, by b %q, want %q", i, sa.Shards[i].Holder, sb.Shards[i].Holder, holder)
			}
			got := testutil.ToFloat64(a.d.rec.ShardHeldGauge(i))
			if want := map[bool]float64{true: 1, false: 0}[sa.Shards[i].Held]; got != want {
				t.Errorf("replica a: reconciler_shard_held{shard=%q} = %v, want %v", fmt.Sprint(i), got, want)
			}
		}
		for i, ss := range sa.Sources {
			held := sa.Shards[ss.Shard].Held
			if ss.ShardHeld != held || sb.Sources[i].ShardHeld == held {
				t.Errorf("source %s: shard_held a %v b %v, shard %d held by a %v", ss.Name, ss.ShardHeld, sb.Sources[i].ShardHeld, ss.Shard, held)
			}
			na, nb := observed(a, ss.Name), observed(b, ss.Name)
			if (na > 0) == (nb > 0) || (na > 0) != held {
				t.Errorf("source %s (shard %d, held by a: %v): observed by a %d, by b %d times", ss.Name, ss.Shard, held, na, nb)
			}
			other := b
			if held {
				other = a
			}
			if err := other.d.trigger(ss.Name); err != nil {
				t.Errorf("trigger of %s on its holder: %v", ss.Name, err)
			}
			notHolder := a
			if held {
				notHolder = b
			}
			if err := notHolder.d.trigger(ss.Name); err == nil {
				t.Errorf("trigger of %s on the replica without its shard accepted", ss.Name)
			}
		}

		a.cancel()
		if err := <-a.done; err != nil {
			t.Fatalf("replica a: Run = %v", err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		for _, sh := range status(b).Shards {
			if !sh.Held {
				t.Errorf("after a stopped, b does not hold shard %d", sh.Shard)
			}
		}
		for _, n := range names {
			if observed(b, n) == 0 {
				t.Errorf("after a stopped, b never reconciled %s", n)
			}
		}
		b.cancel()
		if err := <-b.done; err != nil {
			t.Fatalf("replica b: Run = %v", err)
		}
	})
}
