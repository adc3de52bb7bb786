package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cas-reconciler/reconciler/internal/config"
	"github.com/cas-reconciler/reconciler/internal/wiring"
)

// suspendConfig has a source suspended in the configuration (web) and one
// that is not (retail); cacheDir is the parameter.
const suspendConfig = `
listen: "127.0.0.1:0"
sources: [{name: "retail", url: "https://git.invalid/retail.git", schedule: "@every 1h", jitter: "0s"},
	{name: "web", url: "https://git.invalid/web.git", suspend: true}]
treasure: apiKey: env: "K"
databricks: {host: "dbc.invalid", httpPath: "/p", token: env: "K"}
%s
`

func cacheDirConfig(dir string) string {
	if dir == "" {
		return fmt.Sprintf(suspendConfig, "")
	}
	return fmt.Sprintf(suspendConfig, fmt.Sprintf("cacheDir: %q", dir))
}

// newStandby builds a daemon that is not started (the API works as on a
// standby replica).
func newStandby(t *testing.T, src string) (*Daemon, error) {
	t.Helper()
	cfg, err := config.Parse("c.cue", []byte(src), config.Options{LookupEnv: func(string) (string, bool) { return "secret-value", true }})
	if err != nil {
		t.Fatal(err)
	}
	d, err := wired(Options{Config: cfg, Listener: &chanListener{done: make(chan struct{})}}, prometheus.NewPedanticRegistry(), wiring.Options{})
	if err == nil {
		t.Cleanup(func() { _ = d.cleanup() })
	}
	return d, err
}

func post(t *testing.T, d *Daemon, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	d.Handler().ServeHTTP(rec, httptest.NewRequest("POST", path, nil))
	return rec
}

// suspendedState returns suspended and suspended_by of a source in /status.
func suspendedState(t *testing.T, d *Daemon, name string) (bool, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	d.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/status/"+name, nil))
	var st SourceStatus
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatalf("/status/%s: %v: %s", name, err, rec.Body)
	}
	return st.Suspended, st.SuspendedBy
}

func TestAPISuspensionSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	src := cacheDirConfig(dir)
	d, err := newStandby(t, src)
	if err != nil {
		t.Fatal(err)
	}
	if s, by := suspendedState(t, d, "web"); !s || by != SuspendedByConfig {
		t.Errorf("web: suspended %v by %q, want by config", s, by)
	}
	if s, by := suspendedState(t, d, "retail"); s || by != "" {
		t.Errorf("retail before the API call: suspended %v by %q", s, by)
	}
	if r := post(t, d, "/api/v1/sources/retail/suspend"); r.Code != http.StatusOK {
		t.Fatalf("suspend = %d %s", r.Code, r.Body)
	}
	if s, by := suspendedState(t, d, "retail"); !s || by != SuspendedByAPI {
		t.Errorf("retail after suspend: suspended %v by %q, want by api", s, by)
	}
	if _, err := os.Stat(filepath.Join(dir, suspendFile)); err != nil {
		t.Fatalf("suspension not saved: %v", err)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, suspendFile+".*")); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}

	// A new daemon on the same cacheDir starts with retail suspended.
	d2, err := newStandby(t, src)
	if err != nil {
		t.Fatal(err)
	}
	if s, by := suspendedState(t, d2, "retail"); !s || by != SuspendedByAPI {
		t.Errorf("retail after a restart: suspended %v by %q, want by api", s, by)
	}
	if m := scrape(t, d2); !strings.Contains(m, `reconciler_source_suspended{source="retail"} 1`) {
		t.Errorf("suspended gauge not set after a restart:\n%s", grepLine(m, `reconciler_source_suspended{source="retail"}`))
	}

	// Resumed through the API: the next daemon starts it.
	if r := post(t, d2, "/api/v1/sources/retail/resume"); r.Code != http.StatusOK {
		t.Fatalf("resume = %d %s", r.Code, r.Body)
	}
	// Resuming a source suspended in the configuration lasts until the
	// process ends: the configuration wins at the next start.
	if r := post(t, d2, "/api/v1/sources/web/resume"); r.Code != http.StatusOK {
		t.Fatalf("resume web = %d %s", r.Code, r.Body)
	}
	if s, _ := suspendedState(t, d2, "web"); s {
		t.Error("web still suspended after an API resume")
	}
	d3, err := newStandby(t, src)
	if err != nil {
		t.Fatal(err)
	}
	if s, by := suspendedState(t, d3, "retail"); s {
		t.Errorf("retail after resume and restart: suspended by %q", by)
	}
	if s, by := suspendedState(t, d3, "web"); !s || by != SuspendedByConfig {
		t.Errorf("web after restart: suspended %v by %q, want by config", s, by)
	}
}

