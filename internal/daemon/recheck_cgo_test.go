//go:build cgo

package daemon

import (
	"net/http"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// A no-op run of an unchanged revision within databricks.recheck (default
// 1h) sends the warehouse nothing, so that it can auto-stop; once the
// interval has passed, and for every new revision, the check runs again.
func TestDaemonRechecksTheWarehouseOnlyAfterTheInterval(t *testing.T) {
	clk := &clock{now: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	h := newHarnessOpts(t, harnessOptions{shutdown: 20 * time.Second, now: clk.Now})
	first := h.waitFor(t, "the first run", func(s SourceStatus) bool { return s.LastRun != nil })
	if first.LastRun.Result != "success" {
		t.Fatalf("first run = %+v (reason %s: %s)", first.LastRun, first.Reason, first.Message)
	}
	checked := len(h.dbx.Statements())
	if checked == 0 {
		t.Fatal("the first run sent the warehouse no statement")
	}

	run := func(what string) SourceStatus {
		t.Helper()
		id := h.status(t).LastRun.ID
		resp, err := http.Post(h.base+"/api/v1/sources/retail/reconcile", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("reconcile = %d", resp.StatusCode)
		}
		st := h.waitFor(t, what, func(s SourceStatus) bool { return s.LastRun.ID != id && !s.Running })
		if st.LastRun.Result != "success" || st.Plan == nil || st.Plan.ChangesTotal != 0 {
			t.Fatalf("%s: %+v, plan %+v (reason %s: %s)", what, st.LastRun, st.Plan, st.Reason, st.Message)
		}
		return st
	}

	clk.Add(59 * time.Minute)
	writes := h.writes()
	run("a no-op run within the interval")
	if n := len(h.dbx.Statements()); n != checked {
		t.Errorf("a no-op run of the same revision within the recheck interval sent %d warehouse statements:\n%q",
			n-checked, h.dbx.Statements()[checked:])
	}
	if h.writes() != writes {
		t.Errorf("the no-op run wrote to Treasure")
	}

	clk.Add(2 * time.Minute)
	run("a run after the interval")
	after := len(h.dbx.Statements())
	if after == checked {
		t.Error("a run after the recheck interval did not check the warehouse")
	}

	// A new revision is checked at once, even within the interval.
	rev := h.repo.Commit(t, "document it", map[string]string{"NOTES.md": "retail segments\n"})
	if code := h.push(t, rev); code != http.StatusAccepted && code != http.StatusOK {
		t.Fatalf("webhook answered %d", code)
	}
	h.waitFor(t, "the new revision", func(s SourceStatus) bool { return s.Revision == rev && !s.Running && s.LastRun.Result == "success" })
	if len(h.dbx.Statements()) == after {
		t.Error("a new revision was not checked against the warehouse")
	}
}
