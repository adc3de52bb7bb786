package reconcile_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/reconcile"
	"github.com/cas-reconciler/reconciler/pkg/catalog"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// countingCatalog answers every table with columns id and ltv, or as not
// found when missing is set, and counts its snapshots.
type countingCatalog struct {
	mu        sync.Mutex
	snapshots int
	missing   bool
}

func (c *countingCatalog) Snapshot(ctx context.Context, tables []segment.Table) (*catalog.Catalog, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.snapshots++
	cat := &catalog.Catalog{Principal: "sp", Tables: map[string]*catalog.Table{}}
	for _, t := range tables {
		ct := &catalog.Table{Name: t, Found: !c.missing, Access: catalog.Access{Checked: true}}
		if ct.Found {
			ct.Columns = []catalog.Column{{Name: "id", Type: "string", ION: segment.String, Supported: true},
				{Name: "ltv", Type: "double", ION: segment.Number, Supported: true}}
		}
		cat.Tables[catalog.Key(t)] = ct
	}
	return cat, nil
}

func TestUnitRecheckSkipsTheWarehouseForAPassedRevision(t *testing.T) {
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	cat := &countingCatalog{}
	loader := &fixedLoader{state: unitState("A")}
	r := unitReconciler(loader, newRemote())
	r.Catalog, r.Recheck, r.Now = cat, time.Hour, func() time.Time { return now }
	run := func(rev string) (*reconcile.Result, error) {
		return r.Run(context.Background(), reconcile.Snapshot{Revision: rev, FS: memFS.FS}, reconcile.Mode{})
	}
	snapshots := func() int { cat.mu.Lock(); defer cat.mu.Unlock(); return cat.snapshots }

	if _, err := run("r1"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(30 * time.Minute)
	res, err := run("r1")
	if err != nil || snapshots() != 1 || !res.WarehouseSkipped() {
		t.Fatalf("same revision within Recheck: err %v, %d snapshots, skipped %v; want 1 snapshot", err, snapshots(), res.WarehouseSkipped())
	}
	// Another table set (a config or loader change) is checked.
	loader.state = unitState("A", "B")
	loader.state.Parents[1].Customers.Table.Table = "other"
	if _, err := run("r1"); err != nil || snapshots() != 2 {
		t.Fatalf("new tables: err %v, %d snapshots, want 2", err, snapshots())
	}
	// A new revision is checked.
	if _, err := run("r2"); err != nil || snapshots() != 3 {
		t.Fatalf("new revision: err %v, %d snapshots, want 3", err, snapshots())
	}
	// After the interval the same revision is checked again.
	now = now.Add(time.Hour)
	if _, err := run("r2"); err != nil || snapshots() != 4 {
		t.Fatalf("after Recheck: err %v, %d snapshots, want 4", err, snapshots())
	}
	// A check that found problems is never reused.
	cat.missing = true
	now = now.Add(2 * time.Hour)
	var st *reconcile.Stalled
	if _, err := run("r3"); !errors.As(err, &st) || st.Reason != reconcile.ReasonWarehouseMismatch {
		t.Fatalf("missing tables: %v, want stalled (%s)", err, reconcile.ReasonWarehouseMismatch)
	}
	if _, err := run("r3"); !errors.As(err, &st) || snapshots() != 6 {
		t.Fatalf("failed check reused: %v, %d snapshots, want 6", err, snapshots())
	}
	// Recheck zero checks every run.
	cat.missing, r.Recheck = false, 0
	_, _ = run("r4")
	_, _ = run("r4")
	if snapshots() != 8 {
		t.Errorf("Recheck 0: %d snapshots, want 8", snapshots())
	}
}
