package treasure

import (
	"context"
	"sync"
	"time"
)

// bucket is a token bucket on an injectable clock: rate tokens per second,
// at most burst stored. Waiters reserve a token (possibly in the future) and
// sleep until it is due, so the order of requests is kept.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
}

func newBucket(rate float64, burst int, now func() time.Time, sleep func(context.Context, time.Duration) error) *bucket {
	return &bucket{rate: rate, burst: float64(burst), tokens: float64(burst), now: now, sleep: sleep}
}

// wait takes one token, sleeping until one is available.
func (b *bucket) wait(ctx context.Context) error {
	if b == nil || b.rate <= 0 {
		return ctx.Err()
	}
	b.mu.Lock()
	now := b.now()
	if b.last.IsZero() {
		b.last = now
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens += el.Seconds() * b.rate
		if b.tokens > b.burst {
			b.tokens = b.burst
		}
		b.last = now
	}
	b.tokens--
	var d time.Duration
	if b.tokens < 0 {
		d = time.Duration(-b.tokens / b.rate * float64(time.Second))
	}
	b.mu.Unlock()
	if d == 0 {
		return ctx.Err()
	}
	if err := b.sleep(ctx, d); err != nil {
		// Give the token back: the request will not be sent.
		b.mu.Lock()
		b.tokens++
		b.mu.Unlock()
		return err
	}
	return nil
}
