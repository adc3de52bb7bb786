package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"github.com/cas-reconciler/reconciler/internal/apply"
	"github.com/cas-reconciler/reconciler/internal/config"
	"github.com/cas-reconciler/reconciler/internal/leader"
	"github.com/cas-reconciler/reconciler/internal/metrics"
	"github.com/cas-reconciler/reconciler/internal/schedule"
	"github.com/cas-reconciler/reconciler/internal/version"
	"github.com/cas-reconciler/reconciler/internal/webhook"
	"github.com/cas-reconciler/reconciler/internal/wiring"
)

// DefaultShutdownTimeout is how long a run in flight may go on after the
// daemon was asked to stop.
const DefaultShutdownTimeout = 30 * time.Second

// Options configure a Daemon.
type Options struct {
	// Config is the loaded configuration. Required.
	Config *config.Config

	// Injected dependencies.

	// Clients are the configuration's clients, built by wiring.Build with
	// Metrics as their recorder. Required. The daemon owns them from New
	// on: it closes them when Run returns or New fails.
	Clients *wiring.Clients
	// Metrics records the daemon's metrics (metrics.New on the registry
	// that Gatherer serves). Required.
	Metrics *metrics.Recorder
	// Gatherer serves /metrics. Required.
	Gatherer prometheus.Gatherer
	// Logger receives every log line; discarded when nil. Build it with
	// package logging so that secrets are masked.
	Logger *slog.Logger
	// Listener serves HTTP; when nil New listens on Config.Listen.
	Listener net.Listener
	// Now is the clock for timestamps and freeze windows; time.Now when nil.
	// The scheduler always uses the time package (fake in synctest).
	Now func() time.Time
	// LeaseClient is used for leader election instead of the in-cluster
	// client.
	LeaseClient leader.LeaseClient
	// LeaderIdentity names this replica in the Lease; leader.DefaultIdentity
	// when empty.
	LeaderIdentity string

	// ShutdownTimeout bounds how long a run in flight may go on after the
	// context ended (DefaultShutdownTimeout when zero); after it the run is
	// stopped between two changes.
	ShutdownTimeout time.Duration
	// BackoffBase and BackoffMax bound retries of failed and waiting runs
	// (the scheduler's defaults when zero). A waiting run with a
	// Retry-After is retried no earlier than that, up to BackoffMax.
	BackoffBase, BackoffMax time.Duration
}

// Daemon runs the reconciler. Create it with New, then call Run once.
type Daemon struct {
	opts    Options
	cfg     *config.Config
	log     *slog.Logger
	rec     *metrics.Recorder
	clients *wiring.Clients
	sources []*sourceState
	byName  map[string]*sourceState
	freeze  []freezeWindow
	hook    http.Handler
	ln      net.Listener
	srv     *http.Server
	now     func() time.Time

	// cleanups run in reverse order when Run returns or New fails.
	cleanups []func() error

	// shards is the number of shards (leaderElection.shards, at least 1).
	shards int

	mu sync.Mutex
	// sched holds the scheduler of each shard this replica leads.
	sched map[int]*schedule.Scheduler
	// loseLease ends the shutdown grace of a shard's term (lease lost).
	loseLease map[int]context.CancelFunc
	// holder is the last observed holder of each shard's lease.
	holder []string

	// suspendPath is the file that keeps the suspensions made through
	// the API ("" without cacheDir); suspendMu serializes its updates.
	suspendPath string
	suspendMu   sync.Mutex

	// leading counts the shards this replica leads.
	leading  atomic.Int32
	draining atomic.Bool
	ran      atomic.Bool
}

type freezeWindow struct {
	name  string
	sched cron.Schedule
	dur   time.Duration
}

