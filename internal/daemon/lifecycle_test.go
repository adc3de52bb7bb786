package daemon

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cas-reconciler/reconciler/internal/config"
	"github.com/cas-reconciler/reconciler/internal/reconcile"
	"github.com/cas-reconciler/reconciler/internal/source"
	"github.com/cas-reconciler/reconciler/internal/wiring"
	"github.com/cas-reconciler/reconciler/pkg/diag"
	"github.com/cas-reconciler/reconciler/pkg/segment"
	"github.com/cas-reconciler/reconciler/pkg/spec"
)

// chanListener is an in-memory listener: Accept blocks on a channel, which
// synctest counts as durably blocked (a real socket is not).
type chanListener struct {
	once sync.Once
	done chan struct{}
}

func (l *chanListener) Accept() (net.Conn, error) { <-l.done; return nil, net.ErrClosed }
func (l *chanListener) Close() error              { l.once.Do(func() { close(l.done) }); return nil }
func (l *chanListener) Addr() net.Addr            { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// fakeRepo serves revisions whose FS holds a "valid" or "invalid" marker.
type fakeRepo struct {
	mu    sync.Mutex
	rev   string
	valid bool
}

func (r *fakeRepo) set(rev string, valid bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rev, r.valid = rev, valid
}

func (r *fakeRepo) fetch(context.Context) (reconcile.Snapshot, source.Snapshot, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	mark := "invalid"
	if r.valid {
		mark = "valid"
	}
	fsys := fstest.MapFS{mark: &fstest.MapFile{}}
	return reconcile.Snapshot{Revision: r.rev, FS: fsys}, source.Snapshot{Revision: r.rev, Branch: "main", FS: fsys}, nil
}

func (r *fakeRepo) latest(context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rev, nil
}

// markerLoader fails to load an FS marked invalid.
type markerLoader struct{}

func (markerLoader) Load(_ context.Context, fsys fs.FS) (*spec.Result, error) {
	if _, err := fs.Stat(fsys, "invalid"); err == nil {
		return &spec.Result{Diagnostics: diag.Diagnostics{diag.Errorf(diag.Pos{File: "a.cue", Line: 1, Col: 1}, "test", "broken")}}, nil
	}
	return &spec.Result{}, nil
}

type tempErr struct{}

func (tempErr) Error() string   { return "treasure: 503 server" }
func (tempErr) Temporary() bool { return true }

// throttled is a Treasure answer that passes by itself after a delay (a
// 429 with Retry-After).
type throttled struct{ after time.Duration }

func (throttled) Error() string               { return "treasure: 429 too many requests" }
func (throttled) Temporary() bool             { return true }
func (e throttled) RetryDelay() time.Duration { return e.after }

// fakeRemote observes an empty Treasure; it can fail or block Observe.
type fakeRemote struct {
	mu       sync.Mutex
	down     bool
	downErr  error // returned while down; tempErr when nil
	block    chan struct{}
	observed int
}

func (f *fakeRemote) Observe(ctx context.Context, _ []string) (segment.State, error) {
	f.mu.Lock()
	f.observed++
	down, downErr, block := f.down, f.downErr, f.block
	f.mu.Unlock()
	if block != nil {
		<-block
	}
	if down {
		if downErr != nil {
			return segment.State{}, downErr
		}
		return segment.State{}, tempErr{}
	}
	return segment.State{}, nil
}

var errUnused = errors.New("not used by this test")

func (f *fakeRemote) ResolveConnection(context.Context, string) (string, error) { return "", errUnused }
func (f *fakeRemote) CreateParent(context.Context, *segment.Parent) (*segment.Parent, error) {
	return nil, errUnused
}
func (f *fakeRemote) UpdateParent(context.Context, string, *segment.Parent) (*segment.Parent, error) {
	return nil, errUnused
}
func (f *fakeRemote) DeleteParent(context.Context, string) error { return errUnused }
func (f *fakeRemote) CreateFolder(context.Context, string, string, *segment.Folder) (*segment.Folder, error) {
	return nil, errUnused
}
func (f *fakeRemote) UpdateFolder(context.Context, string, *segment.Folder) (*segment.Folder, error) {
	return nil, errUnused
}
func (f *fakeRemote) DeleteFolder(context.Context, string) error { return errUnused }
func (f *fakeRemote) CreateSegment(context.Context, string, string, *segment.Segment) (*segment.Segment, error) {
	return nil, errUnused
}
func (f *fakeRemote) UpdateSegment(context.Context, string, string, *segment.Segment) (*segment.Segment, error) {
	return nil, errUnused
}
func (f *fakeRemote) DeleteSegment(context.Context, string) error { return errUnused }
func (f *fakeRemote) ObserveActivations(context.Context, *segment.State, func(*segment.Segment) bool) error {
	return nil
}
func (f *fakeRemote) CreateActivation(context.Context, string, *segment.Activation) (*segment.Activation, error) {
	return nil, errUnused
}
func (f *fakeRemote) UpdateActivation(context.Context, string, string, *segment.Activation) (*segment.Activation, error) {
	return nil, errUnused
}
func (f *fakeRemote) DeleteActivation(context.Context, string, string) error { return errUnused }

// TestLifecycleOnFakeTime drives one source through success, stall, skip,
// recovery, waiting with backoff and a graceful shutdown, on fake time.
func TestLifecycleOnFakeTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg, err := config.Parse("c.cue", []byte(`
sources: [{name: "retail", url: "https://git.invalid/retail.git", schedule: "@every 1h", jitter: "0s"}]
treasure: apiKey: env: "K"
databricks: {host: "dbc.invalid", httpPath: "/p", token: env: "K"}
`), config.Options{LookupEnv: func(string) (string, bool) { return "secret-value", true }})
		if err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewPedanticRegistry()
		d, err := wired(Options{Config: cfg, Listener: &chanListener{done: make(chan struct{})},
			BackoffBase: 30 * time.Second, BackoffMax: 5 * time.Minute, ShutdownTimeout: time.Minute}, reg, wiring.Options{})
		if err != nil {
			t.Fatal(err)
		}
		repo := &fakeRepo{}
		repo.set("rev1", true)
		remote := &fakeRemote{}
		st := d.sources[0]
		st.fetch, st.latest = repo.fetch, repo.latest
		st.src.Reconciler.Loader, st.src.Reconciler.Catalog, st.src.Reconciler.Remote = markerLoader{}, nil, remote

		runs := func(result string) float64 {
			return testutil.ToFloat64(counterOf(t, reg, "reconciler_runs_total", "retail", result))
		}
		trigger := func() int {
			rec := httptest.NewRecorder()
			d.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/sources/retail/reconcile", nil))
			return rec.Code
		}

		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		synctest.Wait()

		// 1. The first run happens at start and succeeds.
		if runs("success") != 1 || !d.Status().Sources[0].Ready {
			t.Fatalf("after start: %v successful runs, status %+v", runs("success"), d.Status().Sources[0])
		}
		if ok, _ := d.Ready(); !ok {
			t.Error("not ready after the first run")
		}

		// 2. An invalid revision stalls.
		repo.set("rev2", false)
		if c := trigger(); c != http.StatusAccepted {
			t.Fatalf("trigger = %d", c)
		}
		synctest.Wait()
		if runs("stalled") != 1 || !d.Status().Sources[0].Stalled {
			t.Fatalf("stalled runs = %v", runs("stalled"))
		}
		observed := remote.observed

		// 3. Ticks on the same revision are skipped: no retry storm.
		time.Sleep(3*time.Hour + time.Second)
		synctest.Wait()
		if runs("stalled") != 1 || remote.observed != observed {
			t.Errorf("stalled source ran again on the same revision: %v stalled runs", runs("stalled"))
		}

		// 4. A new revision un-stalls it at the next tick.
		repo.set("rev3", true)
		time.Sleep(time.Hour)
		synctest.Wait()
		if runs("success") != 2 || d.Status().Sources[0].Stalled || d.Status().Sources[0].AppliedRevision != "rev3" {
			t.Fatalf("after the fix: %v successful runs, status %+v", runs("success"), d.Status().Sources[0])
		}

		// 5. An outage waits and is retried with backoff, not at the next tick.
		remote.mu.Lock()
		remote.down = true
		remote.mu.Unlock()
		trigger()
		synctest.Wait()
		if runs("waiting") != 1 {
			t.Fatalf("waiting runs = %v", runs("waiting"))
		}
		time.Sleep(31 * time.Second) // first retry after 30s
		synctest.Wait()
		if runs("waiting") != 2 {
			t.Fatalf("waiting runs after 31s = %v, want 2 (retry after BackoffBase)", runs("waiting"))
		}
		if next := d.Status().Sources[0].NextRetry; next.IsZero() {
			t.Error("no next retry in the status")
		}
		remote.mu.Lock()
		remote.down = false
		remote.mu.Unlock()
		time.Sleep(61 * time.Second) // second retry after 60s
		synctest.Wait()
		if runs("success") != 3 {
			t.Fatalf("after recovery: %v successful runs", runs("success"))
		}

		// 6. Shutdown during a run: the run finishes first, then Run
		// returns nil; triggers are refused meanwhile.
		block := make(chan struct{})
		remote.mu.Lock()
		remote.block = block
		remote.mu.Unlock()
		trigger()
		synctest.Wait()
		if !d.Status().Sources[0].Running {
			t.Fatal("run not in flight")
		}
		cancel()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Run returned %v with a run in flight", err)
		default:
		}
		if c := trigger(); c != http.StatusServiceUnavailable {
			t.Errorf("trigger during shutdown = %d, want 503", c)
		}
		time.Sleep(10 * time.Second)
		close(block)
		synctest.Wait()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run = %v", err)
			}
		default:
			t.Fatal("Run did not return after the run finished")
		}
		if runs("success") != 4 {
			t.Errorf("the run in flight did not finish: %v successful runs", runs("success"))
		}
	})
}

