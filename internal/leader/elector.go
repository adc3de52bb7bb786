package leader

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// A follower waits between maxWaitFactor-jitter and maxWaitFactor ×
// RetryPeriod between attempts, so that candidates do not poll in
// lockstep. The longest wait bounds how late a follower sees the last
// renewal of a leader that died, and so how long after LeaseDuration it
// takes over.
const (
	jitter        = 0.2
	maxWaitFactor = 1 + jitter
)

// elector campaigns for one lease on behalf of one candidate. It is used by
// a single goroutine.
//
// Expiry is judged by the local clock only: a lease held by another
// candidate expires LeaseDurationSeconds after this candidate last saw its
// spec change, whatever the timestamps in it say, so clock skew between
// replicas does not matter.
type elector struct {
	client        LeaseClient
	namespace     string
	name          string
	id            string
	leaseDuration time.Duration
	renewDeadline time.Duration
	retryPeriod   time.Duration
	log           *slog.Logger
	onNewLeader   func(string)
	gate          *shardGate // nil unless one of several shards

	observed   *Lease    // the lease as last read or written; nil before
	observedAt time.Time // when observed's spec last changed
	renewed    time.Time // start of the last successful write by this candidate
	reported   string    // the holder last reported to onNewLeader

	// Callbacks run on their own goroutines; a sequence number keeps them in
	// order: one overtaken by a later one is skipped.
	newLeaderSeq uint64     // last sequence number given out (elector goroutine only)
	cbMu         sync.Mutex // serializes callbacks and guards delivered
	delivered    uint64     // sequence number of the last callback run
}

func newElector(o Options, log *slog.Logger, onNewLeader func(string)) *elector {
	return &elector{
		client:        o.Client,
		namespace:     o.Namespace,
		name:          o.Name,
		id:            o.Identity,
		leaseDuration: o.LeaseDuration,
		renewDeadline: o.RenewDeadline,
		retryPeriod:   o.RetryPeriod,
		log:           log,
		onNewLeader:   onNewLeader,
		gate:          o.gate,
	}
}

// holds reports whether the lease as last observed names this candidate.
func (e *elector) holds() bool {
	return e.observed != nil && e.observed.Spec.HolderIdentity == e.id
}

// expired reports whether the observed lease has gone unchanged for its
// duration.
func (e *elector) expired(now time.Time) bool {
	d := time.Duration(e.observed.Spec.LeaseDurationSeconds) * time.Second
	return !now.Before(e.observedAt.Add(d))
}

// observe records the lease as read or written at now.
func (e *elector) observe(l *Lease, now time.Time) {
	if e.observed == nil || !e.observed.Spec.equal(l.Spec) {
		e.observedAt = now
	}
	e.observed = l
	h := l.Spec.HolderIdentity
	if h == e.reported {
		return
	}
	e.reported = h
	if h == "" {
		return
	}
	e.log.Info("leader observed", "leader", h)
	if e.onNewLeader != nil {
		e.newLeaderSeq++
		seq := e.newLeaderSeq
		go func() {
			e.cbMu.Lock()
			defer e.cbMu.Unlock()
			if seq <= e.delivered {
				return // a later leader was reported already
			}
			e.delivered = seq
			e.onNewLeader(h)
		}()
	}
}

// tryAcquireOrRenew writes the lease with this candidate as holder if it
// may: the lease does not exist, is released, has expired, or is already
// this candidate's. It reports whether the write succeeded; err explains a
// failed request (nil when the lease is simply held by another).
func (e *elector) tryAcquireOrRenew(ctx context.Context) (bool, error) {
	now := time.Now()
	want := LeaseSpec{
		HolderIdentity:       e.id,
		LeaseDurationSeconds: leaseSeconds(e.leaseDuration),
		AcquireTime:          MicroTime{now},
		RenewTime:            MicroTime{now},
	}

	// A leader whose lease is still valid writes the version it knows
	// without reading first; a conflict sends it down the full path.
	if e.holds() && !e.expired(now) {
		l := *e.observed
		want.AcquireTime, want.LeaseTransitions = l.Spec.AcquireTime, l.Spec.LeaseTransitions
		l.Spec = want
		got, err := e.client.Update(ctx, &l)
		if err == nil {
			e.wrote(got, now)
			return true, nil
		}
		if ctx.Err() != nil || !errors.Is(err, ErrConflict) {
			return false, err
		}
		want.AcquireTime = MicroTime{now}
	}

	cur, err := e.client.Get(ctx, e.namespace, e.name)
	if errors.Is(err, ErrNotFound) {
		got, err := e.client.Create(ctx, &Lease{
			Metadata: ObjectMeta{Namespace: e.namespace, Name: e.name},
			Spec:     want,
		})
		if err != nil {
			return false, err
		}
		e.wrote(got, now)
		return true, nil
	}
	if err != nil {
		return false, err
	}
	// What a read returns is dated when the answer came: a renewal that
	// landed while the request was in flight must not look older than it
	// is, or this candidate would judge it expired early.
	seen := time.Now()
	e.observe(cur, seen)
	holder := cur.Spec.HolderIdentity
	if holder != "" && holder != e.id && !e.expired(seen) {
		return false, nil
	}
	if holder == e.id {
		want.AcquireTime, want.LeaseTransitions = cur.Spec.AcquireTime, cur.Spec.LeaseTransitions
	} else {
		want.LeaseTransitions = cur.Spec.LeaseTransitions + 1
	}
	l := *cur
	l.Spec = want
	got, err := e.client.Update(ctx, &l)
	if err != nil {
		return false, err
	}
	e.wrote(got, now)
	return true, nil
}

// termEnded tells the shard gate that a term of this lease ended.
func (e *elector) termEnded() {
	if e.gate != nil {
		e.gate.done()
	}
}

