package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Default timings, the values Kubernetes' own controllers use. A new leader
// takes over at most about LeaseDuration after the old one stopped renewing.
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

	// Client talks to the Kubernetes API. When nil and Enabled, Run builds
	// one from the in-cluster configuration (service account token).
	Client kubernetes.Interface

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
}

// Callbacks are invoked as leadership changes. Only OnStartedLeading is
// required.
type Callbacks struct {
	// OnStartedLeading runs the work while this process leads. Its context
	// is cancelled when leadership is lost or Run's context ends; it must
	// return promptly then. Run does not campaign again (and does not
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
	// goroutine.
	OnNewLeader func(identity string)
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
	for {
		returned, err := term(ctx, opts, cb, log)
		if err != nil {
			return err
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

// term runs one campaign: acquire, lead until the lease is lost or ctx ends,
// release. It reports whether the work returned on its own.
func term(ctx context.Context, opts Options, cb Callbacks, log *slog.Logger) (workReturned bool, err error) {
	lock := &trackedLock{Interface: &resourcelock.LeaseLock{
		LeaseMeta:  metaFor(opts),
		Client:     opts.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: opts.Identity},
	}}

	// The elector runs on its own context so that the lease is released
	// only after the work has returned, never while it may still write.
	electCtx, stopElect := context.WithCancel(context.WithoutCancel(ctx))
	defer stopElect()

	var (
		mu       sync.Mutex
		started  bool // the work is running or has run
		returned bool // the work returned while still leading
		workDone = make(chan struct{})
	)
	stopOnParent := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !started {
			stopElect()
		}
		// Otherwise the work's context ends too, and when the work has
		// returned the elector is stopped, releasing the lease.
	})
	defer stopOnParent()

	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   opts.LeaseDuration,
		RenewDeadline:   opts.RenewDeadline,
		RetryPeriod:     opts.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            opts.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leCtx context.Context) {
				defer close(workDone)
				mu.Lock()
				if ctx.Err() != nil {
					mu.Unlock()
					stopElect()
					return
				}
				started = true
				mu.Unlock()
				workCtx, cancel := context.WithCancel(leCtx)
				defer cancel()
				stop := context.AfterFunc(ctx, cancel)
				defer stop()
				log.Info("started leading")
				cb.OnStartedLeading(workCtx)
				if leCtx.Err() == nil && ctx.Err() == nil {
					mu.Lock()
					returned = true
					mu.Unlock()
				}
				// Whatever ended the work, this term is over: release.
				stopElect()
			},
			OnStoppedLeading: func() {},
			OnNewLeader: func(id string) {
				log.Info("leader observed", "leader", id)
				if cb.OnNewLeader != nil {
					cb.OnNewLeader(id)
				}
			},
		},
	})
	if err != nil {
		return false, fmt.Errorf("leader: %w", err)
	}
	le.Run(electCtx)

	// The elector starts the work in its own goroutine once it has written
	// the lease, and may return before that goroutine ran: wait for it.
	if !lock.acquired.Load() {
		return false, nil
	}
	<-workDone
	mu.Lock()
	s := started
	mu.Unlock()
	if !s {
		return false, nil
	}
	// le.Run has returned: either the renewal failed (the lease is lost)
	// or electCtx ended after the work returned and the lease was released.
	log.Info("stopped leading")
	if cb.OnStoppedLeading != nil {
		cb.OnStoppedLeading()
	}
	mu.Lock()
	defer mu.Unlock()
	return returned, nil
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
		o.Namespace = DefaultNamespace()
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
	if o.LeaseDuration < time.Second {
		return o, fmt.Errorf("leader: lease duration %s is shorter than one second", o.LeaseDuration)
	}
	if o.LeaseDuration <= o.RenewDeadline {
		return o, fmt.Errorf("leader: lease duration %s must exceed renew deadline %s", o.LeaseDuration, o.RenewDeadline)
	}
	if float64(o.RenewDeadline) <= leaderelection.JitterFactor*float64(o.RetryPeriod) {
		return o, fmt.Errorf("leader: renew deadline %s must exceed %.1f × retry period %s",
			o.RenewDeadline, leaderelection.JitterFactor, o.RetryPeriod)
	}
	if o.Client == nil {
		c, err := InClusterClient()
		if err != nil {
			return o, err
		}
		o.Client = c
	}
	return o, nil
}

// InClusterClient builds a Kubernetes client from the pod's service account.
func InClusterClient() (kubernetes.Interface, error) {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("leader: in-cluster config: %w", err)
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("leader: kubernetes client: %w", err)
	}
	return c, nil
}
