package reconcile_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/reconcile"
	"github.com/cas-reconciler/reconciler/pkg/catalog"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// countingCatalog answers every table with columns id and ltv, or as not
// found when missing is set, every requested key as unique unless it is in
// duplicate, and counts its reads.
type countingCatalog struct {
	mu        sync.Mutex
	snapshots int
	missing   bool
	duplicate map[string]bool // by catalog.KeyID
	last      catalog.Request
}

func (c *countingCatalog) Read(ctx context.Context, req catalog.Request) (*catalog.Catalog, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.snapshots++
	c.last = req
	cat := &catalog.Catalog{Principal: "sp", Tables: map[string]*catalog.Table{}}
	for _, t := range req.Tables {
		ct := &catalog.Table{Name: t, Found: !c.missing, Access: catalog.Access{Checked: true}}
		if ct.Found {
			ct.Columns = []catalog.Column{{Name: "id", Type: "string", ION: segment.String, Supported: true},
				{Name: "ltv", Type: "double", ION: segment.Number, Supported: true}}
		}
		cat.Tables[catalog.Key(t)] = ct
	}
	for _, k := range req.Keys {
		if cat.Keys == nil {
			cat.Keys = map[string]catalog.Uniqueness{}
		}
		id := catalog.KeyID(k.Table, k.Key)
		u := catalog.Uniqueness{Rows: 10, Distinct: 10}
		if c.duplicate[id] {
			u.Distinct = 9
		}
		cat.Keys[id] = u
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

// TestUnitUniquenessIsAskedOfTheCatalog: with RequireUniqueKeys the
// request names every customers key of the desired state and a duplicate
// key the catalog reports stalls the run; without it no key is asked.
func TestUnitUniquenessIsAskedOfTheCatalog(t *testing.T) {
	cat := &countingCatalog{}
	r := unitReconciler(&fixedLoader{state: unitState("A")}, newRemote())
	r.Catalog = cat
	run := func() error {
		_, err := r.Run(context.Background(), reconcile.Snapshot{Revision: "r1", FS: memFS.FS}, reconcile.Mode{DryRun: true})
		return err
	}
	if err := run(); err != nil || len(cat.last.Keys) != 0 {
		t.Fatalf("without RequireUniqueKeys: err %v, keys asked %v", err, cat.last.Keys)
	}

	r.Validate.RequireUniqueKeys = true
	if err := run(); err != nil {
		t.Fatal(err)
	}
	want := unitState("A").Parents[0].Customers
	if len(cat.last.Keys) != 1 || cat.last.Keys[0] != want {
		t.Fatalf("keys asked %v, want %v", cat.last.Keys, want)
	}
	cat.duplicate = map[string]bool{catalog.KeyID(want.Table, want.Key): true}
	var st *reconcile.Stalled
	err := run()
	if !errors.As(err, &st) || st.Reason != reconcile.ReasonWarehouseMismatch || !strings.Contains(err.Error(), "not unique") {
		t.Fatalf("duplicate key: %v, want stalled (%s) on a key that is not unique", err, reconcile.ReasonWarehouseMismatch)
	}
}