// wrote records a successful write of the lease started at now.
func (e *elector) wrote(l *Lease, now time.Time) {
	e.observe(l, now)
	e.renewed = now
}

// acquire tries to take the lease every RetryPeriod (with jitter) until it
// succeeds, and reports whether it did; false means ctx ended.
func (e *elector) acquire(ctx context.Context) bool {
	e.log.Info("campaigning for the lease")
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		var ok bool
		var err error
		try := func() bool {
			actx, cancel := context.WithTimeout(ctx, e.renewDeadline)
			ok, err = e.tryAcquireOrRenew(actx)
			cancel()
			return ok
		}
		if e.gate == nil {
			try()
		} else if _, tried := e.gate.attempt(ctx, time.Now(), try); !tried {
			return false
		}
		if ok {
			return true
		}
		if err != nil && ctx.Err() == nil {
			if errors.Is(err, ErrConflict) || errors.Is(err, ErrAlreadyExists) {
				e.log.Debug("another candidate wrote the lease first", "err", err)
			} else {
				e.log.Warn("lease attempt failed", "err", err)
			}
		}
		wait := e.retryPeriod + time.Duration(rand.Float64()*jitter*float64(e.retryPeriod))
		if err == nil {
			wait = e.untilExpiry(time.Now(), wait)
		}
		t.Reset(wait)
	}
}

// untilExpiry shortens wait to end when the lease held by another, as last
// observed, expires: the attempt then comes as soon as the lease may be
// taken, not up to a whole wait later.
func (e *elector) untilExpiry(now time.Time, wait time.Duration) time.Duration {
	if e.observed == nil || e.holds() || e.observed.Spec.HolderIdentity == "" {
		return wait
	}
	d := time.Duration(e.observed.Spec.LeaseDurationSeconds) * time.Second
	return max(0, min(wait, e.observedAt.Add(d).Sub(now)))
}

// lead runs work while renewing the lease every RetryPeriod. It returns
// when the work returned on its own (returned is true), when ctx ended, or
// when the lease could not be renewed within RenewDeadline of the last
// successful write or was seen held by another candidate. In the last three
// cases it cancels the work and waits for it to return. While it waits after
// ctx ended (a shutdown: the work may take a while to finish what is in
// flight), it goes on renewing, so that no other candidate takes over while
// the work still runs; it stops renewing only when renewal fails for
// RenewDeadline, as when leading.
func (e *elector) lead(ctx context.Context, work func(context.Context), onLost func()) (returned bool) {
	workCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		work(workCtx)
	}()
	e.log.Info("started leading")

	// Renewals outlive ctx: they go on while the work drains.
	renewCtx := context.WithoutCancel(ctx)
	ctxDone := ctx.Done()
	stopping := false
	lost := func() bool {
		cancel()
		if stopping && onLost != nil {
			onLost()
		}
		<-done
		return false
	}
	t := time.NewTimer(e.retryPeriod)
	defer t.Stop()
	for {
		select {
		case <-done:
			return !stopping && ctx.Err() == nil
		case <-ctxDone:
			e.log.Info("stopping: the lease is kept until the work returns")
			stopping, ctxDone = true, nil
			cancel()
			continue
		case <-t.C:
		}
		deadline := e.renewed.Add(e.renewDeadline)
		rctx, rcancel := context.WithDeadline(renewCtx, deadline)
		ok, err := e.tryAcquireOrRenew(rctx)
		rcancel()
		switch {
		case ok:
			t.Reset(e.retryPeriod)
			continue
		case !e.holds():
			e.log.Warn("lease taken by another candidate", "holder", e.observed.Spec.HolderIdentity)
			return lost()
		}
		left := time.Until(deadline)
		if left <= 0 {
			e.log.Warn("lease not renewed within the renew deadline", "deadline", e.renewDeadline, "err", err)
			return lost()
		}
		e.log.Warn("lease renewal failed; retrying", "err", err)
		t.Reset(min(e.retryPeriod, left))
	}
}

// leaseSeconds is d in whole seconds, rounded up: the Lease stores seconds,
// and a shorter stored duration than the configured one would let others
// take over before the leader's renew deadline has passed.
func leaseSeconds(d time.Duration) int32 {
	return int32((d + time.Second - 1) / time.Second)
}

// release clears the holder of a lease this candidate holds, keeping its
// duration and transition count, so that another candidate can take over at
// once instead of waiting for it to expire. It is called only after the work
// returned. Failures are logged: the lease then expires on its own.
func (e *elector) release(ctx context.Context) {
	if !e.holds() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.renewDeadline)
	defer cancel()
	// A conflict means the lease changed since it was read: read it again.
	for range 3 {
		cur, err := e.client.Get(ctx, e.namespace, e.name)
		if err != nil {
			e.log.Warn("could not release the lease; it expires on its own", "err", err)
			return
		}
		now := time.Now()
		e.observe(cur, now)
		if cur.Spec.HolderIdentity != e.id {
			return
		}
		l := *cur
		l.Spec = LeaseSpec{
			LeaseDurationSeconds: cur.Spec.LeaseDurationSeconds,
			LeaseTransitions:     cur.Spec.LeaseTransitions,
			AcquireTime:          MicroTime{now},
			RenewTime:            MicroTime{now},
		}
		got, err := e.client.Update(ctx, &l)
		if err == nil {
			e.observe(got, now)
			e.log.Info("released the lease")
			return
		}
		if !errors.Is(err, ErrConflict) {
			e.log.Warn("could not release the lease; it expires on its own", "err", err)
			return
		}
	}
	e.log.Warn("could not release the lease after repeated conflicts; it expires on its own")
}
