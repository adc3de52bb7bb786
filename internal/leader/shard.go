package leader

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"
)

// MaxShards bounds the number of shards: each is a Lease renewed every
// RetryPeriod by its holder and polled by every other replica.
const MaxShards = 256

// ShardOf returns the shard, in [0, shards), that the source name belongs
// to. It uses rendezvous (highest random weight) hashing: every shard gets a
// score from a hash of the name and the shard number, and the highest score
// wins. The result depends on the name and the number of shards only, so a
// source keeps its shard when other sources are added or removed, and when
// the number of shards grows from n to n+1 only the sources that move to the
// new shard change (about 1/(n+1) of them).
func ShardOf(name string, shards int) int {
	if shards <= 1 {
		return 0
	}
	best, bestScore := 0, uint64(0)
	var idx [8]byte
	for i := range shards {
		h := fnv.New64a()
		_, _ = h.Write([]byte(name))
		binary.BigEndian.PutUint64(idx[:], uint64(i))
		_, _ = h.Write([]byte{0})
		_, _ = h.Write(idx[:])
		if s := mix64(h.Sum64()); i == 0 || s > bestScore {
			best, bestScore = i, s
		}
	}
	return best
}

// mix64 is the finalizer of SplitMix64: FNV-1a alone leaves the scores of
// names that differ in their last bytes too much alike.
func mix64(z uint64) uint64 {
	z ^= z >> 30
	z *= 0xbf58476d1ce4e5b9
	z ^= z >> 27
	z *= 0x94d049bb133111eb
	z ^= z >> 31
	return z
}

// ShardLeaseName returns the name of the Lease of shard i of shards: the
// configured name itself when there is a single shard (so that one shard is
// the single leader election it always was), else name-shard-i.
func ShardLeaseName(name string, i, shards int) string {
	if shards <= 1 {
		return name
	}
	return fmt.Sprintf("%s-shard-%d", name, i)
}

// ShardCallbacks are Callbacks with the shard they concern. Only
// OnStartedLeading is required.
type ShardCallbacks struct {
	// OnStartedLeading runs the work of shard while this process holds its
	// lease, with the contract of Callbacks.OnStartedLeading.
	OnStartedLeading func(ctx context.Context, shard int)
	// OnStoppedLeading is called after the work of a term of shard
	// returned.
	OnStoppedLeading func(shard int)
	// OnNewLeader is called with each newly observed holder of shard.
	OnNewLeader func(shard int, identity string)
	// OnLeaseLost is called when the lease of shard is lost while its work
	// still finishes after Run's context ended.
	OnLeaseLost func(shard int)
}

// RunShards campaigns for one lease per shard (named by ShardLeaseName) and
// runs cb.OnStartedLeading for each shard whose lease this process holds.
// Each lease follows the rules of Run: the work of a shard runs only while
// its lease is held and stops before the lease could be taken (RenewDeadline
// < LeaseDuration), so two processes never run the work of one shard at the
// same time within the lease guarantees.
//
// Shards spread over the replicas: a process holding k shards waits k ×
// RetryPeriod longer than one holding none before it tries to take a free or
// expired lease, so the replica with fewest shards takes it first. The lease
// of a replica that died is therefore taken between LeaseDuration and
// LeaseDuration + (1.2 + shards − 1) × RetryPeriod after its last renewal.
// Leases held are kept: shards do not move back to a replica that
// (re)starts until their holder stops or dies.
//
// With one shard RunShards is Run. It returns nil when ctx ends, or the
// first error of a shard (ErrWorkReturned when a work returned by itself),
// after the others stopped.
func RunShards(ctx context.Context, opts Options, shards int, cb ShardCallbacks) error {
	if cb.OnStartedLeading == nil {
		return errors.New("leader: ShardCallbacks.OnStartedLeading is required")
	}
	if shards < 1 || shards > MaxShards {
		return fmt.Errorf("leader: %d shards; want 1 to %d", shards, MaxShards)
	}
	if opts.Enabled {
		var err error
		if opts, err = opts.complete(); err != nil {
			return err
		}
		opts.gate = newShardGate(opts.RetryPeriod)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, shards)
	base := opts.Name
	for i := range shards {
		o := opts
		o.Name = ShardLeaseName(base, i, shards)
		if shards > 1 && o.Logger != nil {
			o.Logger = o.Logger.With("shard", i)
		}
		c := Callbacks{OnStartedLeading: func(ctx context.Context) { cb.OnStartedLeading(ctx, i) }}
		if cb.OnStoppedLeading != nil {
			c.OnStoppedLeading = func() { cb.OnStoppedLeading(i) }
		}
		if cb.OnNewLeader != nil {
			c.OnNewLeader = func(id string) { cb.OnNewLeader(i, id) }
		}
		if cb.OnLeaseLost != nil {
			c.OnLeaseLost = func() { cb.OnLeaseLost(i) }
		}
		go func() { errs <- Run(ctx, o, c) }()
	}
	var first error
	for range shards {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	return first
}

// shardGate is shared by the electors of one process's shards. It orders
// their attempts to take a lease: one at a time, and each only after the
// process waited RetryPeriod for every shard it holds.
type shardGate struct {
	step time.Duration
	turn chan struct{} // holds a token during an attempt

	mu   sync.Mutex
	held int // shards this process leads
}

func newShardGate(step time.Duration) *shardGate {
	return &shardGate{step: step, turn: make(chan struct{}, 1)}
}

func (g *shardGate) wait(since time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return time.Duration(g.held)*g.step - time.Since(since)
}

// attempt runs try once this process has waited held × step since since,
// and counts a lease taken. It reports false, false when ctx ended first.
func (g *shardGate) attempt(ctx context.Context, since time.Time, try func() bool) (ok, tried bool) {
	for {
		select {
		case <-ctx.Done():
			return false, false
		case g.turn <- struct{}{}:
		}
		if wait := g.wait(since); wait > 0 {
			<-g.turn
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return false, false
			case <-t.C:
			}
			continue
		}
		ok := try()
		if ok {
			g.mu.Lock()
			g.held++
			g.mu.Unlock()
		}
		<-g.turn
		return ok, true
	}
}

// done counts a term that ended.
func (g *shardGate) done() {
	g.mu.Lock()
	g.held--
	g.mu.Unlock()
}
