//go:build cgo

package daemon

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/cuetest"
	"github.com/cas-reconciler/reconciler/internal/logging"
	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin/dbxtest"
	"github.com/cas-reconciler/reconciler/internal/standin/gittest"
	"github.com/cas-reconciler/reconciler/internal/syncbuf"
)

// copyRetail copies the retail repository with its parent segment renamed,
// so that a second source owns a parent of its own.
func copyRetail(t *testing.T, parent string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(retailDir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(retailDir, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		b = []byte(strings.ReplaceAll(string(b), `"Retail Customers"`, fmt.Sprintf("%q", parent)))
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestDaemonStallsAFileOverTheLoadBudget: a repository file whose
// evaluation explodes in memory stalls its source on that revision with
// reason LoadBudget and a diagnostic naming the file, while the daemon
// keeps answering /healthz and the other source is applied.
func TestDaemonStallsAFileOverTheLoadBudget(t *testing.T) {
	git := gittest.NewServer(t, gittest.WithToken(gitToken))
	bad := git.NewRepo(t, "bad")
	bad.ImportDir(t, "retail segments", retailDir)
	badRev := bad.Commit(t, "an explosive file", map[string]string{"segments/explosive.cue": cuetest.Explosive("retail")})
	good := git.NewRepo(t, "good")
	goodRev := good.ImportDir(t, "second parent", copyRetail(t, "Second Customers"))

	td := retailTreasure(t)
	_, ep := dbxtest.Start(t, "../../examples/retail-warehouse.yaml")

	src := fmt.Sprintf(`
listen: "127.0.0.1:0"
sources: [
	{name: "bad", url: %q, auth: token: env: "GIT_TOKEN", schedule: "@every 1h"},
	{name: "good", url: %q, auth: token: env: "GIT_TOKEN", schedule: "@every 1h"},
]
treasure: {endpoints: {cdp: %q, cas: %q, classic: %q}, apiKey: env: "TD_API_KEY"}
databricks: {host: %q, port: %d, httpPath: %q, insecure: true, token: env: "DBX_TOKEN"}
load: {memoryLimitBytes: 134217728, fileTimeout: "60s"}
`, bad.URL(), good.URL(), td.URL(), td.URL(), td.URL(), ep.Host, ep.Port, ep.HTTPPath)
	vars := map[string]string{"GIT_TOKEN": gitToken, "TD_API_KEY": tdKey, "DBX_TOKEN": dbxToken}
	cfg := parseConfig(t, src, vars)
	if cfg.Load.MemoryLimitBytes != 128<<20 || cfg.Load.MaxFiles != 20000 {
		t.Fatalf("load = %+v, want the memory limit set and the other defaults", cfg.Load)
	}
	logs := &syncbuf.Buffer{}
	log, err := logging.New(logs, "debug", "json", logging.NewRedactor())
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{td: td, logs: logs}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.startOn(t, cfg, log, logging.NewRedactor(), ln, 20*time.Second)
	t.Cleanup(func() {
		h.stop(t)
		if t.Failed() {
			t.Logf("daemon logs:\n%s", logs.String())
		}
	})

	statuses := func() map[string]SourceStatus {
		resp, err := http.Get(h.base + "/status")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st Status
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		out := map[string]SourceStatus{}
		for _, s := range st.Sources {
			out[s.Name] = s
		}
		return out
	}
	deadline := time.Now().Add(120 * time.Second)
	var last map[string]SourceStatus
	for {
		resp, err := http.Get(h.base + "/healthz")
		if err != nil {
			t.Fatalf("/healthz: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/healthz = %d while a source loads an explosive file", resp.StatusCode)
		}
		last = statuses()
		if last["bad"].Stalled && last["good"].AppliedRevision == goodRev {
			break
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(last, "", "  ")
			t.Fatalf("timed out; statuses:\n%s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	st := last["bad"]
	if st.Reason != "LoadBudget" || st.Revision != badRev {
		t.Errorf("bad source: reason %q revision %s, want LoadBudget at %s", st.Reason, st.Revision, badRev)
	}
	found := false
	for _, d := range st.Diagnostics {
		if d.Pos.File == "segments/explosive.cue" && d.Code == "over-budget" {
			found = true
		}
	}
	if !found {
		t.Errorf("no over-budget diagnostic for segments/explosive.cue in %+v", st.Diagnostics)
	}
	var parents []string
	for _, p := range td.Parents() {
		parents = append(parents, p.Name)
	}
	if len(parents) != 1 || parents[0] != "Second Customers" {
		t.Errorf("parent segments in Treasure = %q, want only the good source's", parents)
	}
	m := h.metrics(t)
	if !strings.Contains(m, `reconciler_runs_total{result="stalled",source="bad"} 1`) {
		t.Errorf("stalled run not counted:\n%s", grep(m, "reconciler_runs_total"))
	}
}
