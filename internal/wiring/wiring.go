package wiring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/cas-reconciler/reconciler/internal/apply"
	"github.com/cas-reconciler/reconciler/internal/config"
	"github.com/cas-reconciler/reconciler/internal/loadworker"
	"github.com/cas-reconciler/reconciler/internal/logging"
	"github.com/cas-reconciler/reconciler/internal/metrics"
	"github.com/cas-reconciler/reconciler/internal/reconcile"
	"github.com/cas-reconciler/reconciler/internal/source"
	"github.com/cas-reconciler/reconciler/internal/warehouse"
	"github.com/cas-reconciler/reconciler/pkg/plan"
	"github.com/cas-reconciler/reconciler/pkg/segment"
	"github.com/cas-reconciler/reconciler/pkg/treasure"
	"github.com/cas-reconciler/reconciler/pkg/validate"
)

// The concrete clients satisfy the consumer interfaces.
var (
	_ reconcile.Remote  = (*treasure.Client)(nil)
	_ reconcile.Catalog = (*warehouse.Client)(nil)
	_ apply.Target      = (*treasure.Client)(nil)
)

// Options are the injectable parts of Build. The zero value builds
// everything from the configuration alone.
type Options struct {
	// Logger receives the clients' logs; discarded when nil.
	Logger *slog.Logger
	// Metrics records the clients' requests; nothing is recorded when nil.
	Metrics *metrics.Recorder
	// HTTPClient is the Treasure Data HTTP client; a default one when nil.
	HTTPClient *http.Client
	// WarehouseTransport is the base transport of the Databricks driver.
	WarehouseTransport http.RoundTripper
	// Treasure, Warehouse and Source, when set, adjust each client's options
	// after they were derived from the configuration (tests and the demo
	// point them at stand-ins or shorten their retries).
	Treasure  func(src string, o *treasure.Options)
	Warehouse func(o *warehouse.Options)
	Source    func(src string, o *source.Options)
	// Redactor, when set, learns every secret of the configuration.
	Redactor *logging.Redactor
	// Now is the clock of the reconcilers; time.Now when nil.
	Now func() time.Time
}

// Clients are the wired clients of a configuration. Close releases them.
type Clients struct {
	// Sources are the configured sources, in configuration order.
	Sources []*Source
	// Warehouse is the Databricks client shared by every source; nil when
	// the configuration's warehouse credentials were not read.
	Warehouse *warehouse.Client

	closers []func() error
}

// Source is one configured source with its clients.
type Source struct {
	// Name is the source name.
	Name string
	// Config is the source's configuration.
	Config config.Source
	// Repo follows the source's branch; nil when the configuration's git
	// credentials were not read (a plan of a local checkout).
	Repo *source.Repo
	// Treasure is the source's Treasure Data client; its owner name is the
	// source's owner.
	Treasure *treasure.Client
	// Reconciler runs reconciles of the source.
	Reconciler *reconcile.Reconciler
	// Loader loads the source's CUE files within the configured load
	// bounds, with a cache across runs.
	Loader *loadworker.Loader
}

// Snapshot fetches the tip of the source's branch and returns it as a
// reconcile snapshot together with the git snapshot (revision, commit
// details).
func (s *Source) Snapshot(ctx context.Context) (reconcile.Snapshot, source.Snapshot, error) {
	if s.Repo == nil {
		return reconcile.Snapshot{}, source.Snapshot{}, fmt.Errorf("source %s: no git repository: the configuration's git credentials were not read", s.Name)
	}
	snap, err := s.Repo.Fetch(ctx)
	if err != nil {
		return reconcile.Snapshot{}, snap, err
	}
	return reconcile.Snapshot{Revision: snap.Revision, FS: snap.FS}, snap, nil
}

// Source returns the named source.
func (c *Clients) Source(name string) (*Source, error) {
	for _, s := range c.Sources {
		if s.Name == name {
			return s, nil
		}
	}
	return nil, fmt.Errorf("no source named %q", name)
}

// Close releases every client, in reverse order of creation.
func (c *Clients) Close() error {
	var errs []error
	for i := len(c.closers) - 1; i >= 0; i-- {
		errs = append(errs, c.closers[i]())
	}
	c.closers = nil
	return errors.Join(errs...)
}