// fakeDaemon builds a daemon of one source named retail on in-memory
// fakes: a repository at rev1 that loads, an empty Treasure, no warehouse.
// Call it inside a synctest bubble.
func fakeDaemon(t *testing.T, src string, opts Options) (*Daemon, *prometheus.Registry, *fakeRemote) {
	t.Helper()
	cfg, err := config.Parse("c.cue", []byte(src), config.Options{LookupEnv: func(string) (string, bool) { return "secret-value", true }})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	opts.Config, opts.Listener = cfg, &chanListener{done: make(chan struct{})}
	d, err := wired(opts, reg, wiring.Options{})
	if err != nil {
		t.Fatal(err)
	}
	repo := &fakeRepo{}
	repo.set("rev1", true)
	remote := &fakeRemote{}
	for _, st := range d.sources {
		st.fetch, st.latest = repo.fetch, repo.latest
		st.src.Reconciler.Loader, st.src.Reconciler.Catalog, st.src.Reconciler.Remote = markerLoader{}, nil, remote
	}
	return d, reg, remote
}

// TestRetryAfterDelaysTheRetry checks on fake time that a run waiting on a
// throttled Treasure is retried after the Retry-After Treasure sent, not
// after the shorter backoff.
func TestRetryAfterDelaysTheRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, reg, remote := fakeDaemon(t, `
sources: [{name: "retail", url: "https://git.invalid/retail.git", schedule: "@every 1h", jitter: "0s"}]
treasure: apiKey: env: "K"
databricks: {host: "dbc.invalid", httpPath: "/p", token: env: "K"}
`, Options{BackoffBase: 30 * time.Second, BackoffMax: 5 * time.Minute})
		remote.mu.Lock()
		remote.down, remote.downErr = true, throttled{after: 2 * time.Minute}
		remote.mu.Unlock()
		runs := func(result string) float64 {
			return testutil.ToFloat64(counterOf(t, reg, "reconciler_runs_total", "retail", result))
		}

		start := time.Now()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		synctest.Wait()
		st := d.Status().Sources[0]
		if runs("waiting") != 1 || st.Reason != reconcile.ReasonTreasureDown {
			t.Fatalf("first run: %v waiting runs, reason %q", runs("waiting"), st.Reason)
		}
		if got := st.NextRetry.Sub(start); got != 2*time.Minute {
			t.Errorf("next retry %v after start, want 2m (Retry-After, not the 30s backoff)", got)
		}

		time.Sleep(2*time.Minute - time.Second)
		synctest.Wait()
		if runs("waiting") != 1 {
			t.Fatalf("retried before Retry-After: %v waiting runs after 1m59s", runs("waiting"))
		}
		remote.mu.Lock()
		remote.down = false
		remote.mu.Unlock()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if runs("success") != 1 {
			t.Fatalf("no successful retry after Retry-After: %v successful runs", runs("success"))
		}
		cancel()
		synctest.Wait()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v", err)
		}
	})
}

// counterOf returns the collector of one runs_total series.
func counterOf(t *testing.T, reg *prometheus.Registry, name, src, result string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["source"] == src && labels["result"] == result {
				return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: strings.ReplaceAll(name, "-", "_"), Help: "x"},
					func() float64 { return m.GetCounter().GetValue() })
			}
		}
	}
	t.Fatalf("no series %s{source=%q,result=%q}", name, src, result)
	return nil
}
