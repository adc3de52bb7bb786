package treasure

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/cas-reconciler/reconciler/pkg/segment"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var ignoreObserved = cmpopts.IgnoreFields(segment.Parent{}, "ConnectionID", "RootFolderID", "Meta", "Origin", "CustomersName")

func TestParentLifecycle(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	got := e.mustParent(t, "Retail")
	if got.Meta.ID == "" || got.RootFolderID == "" {
		t.Fatalf("created parent lacks ids: %+v", got.Meta)
	}
	if !got.Meta.Owned || got.Meta.OwnerSource != testOwner {
		t.Errorf("ownership = %v %q, want owned by %q", got.Meta.Owned, got.Meta.OwnerSource, testOwner)
	}
	want := retailParent("Retail")
	if d := cmp.Diff(want, got, ignoreObserved); d != "" {
		t.Errorf("observed parent differs from desired (-want +got):\n%s", d)
	}
	if got.ConnectionID != connID || got.CustomersName != "customers" {
		t.Errorf("connection id %q, customers name %q", got.ConnectionID, got.CustomersName)
	}
	stored := e.srv.Parents()[0]
	if stored.Description != "Retail customers\n\n[managed-by: cas-reconciler source=retail]" {
		t.Errorf("stored description = %q", stored.Description)
	}
	oldIDs := map[string]string{}
	for _, a := range stored.Attributes {
		oldIDs[a.Name] = a.ID
	}

	// Full replace: rename an attribute, drop a behavior.
	upd := retailParent("Retail")
	upd.ConnectionID = connID
	upd.Attributes[0].Name = "email_address"
	upd.Behaviors = upd.Behaviors[:1]
	got2, err := e.c.UpdateParent(ctx, got.Meta.ID, upd)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(upd, got2, ignoreObserved); d != "" {
		t.Errorf("updated parent differs (-want +got):\n%s", d)
	}
	for _, a := range e.srv.Parents()[0].Attributes {
		if a.ID == oldIDs[a.Name] {
			t.Errorf("attribute %s kept id %s across a full replace", a.Name, a.ID)
		}
	}
	if err := e.c.DeleteParent(ctx, got.Meta.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.GetParent(ctx, got.Meta.ID); ReasonOf(err) != ReasonNotFound {
		t.Fatalf("GetParent after delete: %v, want not_found", err)
	}
}

func TestObserveFoldersAndSegments(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	p := e.mustParent(t, "Retail")
	mk, err := e.c.CreateFolder(ctx, p.Meta.ID, p.RootFolderID, &segment.Folder{Parent: "Retail", Path: "Marketing", Description: "campaigns"})
	if err != nil {
		t.Fatal(err)
	}
	vip, err := e.c.CreateFolder(ctx, p.Meta.ID, mk.Meta.ID, &segment.Folder{Parent: "Retail", Path: "Marketing/VIP"})
	if err != nil {
		t.Fatal(err)
	}
	gold := &segment.Segment{Name: "Gold", Parent: "Retail", Folder: "Marketing/VIP", Kind: segment.Batch, Rule: valueRule("country", "JP")}
	g, err := e.c.CreateSegment(ctx, p.Meta.ID, vip.Meta.ID, gold)
	if err != nil {
		t.Fatal(err)
	}
	notGold := &segment.Segment{Name: "Not gold", Description: "everyone else", Parent: "Retail", Kind: segment.Batch,
		Rule: refRule(g.Meta.ID, "Gold", true)}
	if _, err := e.c.CreateSegment(ctx, p.Meta.ID, p.RootFolderID, notGold); err != nil {
		t.Fatal(err)
	}

	// Observe with a fresh client: nothing cached, rules come from details.
	fresh := e.client(t, func(o *Options) {})
	st, err := fresh.Observe(ctx, []string{"Retail", "Missing"})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Parents) != 1 || st.Parents[0].Name != "Retail" {
		t.Fatalf("parents = %+v", st.Parents)
	}
	var paths []string
	for _, f := range st.Folders {
		paths = append(paths, f.Path)
		if !f.Meta.Owned || f.Parent != "Retail" {
			t.Errorf("folder %s: owned %v parent %q", f.Path, f.Meta.Owned, f.Parent)
		}
	}
	if d := cmp.Diff([]string{"Marketing", "Marketing/VIP"}, paths); d != "" {
		t.Errorf("folder paths (-want +got):\n%s", d)
	}
	if st.Folders[0].Description != "campaigns" || st.Folders[1].ParentFolderID != mk.Meta.ID {
		t.Errorf("folders = %+v", st.Folders)
	}
	if len(st.Segments) != 2 {
		t.Fatalf("segments = %+v", st.Segments)
	}
	// Sorted by folder then name: root ("") first.
	ng, gd := st.Segments[0], st.Segments[1]
	if ng.Name != "Not gold" || ng.Folder != "" || ng.Description != "everyone else" || ng.FolderID != p.RootFolderID {
		t.Errorf("root segment = %+v", ng)
	}
	if gd.Folder != "Marketing/VIP" || gd.FolderID != vip.Meta.ID || gd.Meta.UpdatedBy != "api-user" {
		t.Errorf("gold = %+v", gd)
	}
	opts := cmpopts.IgnoreFields(segment.Condition{}, "Origin")
	if d := cmp.Diff(gold.Rule, gd.Rule, opts); d != "" {
		t.Errorf("gold rule (-want +got):\n%s", d)
	}
	ref := ng.Rule.Conditions[0].Conditions[0]
	if ref.ID != g.Meta.ID || ref.Segment != "Gold" || !ref.Exclude {
		t.Errorf("reference condition = %+v, want id %s segment Gold exclude", ref, g.Meta.ID)
	}
	// The stand-in stored no segment name, only the id.
	for _, s := range e.srv.Segments() {
		if s.Name != "Not gold" {
			continue
		}
		var r struct {
			Conditions []struct {
				Conditions []map[string]any `json:"conditions"`
			} `json:"conditions"`
		}
		if err := json.Unmarshal(s.Rule, &r); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"type": "Reference", "exclude": true, "id": g.Meta.ID}
		if d := cmp.Diff(want, r.Conditions[0].Conditions[0]); d != "" {
			t.Errorf("stored reference (-want +got):\n%s", d)
		}
	}
}
