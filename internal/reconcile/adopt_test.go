//go:build cgo

package reconcile_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cas-reconciler/reconciler/internal/reconcile"
	"github.com/cas-reconciler/reconciler/internal/standin/tdstandin"
	"github.com/cas-reconciler/reconciler/pkg/plan"
)

// withLifecycle adds a lifecycle to segment "Top Spenders".
func withLifecycle(lc string) func(string) string {
	return func(s string) string {
		return strings.Replace(s, `"Top Spenders": {`, `"Top Spenders": {
		lifecycle: `+lc, 1)
	}
}

// TestAdoptTakesOnlyUnownedObjects: a segment owned by another source is a
// conflict even with adopt: true; adopt: {from: <that source>} takes it
// over, and the marker then names this source.
func TestAdoptTakesOnlyUnownedObjects(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.r.Run(ctx, snap(retail, "r1"), reconcile.Mode{}); err != nil {
		t.Fatal(err)
	}
	var id string
	for _, s := range e.td.Segments() {
		if s.Name == "Top Spenders" {
			id = s.ID
		}
	}
	// Another source's segment of the same name, different from the
	// repository.
	if err := e.td.ModifySegment(id, "team-b", func(s *tdstandin.Segment) {
		s.Description = "theirs\n\n[managed-by: cas-reconciler source=team-b]"
	}); err != nil {
		t.Fatal(err)
	}
	find := func(res *reconcile.Result) *plan.Change {
		for i := range res.Plan.Changes {
			if c := &res.Plan.Changes[i]; c.Kind == plan.KindSegment && c.Key.Name == "Top Spenders" {
				return c
			}
		}
		t.Fatal("no change for Top Spenders")
		return nil
	}
	before := e.writes()
	res, err := e.r.Run(ctx, reconcile.Snapshot{Revision: "r2",
		FS: edited(t, retail, "segments/marketing.cue", withLifecycle("adopt: true"))}, reconcile.Mode{})
	if err != nil {
		t.Fatalf("run with adopt: true: %v", err)
	}
	if c := find(res); c.Action != plan.Conflict || c.ConflictBy != plan.ConflictOtherOwner || !strings.Contains(c.Reason, `from: "team-b"`) {
		t.Fatalf("with adopt: true: %+v", c)
	}
	if e.writes() != before {
		t.Errorf("%d writes for a conflict", e.writes()-before)
	}
	res, err = e.r.Run(ctx, reconcile.Snapshot{Revision: "r3",
		FS: edited(t, retail, "segments/marketing.cue", withLifecycle(`adopt: from: "team-c"`))}, reconcile.Mode{})
	if err != nil {
		t.Fatalf("run with adopt from team-c: %v", err)
	}
	if c := find(res); c.Action != plan.Conflict || c.ConflictBy != plan.ConflictAdoptFromMismatch {
		t.Fatalf("with adopt from another source: %+v", c)
	}
	res, err = e.r.Run(ctx, reconcile.Snapshot{Revision: "r4",
		FS: edited(t, retail, "segments/marketing.cue", withLifecycle(`adopt: from: "team-b"`))}, reconcile.Mode{})
	if err != nil {
		t.Fatalf("run with adopt from team-b: %v", err)
	}
	if c := find(res); c.Action != plan.Update || !c.Adopt {
		t.Fatalf("with adopt from team-b: %+v", c)
	}
	for _, s := range e.td.Segments() {
		if s.ID == id && !strings.Contains(s.Description, "source=retail ") {
			t.Errorf("description after the takeover: %q", s.Description)
		}
	}
}
