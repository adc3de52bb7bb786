package treasure

import (
	"context"
	"testing"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

func TestUpdatesAndMoves(t *testing.T) {
	e := newEnv(t, noLimit)
	ctx := context.Background()
	p := e.mustParent(t, "Retail")
	a, _ := e.c.CreateFolder(ctx, p.Meta.ID, p.RootFolderID, &segment.Folder{Parent: "Retail", Path: "A"})
	b, _ := e.c.CreateFolder(ctx, p.Meta.ID, p.RootFolderID, &segment.Folder{Parent: "Retail", Path: "B"})
	s, err := e.c.CreateSegment(ctx, p.Meta.ID, a.Meta.ID, &segment.Segment{Name: "S", Parent: "Retail", Folder: "A", Rule: valueRule("country", "JP")})
	if err != nil {
		t.Fatal(err)
	}
	// Move B under A and rename it; move S into it with a new rule.
	nb, err := e.c.UpdateFolder(ctx, b.Meta.ID, &segment.Folder{Parent: "Retail", Path: "A/Bee", Description: "moved", ParentFolderID: a.Meta.ID})
	if err != nil {
		t.Fatal(err)
	}
	if nb.ParentFolderID != a.Meta.ID || !nb.Meta.Owned {
		t.Errorf("moved folder = %+v", nb)
	}
	ns, err := e.c.UpdateSegment(ctx, s.Meta.ID, b.Meta.ID, &segment.Segment{Name: "S2", Parent: "Retail", Folder: "A/Bee", Rule: valueRule("country", "FR")})
	if err != nil {
		t.Fatal(err)
	}
	if ns.FolderID != b.Meta.ID || ns.Name != "S2" || !ns.Meta.UpdatedAt.After(s.Meta.UpdatedAt) {
		t.Errorf("updated segment = %+v", ns)
	}
	e.srv.ResetLog()
	st, err := e.c.Observe(ctx, []string{"Retail"})
	if err != nil {
		t.Fatal(err)
	}
	if n := count(e.srv.Requests(), "GET", "/entities/segments/"); n != 0 {
		t.Errorf("observe after own update read %d details; the written rule should be cached", n)
	}
	if len(st.Folders) != 2 || st.Folders[1].Path != "A/Bee" || st.Folders[1].Description != "moved" {
		t.Errorf("folders = %+v", st.Folders)
	}
	if len(st.Segments) != 1 || st.Segments[0].Folder != "A/Bee" || st.Segments[0].Rule.Conditions[0].Conditions[0].Operator.RightValue.Str != "FR" {
		t.Errorf("segments = %+v", st.Segments)
	}
	// Renaming a parent to a taken name: the {base: [...]} answer.
	e.mustParent(t, "Other")
	q := retailParent("Other")
	q.ConnectionID = connID
	if _, err := e.c.UpdateParent(ctx, p.Meta.ID, q); ReasonOf(err) != ReasonConflict {
		t.Errorf("rename to a taken name: %v", err)
	}
	// A folder cannot move into itself.
	if _, err := e.c.UpdateFolder(ctx, a.Meta.ID, &segment.Folder{Path: "A", ParentFolderID: b.Meta.ID}); ReasonOf(err) != ReasonValidation {
		t.Errorf("cycle: %v", err)
	}
}