// Build turns a configuration into ready clients: one Databricks client,
// and per source a git repository, a Treasure Data client (owner = the
// source's owner, requests reported to opts.Metrics) and a reconciler with
// the source's prune and drift policy. It does no network I/O. The CLI
// commands (plan, apply, import, preview, doctor) use it, and so does the
// daemon's creator, which hands the clients to daemon.New.
//
// Only the clients whose secrets the configuration holds are built
// (config.LoadUsing reads a command's secrets only): without the warehouse
// credentials there is no Databricks client and the reconcilers skip the
// warehouse checks; without the git credentials there are no repositories.
// The Treasure Data API key is always needed.
func Build(cfg *config.Config, opts Options) (*Clients, error) {
	if cfg == nil {
		return nil, errors.New("wiring: nil configuration")
	}
	if cfg.Unresolved&config.UseTreasure != 0 {
		return nil, errors.New("wiring: the configuration was loaded without its Treasure Data API key")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Redactor != nil {
		opts.Redactor.Add(Secrets(cfg)...)
	}
	c := &Clients{}
	ok := false
	defer func() {
		if !ok {
			_ = c.Close()
		}
	}()

	var wh *warehouse.Client
	if cfg.Unresolved&config.UseWarehouse == 0 {
		var err error
		wh, err = Warehouse(cfg.Databricks, opts)
		if err != nil {
			return nil, err
		}
		c.Warehouse = wh
		c.closers = append(c.closers, wh.Close)
	}

	for i := range cfg.Sources {
		sc := cfg.Sources[i]
		var repo *source.Repo
		if cfg.Unresolved&config.UseGit == 0 {
			so := sourceOptions(cfg, &sc)
			if opts.Source != nil {
				opts.Source(sc.Name, &so)
			}
			var err error
			repo, err = source.New(so)
			if err != nil {
				return nil, fmt.Errorf("source %s: %w", sc.Name, err)
			}
			c.closers = append(c.closers, repo.Close)
		}

		to := treasureOptions(cfg, &sc, opts, log)
		if cfg.CacheDir != "" {
			to.RuleCacheFile = filepath.Join(cfg.CacheDir, ruleCachePrefix+sc.Name+".json")
		}
		if opts.Treasure != nil {
			opts.Treasure(sc.Name, &to)
		}
		td, err := treasure.New(to)
		if err != nil {
			return nil, fmt.Errorf("treasure for source %s: %w", sc.Name, err)
		}

		loader := loadworker.New(loadLimits(cfg.Load))
		var cat reconcile.Catalog
		if wh != nil {
			cat = wh
		}
		// A source's prune replaces the global one, except protect: the
		// source's list adds to the global list.
		prune := cfg.Prune
		protect := protectKeys(cfg.Prune.Protect)
		if sc.Prune != nil {
			prune = *sc.Prune
			protect = protectKeys(cfg.Prune.Protect, sc.Prune.Protect)
		}
		drift := cfg.Drift
		if sc.Drift != "" {
			drift = sc.Drift
		}
		pop := cfg.Population
		if sc.Population != nil {
			pop = *sc.Population
		}
		var counter reconcile.Counter
		if wh != nil && pop.Enabled {
			counter = wh
		}
		rec := &reconcile.Reconciler{
			Loader:  loader,
			Catalog: cat,
			Remote:  td,
			Plan: plan.Options{
				Owner:     sc.OwnerName(),
				Principal: cfg.Treasure.Principal,
				Protect:   protect,
				Prune: plan.PruneOptions{
					Enabled:            prune.Enabled,
					MaxDeletes:         prune.MaxDeletes,
					MaxDeletePercent:   prune.MaxDeletePercent,
					AllowEmpty:         prune.AllowEmpty,
					AllowParentDelete:  prune.AllowParentDelete,
					AllowParentReplace: prune.AllowParentReplace,
				},
				Drift: plan.DriftMode(drift),
			},
			Apply:       apply.Options{Concurrency: cfg.Treasure.Concurrency},
			Validate:    validate.Options{RequireUniqueKeys: cfg.Databricks.CheckUniqueness},
			Now:         opts.Now,
			Recheck:     cfg.Databricks.Recheck.D(),
			Credentials: credentials(cfg),
			Population:  counter,
			PopulationOptions: reconcile.PopulationOptions{
				Timeout:          pop.Timeout.D(),
				MaxSegments:      pop.MaxSegments,
				MaxChangePercent: pop.MaxChangePercent,
			},
		}
		c.Sources = append(c.Sources, &Source{Name: sc.Name, Config: sc, Repo: repo, Treasure: td, Reconciler: rec, Loader: loader})
	}
	ok = true
	return c, nil
}

// protectKeys maps configured protected objects to plan objects, without
// duplicates: a segment's key is its parent segment and name, a folder's
// its parent segment and path (as Name), a parent segment's its name (as
// Parent, with no Name).
func protectKeys(lists ...[]config.Protected) []plan.Object {
	var objs []plan.Object
	seen := map[plan.Object]bool{}
	for _, list := range lists {
		for _, o := range list {
			var obj plan.Object
			switch o.Kind {
			case config.KindParent:
				obj = plan.Object{Kind: plan.KindParent, Key: (&segment.Parent{Name: o.Name}).Key()}
			case config.KindFolder:
				obj = plan.Object{Kind: plan.KindFolder, Key: (&segment.Folder{Parent: o.Parent, Path: o.Path}).Key()}
			case config.KindSegment:
				obj = plan.Object{Kind: plan.KindSegment, Key: (&segment.Segment{Parent: o.Parent, Name: o.Name}).Key()}
			case config.KindActivation:
				obj = plan.Object{Kind: plan.KindActivation, Key: (&segment.Activation{Parent: o.Parent, Segment: o.Segment, Name: o.Name}).Key()}
			default:
				continue // refused by the configuration loader
			}
			if !seen[obj] {
				seen[obj] = true
				objs = append(objs, obj)
			}
		}
	}
	return objs
}

// credentials names where the configuration's Treasure and Databricks
// credentials come from (the field and its env or file reference, never
// the value), for the message of a run stalled on a refused one.
func credentials(cfg *config.Config) reconcile.Credentials {
	c := reconcile.Credentials{Treasure: "treasure.apiKey (" + cfg.Treasure.APIKey.String() + ")"}
	if o := cfg.Databricks.OAuth; o != nil {
		c.Warehouse = fmt.Sprintf("databricks.oauth.clientSecret (%s) of client id %q", o.ClientSecret, o.ClientID)
	} else {
		c.Warehouse = "databricks.token (" + cfg.Databricks.Token.String() + ")"
	}
	return c
}

// Secrets returns every secret value of the configuration, for redaction.
func Secrets(cfg *config.Config) []string {
	var out []string
	add := func(s *config.Secret) {
		if v := s.Value(); v != "" {
			out = append(out, v)
		}
	}
	add(cfg.Treasure.APIKey)
	add(cfg.APIToken)
	add(cfg.Databricks.Token)
	if cfg.Databricks.OAuth != nil {
		add(cfg.Databricks.OAuth.ClientSecret)
	}
	add(cfg.Webhooks.GitHub)
	add(cfg.Webhooks.GitLab)
	add(cfg.Webhooks.Generic)
	for _, s := range cfg.Sources {
		if a := s.Auth; a != nil {
			add(a.Token)
			if a.Basic != nil {
				add(a.Basic.Password)
			}
			if a.SSH != nil {
				add(a.SSH.Passphrase)
				if len(a.SSH.Key) > 0 {
					out = append(out, string(a.SSH.Key))
				}
			}
		}
	}
	return out
}

// Warehouse opens the Databricks client of d (with WarehouseOptions); it
// does no network I/O. Build opens the configuration's client with it, and
// so does reconciler validate --warehouse.
func Warehouse(d config.Databricks, opts Options) (*warehouse.Client, error) {
	wh, err := warehouse.Open(WarehouseOptions(d, opts))
	if err != nil {
		return nil, fmt.Errorf("databricks: %w", err)
	}
	return wh, nil
}

// WarehouseOptions maps the databricks section of a configuration to the
// client's options: the only place that does. A zero startTimeout gives up
// at the first HTTP 503; opts.Warehouse adjusts the result last.
func WarehouseOptions(d config.Databricks, opts Options) warehouse.Options {
	wo := warehouse.Options{
		Host:           d.Host,
		Port:           d.Port,
		HTTPPath:       d.HTTPPath,
		Catalog:        d.Catalog,
		Insecure:       d.Insecure,
		Token:          d.Token.Value(),
		ConnectTimeout: d.ConnectTimeout.D(),
		QueryTimeout:   d.QueryTimeout.D(),
		StartTimeout:   d.StartTimeout.D(),
		Transport:      opts.WarehouseTransport,
		Observe:        opts.Metrics.WarehouseQuery,
		Now:            opts.Now,
		Logger:         opts.Logger,
	}
	if wo.StartTimeout == 0 {
		wo.StartTimeout = -1 // zero in the file means no waiting
	}
	if d.OAuth != nil {
		wo.ClientID = d.OAuth.ClientID
		wo.ClientSecret = d.OAuth.ClientSecret.Value()
		wo.TokenURL = d.OAuth.TokenURL
	}
	if opts.Metrics == nil {
		wo.Observe = nil
	}
	if opts.Warehouse != nil {
		opts.Warehouse(&wo)
	}
	return wo
}

func sourceOptions(cfg *config.Config, sc *config.Source) source.Options {
	so := source.Options{URL: sc.URL, Branch: sc.Branch, Path: sc.Path}
	if cfg.CacheDir != "" {
		so.CacheDir = cfg.CacheDir + "/" + sc.Name
	}
	if a := sc.Auth; a != nil {
		switch {
		case a.Token != nil:
			so.Auth.Token = a.Token.Value()
		case a.Basic != nil:
			so.Auth.Username = a.Basic.Username
			so.Auth.Password = a.Basic.Password.Value()
		case a.SSH != nil:
			so.Auth.SSHKey = a.SSH.Key
			so.Auth.KnownHosts = a.SSH.KnownHosts
			so.Auth.SSHKeyPassphrase = a.SSH.Passphrase.Value()
			so.Auth.SSHUser = a.SSH.User
		}
	}
	return so
}

// ruleCachePrefix names the files in cacheDir that keep a source's
// segment rules across restarts (treasure.Options.RuleCacheFile).
const ruleCachePrefix = ".treasure-rules-"

func treasureOptions(cfg *config.Config, sc *config.Source, opts Options, log *slog.Logger) treasure.Options {
	t := cfg.Treasure
	to := treasure.Options{
		APIKey:           t.APIKey.Value(),
		Region:           t.Region,
		Owner:            sc.OwnerName(),
		HTTPClient:       opts.HTTPClient,
		Timeout:          t.Timeout.D(),
		RateLimit:        t.RateLimit,
		Burst:            t.Burst,
		RateMargin:       t.RateMargin.D(),
		MaxConcurrent:    t.Concurrency,
		MaxRetries:       t.MaxRetries,
		MaxResponseBytes: t.MaxResponseBytes,
		Now:              opts.Now,
		Logger:           log.With("source", sc.Name, "component", "treasure"),
	}
	to.DisableParentCache = t.ParentCache != nil && !*t.ParentCache
	to.ConnectionTTL = t.ConnectionTTL.D()
	if t.ConnectionTTL == 0 {
		to.ConnectionTTL = -1 // zero in the file means never
	}
	if t.RateMargin == 0 {
		to.RateMargin = -1 // zero in the file means no margin
	}
	if t.MaxRetries == 0 {
		to.MaxRetries = -1 // zero in the file means no retries
	}
	if e := t.Endpoints; e != nil {
		to.CDPURL, to.CASURL, to.ClassicURL = e.CDP, e.CAS, e.Classic
	}
	if w := t.Wire; w != nil {
		to.CASUploadPath, to.MediaType = w.CASUploadPath, w.MediaType
		to.SegmentType, to.SegmentFolderType, to.FolderType = w.SegmentType, w.SegmentFolderType, w.FolderType
		to.SyndicationsPath, to.SyndicationColumns = w.SyndicationsPath, w.SyndicationColumns
	}
	if opts.Metrics != nil {
		to.Observer = opts.Metrics.TreasureRequest
	}
	return to
}

// loadLimits maps the configured load bounds to the worker's limits; zero
// fields keep the worker's defaults.
func loadLimits(l config.LoadLimits) loadworker.Limits {
	return loadworker.Limits{
		MaxFileBytes:  l.MaxFileBytes,
		MaxFiles:      l.MaxFiles,
		MaxTotalBytes: l.MaxTotalBytes,
		FileTimeout:   l.FileTimeout.D(),
		RunTimeout:    l.RunTimeout.D(),
		MemoryLimit:   l.MemoryLimitBytes,
	}
}

// TreasureClient returns a Treasure Data client built from cfg like a
// source's, whose ownership markers name owner (reconciler doctor's
// sandbox writes as its own owner, never as a source).
func TreasureClient(cfg *config.Config, owner string, opts Options) (*treasure.Client, error) {
	if cfg.Unresolved&config.UseTreasure != 0 {
		return nil, errors.New("wiring: the configuration was loaded without its Treasure Data API key")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return treasure.New(treasureOptions(cfg, &config.Source{Name: owner}, opts, log))
}