// New validates opts, takes over the clients and listens for HTTP. It does
// no other network I/O.
func New(opts Options) (_ *Daemon, err error) {
	if opts.Clients != nil {
		defer func() {
			if err != nil && opts.Clients != nil {
				_ = opts.Clients.Close()
			}
		}()
	}
	if opts.Config == nil {
		return nil, errors.New("daemon: Options.Config is required")
	}
	if opts.Config.Unresolved != 0 {
		return nil, errors.New("daemon: the configuration was loaded without all of its secrets (config.Load reads them all)")
	}
	if opts.Clients == nil {
		return nil, errors.New("daemon: Options.Clients is required (wiring.Build)")
	}
	if opts.Metrics == nil || opts.Gatherer == nil {
		return nil, errors.New("daemon: Options.Metrics and Options.Gatherer are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	cfg := opts.Config
	d := &Daemon{opts: opts, cfg: cfg, log: opts.Logger, now: opts.Now, byName: map[string]*sourceState{},
		shards: max(1, cfg.LeaderElection.Shards), sched: map[int]*schedule.Scheduler{}, loseLease: map[int]context.CancelFunc{}}
	d.holder = make([]string, d.shards)
	defer func() {
		if err != nil {
			d.cleanup()
		}
	}()

	d.rec = opts.Metrics
	d.rec.SetBuildInfo(version.Version, version.Commit)
	d.rec.AddShards(d.shards)

	loc := cfg.Location
	if loc == nil {
		loc = time.UTC
	}
	for _, w := range cfg.FreezeWindows {
		s, err := schedule.ParseSpec(w.Start, loc)
		if err != nil {
			return nil, fmt.Errorf("daemon: freeze window %q: %w", w.Name, err)
		}
		d.freeze = append(d.freeze, freezeWindow{name: w.Name, sched: s, dur: w.Duration.D()})
	}

	d.clients = opts.Clients
	opts.Clients = nil // closed by d.cleanup from here on
	d.cleanups = append(d.cleanups, d.clients.Close)

	var hookSources []webhook.Source
	for _, s := range d.clients.Sources {
		st := &sourceState{src: s, name: s.Name, suspended: s.Config.Suspend, fetch: s.Snapshot, latest: s.Repo.LatestRevision,
			shard: leader.ShardOf(s.Name, d.shards)}
		st.status.Name = s.Name
		st.status.Shard = st.shard
		st.status.URL = s.Repo.URL()
		st.status.Branch = s.Repo.Branch()
		st.status.Path = s.Config.Path
		st.status.Suspended = st.suspended
		d.sources = append(d.sources, st)
		d.byName[s.Name] = st
		d.rec.AddSource(s.Name)
		d.rec.SetState(s.Name, false, st.suspended, false)
		s.Reconciler.Apply.OnChange = d.onChange(st)
		hookSources = append(hookSources, webhook.Source{Name: s.Name, URL: s.Config.URL, Branch: s.Config.Branch})
	}
	if err := d.loadSuspensions(); err != nil {
		return nil, err
	}

	wh := cfg.Webhooks
	if wh.GitHub == nil && wh.GitLab == nil && wh.Generic == nil {
		d.hook = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			d.rec.WebhookDelivery("unknown", string(webhook.Unauthorized))
			writeError(w, http.StatusNotFound, "webhooks are not configured")
		})
	} else if d.hook, err = webhook.New(webhook.Options{
		Sources:       hookSources,
		GitHubSecret:  secretBytes(wh.GitHub),
		GitLabToken:   secretBytes(wh.GitLab),
		GenericSecret: secretBytes(wh.Generic),
		MaxBodyBytes:  wh.MaxBodyBytes,
		Trigger:       d.trigger,
		Observe: func(del webhook.Delivery) {
			d.rec.WebhookDelivery(del.Provider, string(del.Result))
			if del.Result == webhook.Accepted {
				d.log.Info("webhook accepted", "provider", del.Provider, "event", del.Event, "triggered", del.Triggered)
			}
		},
		Logger: d.log.With("component", "webhook"),
	}); err != nil {
		return nil, fmt.Errorf("daemon: webhooks: %w", err)
	}

	d.ln = opts.Listener
	if d.ln == nil {
		d.ln, err = net.Listen("tcp", cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("daemon: listen: %w", err)
		}
	}
	d.cleanups = append(d.cleanups, func() error {
		err := d.ln.Close()
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		return err
	})
	d.srv = &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second}
	return d, nil
}

func secretBytes(s *config.Secret) []byte {
	if v := s.Value(); v != "" {
		return []byte(v)
	}
	return nil
}

// Addr returns the address the HTTP server listens on.
func (d *Daemon) Addr() string { return d.ln.Addr().String() }

// Clients returns the wired clients.
func (d *Daemon) Clients() *wiring.Clients { return d.clients }

func (d *Daemon) cleanup() error {
	var errs []error
	for i := len(d.cleanups) - 1; i >= 0; i-- {
		errs = append(errs, d.cleanups[i]())
	}
	d.cleanups = nil
	return errors.Join(errs...)
}

