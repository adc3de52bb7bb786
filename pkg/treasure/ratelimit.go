package treasure

import (
	"context"
	"math"
	"sync"
	"time"
)

// bucket is a token bucket on an injectable clock that keeps a server
// enforcing rate tokens per second with burst stored from refusing any
// request this client sends:
//
//   - It starts empty: the server's bucket may have been spent a moment ago
//     (by an earlier process with the same key), so nothing is assumed.
//   - It keeps margin of the server's burst unused: a request reaches the
//     server some time after its token was taken here, and a later
//     request may take less time than an earlier one; the server then sees
//     the two closer together than they were sent. Up to margin of such
//     difference (latency jitter, scheduling, clock rate) is absorbed: the
//     bucket holds at most burst - rate*margin tokens. When that is below
//     one token, it holds one and the rate is lowered instead, so that two
//     requests are never closer than margin + (2-burst)/rate.
//   - A 429 empties it (drain): the server's bucket is empty, whatever this
//     one thought.
//
// Waiters queue: writes before reads, first come first served within each,
// so a run's writes do not wait behind reads queued before them.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	cap    float64
	tokens float64
	last   time.Time
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
	queue  []*waiter
}

type waiter struct {
	write bool
	wake  chan struct{}
}

// bucketShape returns the rate and capacity that keep margin of a server
// bucket of rate and burst unused.
func bucketShape(rate float64, burst int, margin time.Duration) (r, capacity float64) {
	m := max(margin.Seconds(), 0)
	capacity = float64(burst) - rate*m
	if capacity >= 1 {
		return rate, capacity
	}
	// One token, and consecutive requests margin + (2-burst)/rate apart.
	gap := m + (2-float64(burst))/rate
	return min(rate, 1/gap), 1
}

func newBucket(rate float64, burst int, margin time.Duration, now func() time.Time, sleep func(context.Context, time.Duration) error) *bucket {
	r, c := bucketShape(rate, burst, margin)
	return &bucket{rate: r, cap: c, now: now, sleep: sleep}
}

// refill adds the tokens earned since last; the caller holds mu.
func (b *bucket) refill() {
	now := b.now()
	if b.last.IsZero() {
		b.last = now
		return
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(b.tokens+el.Seconds()*b.rate, b.cap)
		b.last = now
	}
}

// enqueue inserts w behind the waiters of its class or higher; the caller
// holds mu.
func (b *bucket) enqueue(w *waiter) {
	i := len(b.queue)
	if w.write {
		for i > 0 && !b.queue[i-1].write {
			i--
		}
	}
	b.queue = append(b.queue, nil)
	copy(b.queue[i+1:], b.queue[i:])
	b.queue[i] = w
}

// leave removes w and wakes the new head; the caller holds mu.
func (b *bucket) leave(w *waiter) {
	for i, q := range b.queue {
		if q == w {
			b.queue = append(b.queue[:i], b.queue[i+1:]...)
			break
		}
	}
	if len(b.queue) > 0 {
		select {
		case b.queue[0].wake <- struct{}{}:
		default:
		}
	}
}

// wait takes one token, sleeping until one is available and every waiter
// ahead of this one (writes first when write is false) has had its token.
func (b *bucket) wait(ctx context.Context, write bool) error {
	if b == nil || b.rate <= 0 {
		return ctx.Err()
	}
	w := &waiter{write: write, wake: make(chan struct{}, 1)}
	b.mu.Lock()
	b.enqueue(w)
	for {
		if b.queue[0] != w {
			b.mu.Unlock()
			select {
			case <-w.wake:
			case <-ctx.Done():
				b.mu.Lock()
				b.leave(w)
				b.mu.Unlock()
				return ctx.Err()
			}
			b.mu.Lock()
			continue
		}
		b.refill()
		if b.tokens >= 1-1e-9 {
			b.tokens--
			b.leave(w)
			b.mu.Unlock()
			return ctx.Err()
		}
		d := time.Duration(math.Ceil((1 - b.tokens) / b.rate * float64(time.Second)))
		b.mu.Unlock()
		err := b.sleep(ctx, d)
		b.mu.Lock()
		if err != nil {
			b.leave(w)
			b.mu.Unlock()
			return err
		}
	}
}

// drain empties the bucket after the server refused a request for its rate.
func (b *bucket) drain() {
	if b == nil || b.rate <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill()
	b.tokens = min(b.tokens, 0)
}