// TestSavedSuspensionHoldsTheScheduler runs the restarted daemon on fake
// time: a source suspended through the API before the restart never runs.
func TestSavedSuspensionHoldsTheScheduler(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		src := cacheDirConfig(dir)
		d1, _, _ := fakeDaemon(t, src, Options{})
		if r := post(t, d1, "/api/v1/sources/retail/suspend"); r.Code != http.StatusOK {
			t.Fatalf("suspend = %d %s", r.Code, r.Body)
		}
		_ = d1.cleanup()

		d, reg, remote := fakeDaemon(t, src, Options{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		time.Sleep(3 * time.Hour)
		synctest.Wait()
		remote.mu.Lock()
		observed := remote.observed
		remote.mu.Unlock()
		if observed != 0 || testutil.ToFloat64(counterOf(t, reg, "reconciler_runs_total", "retail", "success")) != 0 {
			t.Errorf("a source suspended before the restart ran (%d observations)", observed)
		}
		if ok, msg := d.Ready(); !ok {
			t.Errorf("not ready with every source suspended: %s", msg)
		}
		// Resuming runs it at once.
		if r := post(t, d, "/api/v1/sources/retail/resume"); r.Code != http.StatusOK {
			t.Fatalf("resume = %d %s", r.Code, r.Body)
		}
		synctest.Wait()
		if got := testutil.ToFloat64(counterOf(t, reg, "reconciler_runs_total", "retail", "success")); got != 1 {
			t.Errorf("successful runs after resume = %v, want 1", got)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v", err)
		}
	})
}

func TestUnreadableSavedSuspensionsStopTheStart(t *testing.T) {
	for name, content := range map[string]string{
		"corrupt":         `{"version": 1, "sources": {"retail": `,
		"empty":           ``,
		"unknown version": `{"version": 2, "sources": {}}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, suspendFile)
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := newStandby(t, cacheDirConfig(dir))
			if err == nil {
				t.Fatal("New succeeded with an unreadable suspensions file")
			}
			for _, want := range []string{path, "refusing to start", "delete it"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

func TestSavedSuspensionOfAnUnknownSourceIsIgnored(t *testing.T) {
	dir := t.TempDir()
	data := `{"version": 1, "sources": {"gone": {"at": "2026-11-01T00:00:00Z"}, "retail": {"at": "2026-11-02T00:00:00Z"}}}`
	if err := os.WriteFile(filepath.Join(dir, suspendFile), []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := newStandby(t, cacheDirConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	if s, by := suspendedState(t, d, "retail"); !s || by != SuspendedByAPI {
		t.Errorf("retail: suspended %v by %q, want by api", s, by)
	}
	// The next save keeps the known sources only.
	if r := post(t, d, "/api/v1/sources/retail/resume"); r.Code != http.StatusOK {
		t.Fatalf("resume = %d %s", r.Code, r.Body)
	}
	saved, err := readSuspensions(filepath.Join(dir, suspendFile))
	if err != nil || len(saved) != 0 {
		t.Errorf("saved after resume = %v, %v; want none", saved, err)
	}
}

func TestSuspensionThatCannotBeSaved(t *testing.T) {
	d, err := newStandby(t, cacheDirConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	// A regular file where the directory should be: every save fails.
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	d.suspendPath = filepath.Join(blocker, suspendFile)

	// The suspension holds in memory, and the answer says it will not
	// survive a restart.
	r := post(t, d, "/api/v1/sources/retail/suspend")
	if r.Code != http.StatusInternalServerError || !strings.Contains(r.Body.String(), "not across a restart") {
		t.Errorf("suspend = %d %s, want 500 saying it is not saved", r.Code, r.Body)
	}
	if s, by := suspendedState(t, d, "retail"); !s || by != SuspendedByAPI {
		t.Errorf("retail: suspended %v by %q, want suspended by api", s, by)
	}
	// A resume that cannot be saved is not made: the file would suspend
	// the source again at the next start.
	r = post(t, d, "/api/v1/sources/retail/resume")
	if r.Code != http.StatusInternalServerError || !strings.Contains(r.Body.String(), "not resumed") {
		t.Errorf("resume = %d %s, want 500 not resumed", r.Code, r.Body)
	}
	if s, _ := suspendedState(t, d, "retail"); !s {
		t.Error("retail resumed although the resume could not be saved")
	}
}

func TestSuspensionWithoutCacheDirIsInMemory(t *testing.T) {
	d, err := newStandby(t, cacheDirConfig(""))
	if err != nil {
		t.Fatal(err)
	}
	if r := post(t, d, "/api/v1/sources/retail/suspend"); r.Code != http.StatusOK {
		t.Fatalf("suspend = %d %s", r.Code, r.Body)
	}
	if s, by := suspendedState(t, d, "retail"); !s || by != SuspendedByAPI {
		t.Errorf("retail: suspended %v by %q", s, by)
	}
	d2, err := newStandby(t, cacheDirConfig(""))
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := suspendedState(t, d2, "retail"); s {
		t.Error("suspension without cacheDir survived a restart")
	}
}

func scrape(t *testing.T, d *Daemon) string {
	t.Helper()
	rec := httptest.NewRecorder()
	d.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}
