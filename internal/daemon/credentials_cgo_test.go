//go:build cgo

package daemon

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cas-reconciler/reconciler/internal/reconcile"
)

// statusBody returns the raw /status document.
func (h *harness) statusBody(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(h.base + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestDaemonStallsOnRevokedTreasureKey revokes the API key between two
// runs: the next run stalls (no retry is scheduled) with a reason and a
// message that name the key's configuration field and what to do, and the
// stalled gauge is set.
func TestDaemonStallsOnRevokedTreasureKey(t *testing.T) {
	h := newHarness(t)
	h.waitFor(t, "the first run", func(s SourceStatus) bool { return s.LastRun != nil && s.Ready })

	h.td.RevokeKey(tdKey)
	rev := h.repo.Commit(t, "add a segment", map[string]string{
		"segments/daemon.cue": "package retail\n\nsegments: \"Germany\": where: [{attribute: \"country\", oneOf: [\"DE\"]}]\n",
	})
	h.push(t, rev)
	st := h.waitFor(t, "the run of the new revision", func(s SourceStatus) bool { return s.Revision == rev && !s.Running })
	if !st.Stalled || st.Reason != reconcile.ReasonTreasureUnauthorized || st.Ready {
		t.Fatalf("after the key was revoked: stalled %v, reason %q, ready %v, result %s; want stalled (%s)",
			st.Stalled, st.Reason, st.Ready, st.LastRun.Result, reconcile.ReasonTreasureUnauthorized)
	}
	if !st.NextRetry.IsZero() {
		t.Errorf("a retry is scheduled at %s for a refused key", st.NextRetry)
	}
	for _, want := range []string{"treasure.apiKey (env:TD_API_KEY)", "401", "restart the reconciler"} {
		if !strings.Contains(st.Message, want) {
			t.Errorf("message %q lacks %q", st.Message, want)
		}
	}
	if !strings.Contains(st.Summary, string(reconcile.ReasonTreasureUnauthorized)) {
		t.Errorf("summary %q does not say why the source stalled", st.Summary)
	}
	if strings.Contains(h.statusBody(t), tdKey) {
		t.Error("/status carries the API key")
	}
	if m := h.metrics(t); !strings.Contains(m, `reconciler_source_stalled{source="retail"} 1`) {
		t.Errorf("stalled gauge not set:\n%s", grep(m, "reconciler_source_stalled"))
	}
}

// TestDaemonStallsOnRefusedOAuthSecret points the warehouse at a token URL
// that refuses the client secret: the first run stalls after one token
// exchange, naming the secret's configuration field, never its value.
func TestDaemonStallsOnRefusedOAuthSecret(t *testing.T) {
	const secret = "wrong-client-secret-0815"
	var exchanges atomic.Int32
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		exchanges.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client"})
	}))
	t.Cleanup(tokens.Close)
	h := newHarnessOpts(t, harnessOptions{
		dbxAuth: `oauth: {clientId: "sp-client", clientSecret: env: "DBX_SECRET", tokenUrl: "` + tokens.URL + `"}`,
		env:     map[string]string{"DBX_SECRET": secret},
	})
	st := h.waitFor(t, "the first run", func(s SourceStatus) bool { return s.LastRun != nil && !s.Running })
	if !st.Stalled || st.Reason != reconcile.ReasonWarehouseUnauthorized {
		t.Fatalf("stalled %v, reason %q, result %s; want stalled (%s)", st.Stalled, st.Reason, st.LastRun.Result,
			reconcile.ReasonWarehouseUnauthorized)
	}
	if !st.NextRetry.IsZero() {
		t.Errorf("a retry is scheduled at %s for a refused secret", st.NextRetry)
	}
	if n := exchanges.Load(); n != 1 {
		t.Errorf("%d token exchanges, want 1", n)
	}
	if !strings.Contains(st.Message, `databricks.oauth.clientSecret (env:DBX_SECRET) of client id "sp-client"`) {
		t.Errorf("message %q does not name the secret's field", st.Message)
	}
	if strings.Contains(h.statusBody(t), secret) || strings.Contains(h.logs.String(), secret) {
		t.Error("the client secret reached /status or the logs")
	}
	if m := h.metrics(t); !strings.Contains(m, "reconciler_warehouse_up 0") {
		t.Errorf("warehouse_up not 0:\n%s", grep(m, "reconciler_warehouse_up"))
	}
}