// Run serves HTTP and, while this replica leads, runs the scheduler, until
// ctx ends. Then it refuses new triggers, lets the run in flight finish
// (stopping it between two changes after ShutdownTimeout), shuts the HTTP
// server down, releases the clients and returns nil. Run may be called once.
func (d *Daemon) Run(ctx context.Context) error {
	if d.ran.Swap(true) {
		return errors.New("daemon: Run called twice")
	}
	defer d.cleanup()

	serveErr := make(chan error, 1)
	go func() {
		err := d.srv.Serve(d.ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		serveErr <- err
	}()
	d.log.Info("daemon started", "addr", d.Addr(), "sources", len(d.sources), "version", version.Version,
		"leader_election", d.cfg.LeaderElection.Enabled, "shards", d.shards)

	le := d.cfg.LeaderElection
	lopts := leader.Options{
		Enabled:           le.Enabled,
		Client:            d.opts.LeaseClient,
		ServiceAccountDir: le.ServiceAccountDir,
		Identity:          d.opts.LeaderIdentity,
		Namespace:         le.Namespace,
		Name:              le.LeaseName,
		LeaseDuration:     le.LeaseDuration.D(),
		RenewDeadline:     le.RenewDeadline.D(),
		RetryPeriod:       le.RetryPeriod.D(),
		Logger:            d.log.With("component", "leader"),
	}
	if lopts.Enabled && lopts.Namespace == "" {
		lopts.Namespace = leader.DefaultNamespaceIn(le.ServiceAccountDir)
	}
	d.rec.SetLeader(false)
	// The election ends when ctx ends or the HTTP server fails.
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	leadErr := make(chan error, 1)
	go func() {
		leadErr <- leader.RunShards(runCtx, lopts, d.shards, leader.ShardCallbacks{
			OnStartedLeading: func(lctx context.Context, shard int) { d.lead(runCtx, lctx, shard) },
			OnLeaseLost:      d.leaseLost,
			OnNewLeader:      d.newHolder,
		})
	}()

	var err, lerr error
	leaderDone := false
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		if err != nil {
			err = fmt.Errorf("daemon: http: %w", err)
		}
	case lerr = <-leadErr:
		leaderDone = true
	}
	d.draining.Store(true)
	d.log.Info("daemon stopping")
	stop()
	if !leaderDone {
		lerr = <-leadErr
	}
	if lerr != nil && !errors.Is(lerr, leader.ErrWorkReturned) && err == nil {
		err = fmt.Errorf("daemon: leader election: %w", lerr)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if serr := d.srv.Shutdown(sctx); serr != nil && err == nil {
		err = fmt.Errorf("daemon: http shutdown: %w", serr)
	}
	d.log.Info("daemon stopped")
	return err
}

// lead runs the scheduler of one shard's sources for one term of its
// lease. ctx is the daemon's context, lctx the term's.
func (d *Daemon) lead(ctx, lctx context.Context, shard int) {
	log := d.log
	if d.shards > 1 {
		log = log.With("shard", shard)
	}
	d.rec.SetShardHeld(shard, true)
	d.rec.SetLeader(d.leading.Add(1) > 0)
	var names []string
	for _, st := range d.sources {
		if st.shard == shard {
			names = append(names, st.name)
		}
	}
	log.Info("leading: starting the scheduler", "sources", names)
	// A lease lost during the shutdown grace ends the grace at once.
	lost, loseLease := context.WithCancel(context.Background())
	defer loseLease()
	d.mu.Lock()
	d.loseLease[shard] = loseLease
	d.mu.Unlock()
	var jitter time.Duration
	for _, st := range d.sources {
		if st.shard == shard {
			jitter = max(jitter, st.src.Config.Jitter.D())
		}
	}
	s := schedule.New(schedule.Options{
		Location:    d.cfg.Location,
		Jitter:      jitter,
		BackoffBase: d.opts.BackoffBase,
		BackoffMax:  d.opts.BackoffMax,
		Logger:      log.With("component", "schedule"),
		OnResult:    d.onResult,
	})
	for _, st := range d.sources {
		if st.shard != shard {
			continue
		}
		err := s.Add(schedule.Job{
			Name:    st.name,
			Spec:    st.src.Config.Schedule,
			Run:     func(ctx context.Context, run schedule.Run) error { return d.runSource(ctx, st, run) },
			Changed: func(ctx context.Context) (bool, error) { return d.changed(ctx, st) },
		})
		if err != nil {
			log.Error("cannot schedule source", "source", st.name, "err", err)
			continue
		}
		if st.isSuspended() {
			_ = s.Suspend(st.name)
		} else {
			_ = s.Trigger(st.name) // a first run at once
		}
	}
	// Runs outlive the term's context so that a shutdown can let them
	// finish; they are canceled explicitly below.
	runCtx, cancelRuns := context.WithCancel(context.WithoutCancel(lctx))
	defer cancelRuns()
	s.Start(runCtx)
	d.mu.Lock()
	d.sched[shard] = s
	d.mu.Unlock()

	<-lctx.Done()

	d.mu.Lock()
	delete(d.sched, shard)
	d.mu.Unlock()
	timeout := d.opts.ShutdownTimeout
	if ctx.Err() == nil {
		// Leadership was lost while the process goes on: another replica
		// may lead already, so stop at once (between two changes).
		timeout = 0
	}
	log.Info("stopping the scheduler", "wait", timeout.String())
	sctx, cancel := context.WithTimeout(lost, timeout)
	if err := s.Stop(sctx); err != nil {
		log.Warn("runs in flight were stopped", "err", err)
	}
	cancel()
	d.mu.Lock()
	delete(d.loseLease, shard)
	d.mu.Unlock()
	d.rec.SetShardHeld(shard, false)
	d.rec.SetLeader(d.leading.Add(-1) > 0)
}

// leaseLost is called by the election when the lease of shard is lost
// during the shutdown grace: its runs in flight stop at once (between two
// changes).
func (d *Daemon) leaseLost(shard int) {
	d.log.Warn("lease lost during shutdown: stopping runs in flight now", "shard", shard)
	d.mu.Lock()
	lose := d.loseLease[shard]
	d.mu.Unlock()
	if lose != nil {
		lose()
	}
}

// newHolder records the holder of a shard's lease as last observed.
func (d *Daemon) newHolder(shard int, identity string) {
	d.mu.Lock()
	d.holder[shard] = identity
	d.mu.Unlock()
}

// scheduler returns the scheduler that runs the source st, or nil when
// this replica does not lead its shard.
func (d *Daemon) scheduler(st *sourceState) *schedule.Scheduler {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sched[st.shard]
}

// errStandby is returned for triggers on a replica that does not lead the
// source's shard.
var errStandby = errors.New("this replica is on standby (not the leader)")

// errOtherShard is returned for triggers of a source whose shard another
// replica leads.
var errOtherShard = errors.New("this replica does not hold the shard of this source")

// errDraining is returned for triggers during shutdown.
var errDraining = errors.New("the daemon is shutting down")

// notLeading is the error for a trigger of a source this replica does not
// run.
func (d *Daemon) notLeading() error {
	if d.shards > 1 {
		return errOtherShard
	}
	return errStandby
}

func (d *Daemon) trigger(name string) error {
	if d.draining.Load() {
		return errDraining
	}
	st := d.byName[name]
	if st == nil {
		return fmt.Errorf("no source named %q", name)
	}
	s := d.scheduler(st)
	if s == nil {
		return d.notLeading()
	}
	return s.Trigger(name)
}

// frozen reports whether t falls in a freeze window, and which.
func (d *Daemon) frozen(t time.Time) (bool, string) {
	for _, w := range d.freeze {
		if start := w.sched.Next(t.Add(-w.dur)); !start.After(t) {
			name := w.name
			if name == "" {
				name = "unnamed"
			}
			return true, name
		}
	}
	return false, ""
}

func (d *Daemon) onChange(st *sourceState) func(apply.Result) {
	return func(r apply.Result) {
		d.rec.ApplyChange(st.name, r.Change.Action.String(), string(r.Outcome))
		log := st.logger(d.log)
		attrs := []any{"action", r.Change.Action.String(), "object", r.Change.Ref(), "outcome", string(r.Outcome),
			"duration", r.Duration.String()}
		if r.Err != nil {
			log.Warn("change not applied", append(attrs, "err", r.Err)...)
			return
		}
		log.Info("change applied", append(attrs, "id", r.ID)...)
	}
}

// identity names this replica in the Leases.
func (d *Daemon) identity() string {
	if d.opts.LeaderIdentity != "" {
		return d.opts.LeaderIdentity
	}
	return leader.DefaultIdentity()
}
