package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Default timings, the values Kubernetes' own controllers use. A new leader
// takes over at most LeaseDuration plus 1.2 × RetryPeriod (17.4 s) after
// the last renewal of an old one that died.
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// Options configure leader election.
type Options struct {
	// Enabled switches election on. When false, Run calls
	// Callbacks.OnStartedLeading at once and this process acts as leader.
	Enabled bool

	// Client reads and writes the Lease. When nil and Enabled, Run uses
	// InClusterClient (the pod's service account).
	Client LeaseClient

	// ServiceAccountDir is where the in-cluster client reads the service
	// account's token, ca.crt and namespace; empty means where Kubernetes
	// mounts them (/var/run/secrets/kubernetes.io/serviceaccount).
	ServiceAccountDir string

	// Namespace and Name identify the Lease object; both are required when
	// Enabled. Namespace defaults to the pod's namespace when running in a
	// cluster (POD_NAMESPACE or the service account's namespace file).
	Namespace string
	Name      string

	// Identity names this candidate in the Lease; it must differ between
	// replicas. Empty means DefaultIdentity().
	Identity string

	// LeaseDuration is how long followers wait after the last renewal
	// before taking over; RenewDeadline is how long the leader keeps
	// retrying a failed renewal before it gives up leading; RetryPeriod
	// is the interval between attempts. Zero values take the defaults.
	// LeaseDuration must exceed RenewDeadline, which must exceed
	// 1.2 × RetryPeriod. LeaseDuration is stored in whole seconds.
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration

	// Logger receives leadership transitions. Nil discards them.
	Logger *slog.Logger

	// gate orders the attempts of the shards of one process (RunShards).
	gate *shardGate
}

// Callbacks are invoked as leadership changes. Only OnStartedLeading is
// required.
type Callbacks struct {
	// OnStartedLeading runs the work while this process leads. Its context
	// is cancelled when leadership is lost or Run's context ends. After a
	// loss it must return promptly: another replica takes over once the
	// lease expires. When Run's context ends it may take its time to finish
	// what is in flight: the lease is renewed until it returns (as long as
	// the API accepts renewals). Run does not campaign again (and does not
	// release the lease) until it has returned, so two replicas never run
	// the work at the same time within the lease guarantees. If it returns
	// on its own, the lease is released and Run returns.
	OnStartedLeading func(ctx context.Context)

	// OnStoppedLeading is called after the work of a term has returned
	// because leadership was lost or Run is stopping. It is called only
	// after OnStartedLeading ran.
	OnStoppedLeading func()

	// OnNewLeader is called with the identity of each newly observed
	// leader, including this process's own. It is called from a separate
	// goroutine; calls keep their order, and one overtaken by a newer leader
	// before it ran is skipped.
	OnNewLeader func(identity string)

	// OnLeaseLost, when set, is called if the lease is lost while the work
	// is still finishing after Run's context ended (renewals failed for
	// RenewDeadline during a shutdown): the work's context is already
	// cancelled, and it must now stop at once, as another replica may take
	// over when the lease expires.
	OnLeaseLost func()
}

// ErrWorkReturned is returned by Run when the work returned while this
// process still led (the lease has been released).
var ErrWorkReturned = errors.New("leader: work returned while leading")

// Run campaigns for the lease and runs cb.OnStartedLeading while holding it.
// When leadership is lost it waits for the work to return and campaigns
// again. It returns nil when ctx ends (after releasing a held lease),
// ErrWorkReturned when the work stopped by itself, or an error for invalid
// options.
func Run(ctx context.Context, opts Options, cb Callbacks) error {
	if cb.OnStartedLeading == nil {
		return errors.New("leader: Callbacks.OnStartedLeading is required")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if !opts.Enabled {
		if cb.OnNewLeader != nil {
			cb.OnNewLeader(opts.identity())
		}
		cb.OnStartedLeading(ctx)
		if cb.OnStoppedLeading != nil {
			cb.OnStoppedLeading()
		}
		if ctx.Err() != nil {
			return nil
		}
		return ErrWorkReturned
	}
	opts, err := opts.complete()
	if err != nil {
		return err
	}
	log = log.With("lease", opts.Namespace+"/"+opts.Name, "identity", opts.Identity)
	e := newElector(opts, log, cb.OnNewLeader)
	for {
		if !e.acquire(ctx) {
			return nil
		}
		if ctx.Err() != nil {
			e.release(ctx)
			e.termEnded()
			return nil
		}
		returned := e.lead(ctx, cb.OnStartedLeading, cb.OnLeaseLost)
		// The work has returned: only now may another replica take over.
		e.release(ctx)
		e.termEnded()
		log.Info("stopped leading")
		if cb.OnStoppedLeading != nil {
			cb.OnStoppedLeading()
		}
		if ctx.Err() != nil {
			return nil
		}
		if returned {
			return ErrWorkReturned
		}
		log.Warn("leadership lost; campaigning again")
	}
}

func (o Options) identity() string {
	if o.Identity != "" {
		return o.Identity
	}
	return DefaultIdentity()
}

// complete fills defaults and checks an enabled configuration.
func (o Options) complete() (Options, error) {
	o.Identity = o.identity()
	if o.Namespace == "" {
		o.Namespace = DefaultNamespaceIn(o.ServiceAccountDir)
	}
	if o.Namespace == "" {
		return o, errors.New("leader: Options.Namespace is required (not running in a pod)")
	}
	if o.Name == "" {
		return o, errors.New("leader: Options.Name is required")
	}
	if o.LeaseDuration == 0 {
		o.LeaseDuration = DefaultLeaseDuration
	}
	if o.RenewDeadline == 0 {
		o.RenewDeadline = DefaultRenewDeadline
	}
	if o.RetryPeriod == 0 {
		o.RetryPeriod = DefaultRetryPeriod
	}
	if o.RetryPeriod < 0 {
		return o, fmt.Errorf("leader: retry period %s is negative", o.RetryPeriod)
	}
	if o.LeaseDuration < time.Second {
		return o, fmt.Errorf("leader: lease duration %s is shorter than one second", o.LeaseDuration)
	}
	if o.LeaseDuration <= o.RenewDeadline {
		return o, fmt.Errorf("leader: lease duration %s must exceed renew deadline %s", o.LeaseDuration, o.RenewDeadline)
	}
	if float64(o.RenewDeadline) <= maxWaitFactor*float64(o.RetryPeriod) {
		return o, fmt.Errorf("leader: renew deadline %s must exceed %.1f × retry period %s",
			o.RenewDeadline, maxWaitFactor, o.RetryPeriod)
	}
	if o.Client == nil {
		c, err := InClusterClientFrom(o.ServiceAccountDir)
		if err != nil {
			return o, err
		}
		o.Client = c
	}
	return o, nil
}
