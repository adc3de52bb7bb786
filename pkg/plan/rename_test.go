package plan

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

func changeOf(t *testing.T, p *Plan, kind Kind, name string) *Change {
	t.Helper()
	for i := range p.Changes {
		if c := &p.Changes[i]; c.Kind == kind && c.Key.Name == name {
			return c
		}
	}
	t.Fatalf("no change of %s %q in %v", kind, name, actions(p))
	return nil
}

func noDeletes(t *testing.T, p *Plan) {
	t.Helper()
	for _, c := range p.Changes {
		if c.Action == Delete {
			t.Errorf("delete of %s %q planned", c.Kind, c.Key.Name)
		}
	}
}

// TestSegmentRename: a segment whose renamedFrom names an owned segment
// observed under that name is one update of the same id, the name the only
// difference, and segments referencing it by its old name are unchanged.
func TestSegmentRename(t *testing.T) {
	p, op := parent(), withParentMeta(parent(), owned("1"))
	renamedSeg := seg("Big Spenders", "", valueRule("ltv", 1000))
	renamedSeg.RenamedFrom = []string{"Gone", "VIP"}
	ref := seg("Not VIP", "", refRule("Big Spenders", true))
	desired := segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{renamedSeg, ref}}
	observed := segment.State{Parents: []segment.Parent{op}, Segments: []segment.Segment{
		withMeta(seg("VIP", "", valueRule("ltv", 1000)), owned("7")),
		withMeta(seg("Not VIP", "", refRule("VIP", true)), owned("8")),
	}}
	pl := Compute(desired, observed, defaultOpts())
	c := changeOf(t, pl, KindSegment, "Big Spenders")
	if c.Action != Update || c.ID != "7" || c.RenamedFrom != "VIP" || len(c.Diff) != 1 || c.Diff[0] != (FieldDiff{Path: "name", Before: "VIP", After: "Big Spenders"}) {
		t.Errorf("renamed segment: %+v", c)
	}
	if r := changeOf(t, pl, KindSegment, "Not VIP"); r.Action != NoOp {
		t.Errorf("referencing segment: %+v, want unchanged", r)
	}
	noDeletes(t, pl)
	if pl.IDs.Segments[parentName]["Big Spenders"] != "7" {
		t.Errorf("ids %v: the new name does not resolve to the renamed segment", pl.IDs.Segments)
	}
	var text bytes.Buffer
	if err := WriteText(&text, pl, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), `~ segment "Big Spenders" (renamed from "VIP") {`) {
		t.Errorf("text plan:\n%s", text.String())
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, pl, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js.String(), `"renamed_from": "VIP"`) {
		t.Errorf("JSON plan:\n%s", js.String())
	}

	// An earlier name of a segment the reconciler does not own, or one the
	// repository still declares, is no rename.
	observed.Segments[0].Meta = segment.Meta{ID: "7"}
	pl = Compute(desired, observed, defaultOpts())
	if c := changeOf(t, pl, KindSegment, "Big Spenders"); c.Action != Create || c.RenamedFrom != "" {
		t.Errorf("rename of an unowned segment: %+v, want a create", c)
	}
}

// TestFolderRename: a renamed folder is one update of its id; the folders
// and segments below it keep theirs without a change, and nothing is
// deleted. A segment's fingerprint, which covers its folder path, is
// compared as written, so a repository change of a segment in a renamed
// folder is not drift.
func TestFolderRename(t *testing.T) {
	p, op := parent(), withParentMeta(parent(), owned("1"))
	b := segment.Folder{Parent: parentName, Path: "Marketing", RenamedFrom: []string{"Mkt"}}
	bx := segment.Folder{Parent: parentName, Path: "Marketing/VIP", RenamedFrom: []string{"Mkt/Top"}}
	s := seg("Loyal", "Marketing/VIP", valueRule("ltv", 10))
	s.Description = "changed in the repository"
	written := seg("Loyal", "Mkt/Top", valueRule("ltv", 10))
	m := owned("30")
	m.UpdatedBy = ""
	m.Fingerprint = Fingerprint(&written)
	desired := segment.State{Parents: []segment.Parent{p}, Folders: []segment.Folder{b, bx,
		{Parent: parentName, Path: "Marketing/VIP/Inner"}}, Segments: []segment.Segment{s}}
	observed := segment.State{Parents: []segment.Parent{op}, Folders: []segment.Folder{
		{Parent: parentName, Path: "Mkt", Meta: owned("3")},
		{Parent: parentName, Path: "Mkt/Top", Meta: owned("4")},
		{Parent: parentName, Path: "Mkt/Top/Inner", Meta: owned("5")},
	}, Segments: []segment.Segment{withMeta(written, m)}}
	opts := defaultOpts()
	opts.Drift = DriftReport
	pl := Compute(desired, observed, opts)
	if c := changeOf(t, pl, KindFolder, "Marketing"); c.Action != Update || c.ID != "3" || c.RenamedFrom != "Mkt" {
		t.Errorf("renamed folder: %+v", c)
	}
	if c := changeOf(t, pl, KindFolder, "Marketing/VIP"); c.Action != Update || c.ID != "4" || c.RenamedFrom != "Mkt/Top" {
		t.Errorf("renamed subfolder: %+v", c)
	}
	if c := changeOf(t, pl, KindFolder, "Marketing/VIP/Inner"); c.Action != NoOp || c.ID != "5" {
		t.Errorf("folder below a renamed one: %+v, want unchanged", c)
	}
	c := changeOf(t, pl, KindSegment, "Loyal")
	if c.Action != Update || c.ID != "30" || len(c.Diff) != 1 || c.Diff[0].Path != "description" || c.Drift != nil || !c.Applies() {
		t.Errorf("segment in a renamed folder: %+v, want an applied description update", c)
	}
	noDeletes(t, pl)
}

// TestLooksLikeARename: a delete and a create of segments with the same
// rule say that renamedFrom would keep the id.
func TestLooksLikeARename(t *testing.T) {
	p, op := parent(), withParentMeta(parent(), owned("1"))
	desired := segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{seg("New", "", valueRule("ltv", 5)), seg("Other", "", valueRule("ltv", 6))}}
	observed := segment.State{Parents: []segment.Parent{op}, Segments: []segment.Segment{withMeta(seg("Old", "", valueRule("ltv", 5)), owned("9"))}}
	pl := Compute(desired, observed, defaultOpts())
	cr, del := changeOf(t, pl, KindSegment, "New"), changeOf(t, pl, KindSegment, "Old")
	if cr.Action != Create || cr.LooksRenamedFrom != "Old" || !strings.Contains(cr.Reason, `renamedFrom: ["Old"]`) {
		t.Errorf("create: %+v", cr)
	}
	if del.Action != Delete || del.LooksRenamedTo != "New" {
		t.Errorf("delete: %+v", del)
	}
	if o := changeOf(t, pl, KindSegment, "Other"); o.LooksRenamedFrom != "" {
		t.Errorf("a create with another rule is paired: %+v", o)
	}
}
