package leader

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cas-reconciler/reconciler/internal/standin/leadertest"
)

// TestShardOfIsStableAndSpread checks the assignment of names to shards:
// within range, the same on every call, spread evenly, and when a shard is
// added only names that move to the new shard change.
func TestShardOfIsStableAndSpread(t *testing.T) {
	const names = 3000
	for _, n := range []int{1, 2, 3, 7} {
		count := make([]int, n)
		for i := range names {
			name := fmt.Sprintf("team-%d", i)
			s := ShardOf(name, n)
			if s < 0 || s >= n {
				t.Fatalf("ShardOf(%q, %d) = %d, out of range", name, n, s)
			}
			if again := ShardOf(name, n); again != s {
				t.Fatalf("ShardOf(%q, %d) = %d, then %d", name, n, s, again)
			}
			if grown := ShardOf(name, n+1); grown != s && grown != n {
				t.Errorf("%q moved from shard %d to %d when shard %d was added", name, s, grown, n)
			}
			count[s]++
		}
		for s, c := range count {
			// Within 15% of an even share.
			if even := names / n; c < even*85/100 || c > even*115/100 {
				t.Errorf("%d shards: shard %d has %d of %d names", n, s, c, names)
			}
		}
	}
	if ShardOf("retail", 0) != 0 || ShardOf("retail", 1) != 0 {
		t.Error("a single shard is not shard 0")
	}
}

func TestShardLeaseName(t *testing.T) {
	if got := ShardLeaseName("cas-reconciler", 0, 1); got != "cas-reconciler" {
		t.Errorf("one shard: lease %q, want the configured name", got)
	}
	if got := ShardLeaseName("cas-reconciler", 2, 3); got != "cas-reconciler-shard-2" {
		t.Errorf("shard 2 of 3: lease %q", got)
	}
}

// shardCluster runs candidates of several shards and tracks who works on
// which shard.
type shardCluster struct {
	t      *testing.T
	api    *leadertest.API
	shards int

	mu      sync.Mutex
	working map[int]map[string]bool // shard → candidates running its work
	overlap []string
}

func (c *shardCluster) start(id string, o Options) (cancel context.CancelFunc, done chan error) {
	ctx, cancel := context.WithCancel(context.Background())
	c.t.Cleanup(cancel)
	done = make(chan error, 1)
	o.Enabled, o.Client, o.Namespace, o.Name, o.Identity = true, clientFor(c.api, id), testNamespace, testLease, id
	go func() {
		done <- RunShards(ctx, o, c.shards, ShardCallbacks{OnStartedLeading: func(ctx context.Context, shard int) {
			c.mu.Lock()
			if len(c.working[shard]) > 0 {
				c.overlap = append(c.overlap, fmt.Sprintf("%s started shard %d while %v worked on it", id, shard, c.working[shard]))
			}
			c.working[shard][id] = true
			c.mu.Unlock()
			<-ctx.Done()
			c.mu.Lock()
			delete(c.working[shard], id)
			c.mu.Unlock()
		}})
	}()
	return cancel, done
}

// holders returns, per candidate, the shards whose work it runs.
func (c *shardCluster) holders() map[string][]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string][]int{}
	for s := range c.shards {
		for id := range c.working[s] {
			out[id] = append(out[id], s)
		}
	}
	return out
}

// TestShardsSpreadAndMoveWhenAReplicaDies runs three candidates for six
// shards: each shard is worked on by exactly one, every candidate gets some,
// and when one stops renewing (killed, partitioned) its shards move to the
// others within LeaseDuration + (1.2 + shards − 1) × RetryPeriod, never
// while it still works on them.
func TestShardsSpreadAndMoveWhenAReplicaDies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const shards = 6
		c := &shardCluster{t: t, api: leadertest.New("token-a", "token-b", "token-c"), shards: shards, working: map[int]map[string]bool{}}
		for s := range shards {
			c.working[s] = map[string]bool{}
		}
		var dones []chan error
		for i, id := range []string{"a", "b", "c"} {
			if i > 0 {
				time.Sleep(500 * time.Millisecond)
			}
			_, done := c.start(id, Options{})
			dones = append(dones, done)
		}
		time.Sleep(20 * time.Second)
		synctest.Wait()
		h := c.holders()
		total := 0
		for _, id := range []string{"a", "b", "c"} {
			if len(h[id]) == 0 {
				t.Errorf("%s holds no shard: %v", id, h)
			}
			total += len(h[id])
		}
		if total != shards {
			t.Fatalf("%d shards worked on, want %d: %v", total, shards, h)
		}
		for s := range shards {
			l, ok := c.api.Lease(testNamespace, ShardLeaseName(testLease, s, shards))
			if !ok || !c.working[s][l.HolderIdentity] {
				t.Errorf("shard %d: lease holder %q, working %v", s, l.HolderIdentity, c.working[s])
			}
		}

		// a dies: its requests hang, so it renews no more.
		c.api.Partition("token-a", leadertest.Hang)
		killed := time.Now()
		bound := DefaultLeaseDuration + time.Duration((1.2+shards-1)*float64(DefaultRetryPeriod))
		for {
			h = c.holders()
			if len(h["a"]) == 0 && len(h["b"])+len(h["c"]) == shards {
				break
			}
			if time.Since(killed) > bound {
				t.Fatalf("%s after a stopped renewing, shards are %v; want all on b and c within %s", time.Since(killed), h, bound)
			}
			time.Sleep(100 * time.Millisecond)
		}
		c.mu.Lock()
		if len(c.overlap) > 0 {
			t.Errorf("overlapping work: %v", c.overlap)
		}
		c.mu.Unlock()
		for _, d := range dones[1:] {
			select {
			case err := <-d:
				t.Fatalf("RunShards returned %v", err)
			default:
			}
		}
	})
}

// TestOneShardIsTheSingleLease checks that one shard campaigns for the
// configured lease name, as leader election always did.
func TestOneShardIsTheSingleLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &shardCluster{t: t, api: leadertest.New("token-a"), shards: 1, working: map[int]map[string]bool{0: {}}}
		cancel, done := c.start("a", Options{})
		time.Sleep(time.Second)
		synctest.Wait()
		if l, ok := c.api.Lease(testNamespace, testLease); !ok || l.HolderIdentity != "a" {
			t.Errorf("lease %s: %+v (stored %v)", testLease, l, ok)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunShards = %v", err)
		}
	})
}

func TestRunShardsRefusesBadCounts(t *testing.T) {
	for _, n := range []int{0, -1, MaxShards + 1} {
		err := RunShards(context.Background(), Options{}, n, ShardCallbacks{OnStartedLeading: func(context.Context, int) {}})
		if err == nil {
			t.Errorf("%d shards accepted", n)
		}
	}
	if err := RunShards(context.Background(), Options{}, 2, ShardCallbacks{}); err == nil {
		t.Error("no OnStartedLeading accepted")
	}
	// Disabled: every shard's work runs here; one returning ends the rest.
	err := RunShards(context.Background(), Options{}, 3, ShardCallbacks{OnStartedLeading: func(ctx context.Context, shard int) {
		if shard != 1 {
			<-ctx.Done()
		}
	}})
	if !errors.Is(err, ErrWorkReturned) {
		t.Errorf("disabled, a work returned: %v", err)
	}
}
