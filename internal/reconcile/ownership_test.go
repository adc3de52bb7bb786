//go:build cgo

package reconcile_test

import (
	"context"
	"os"
	"testing"
	"testing/fstest"

	"github.com/cas-reconciler/reconciler/internal/reconcile"
	"github.com/cas-reconciler/reconciler/pkg/plan"
)

// withoutParent is the retail repository with its parent segment and
// segments removed.
func withoutParent(t *testing.T) reconcile.Snapshot {
	t.Helper()
	mod, err := os.ReadFile(retail + "/cue.mod/module.cue")
	if err != nil {
		t.Fatal(err)
	}
	return reconcile.Snapshot{Revision: "r2", FS: fstest.MapFS{"cue.mod/module.cue": {Data: mod}}}
}

// TestRemovedParentIsSeenAfterARestart: a parent segment removed from the
// repository shows as a blocked delete in a reconciler that never saw it
// declared (a restarted daemon, the CLI), because ownership is read from
// Treasure.
func TestRemovedParentIsSeenAfterARestart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.r.Run(ctx, snap(retail, "r1"), reconcile.Mode{}); err != nil {
		t.Fatal(err)
	}
	fresh := newEnvReconciler(e)
	res, err := fresh.Run(ctx, withoutParent(t), reconcile.Mode{})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	var parent *plan.Change
	others := 0
	for i := range res.Plan.Changes {
		c := &res.Plan.Changes[i]
		switch {
		case c.Kind == plan.KindParent:
			parent = c
		case c.Action == plan.Delete && c.BlockedBy == plan.BlockParentDelete:
			others++
		}
	}
	if parent == nil || parent.Action != plan.Delete || parent.BlockedBy != plan.BlockParentDelete {
		t.Fatalf("parent change = %+v, want a delete blocked by %s (%s)", parent, plan.BlockParentDelete, plan.SummaryLine(res.Plan))
	}
	if others == 0 {
		t.Error("the parent segment's folders and segments are not blocked deletes")
	}
	if len(e.td.Parents()) != 1 {
		t.Error("the parent segment was deleted")
	}
	// A parent segment of another source is not this source's to delete.
	other := newEnvReconciler(e)
	other.Plan.Owner = "other"
	other.Remote = newClientOwner(t, e.td, "other")
	res, err = other.Run(ctx, withoutParent(t), reconcile.Mode{DryRun: true})
	if err != nil || len(res.Plan.Changes) != 0 {
		t.Errorf("another source plans %s (%v)", plan.SummaryLine(res.Plan), err)
	}
}
