package treasure

import (
	"context"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/standin/tdstandin"
	"github.com/cas-reconciler/reconciler/pkg/plan"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// TestDocumentedOnlyParent runs a parent segment through a stand-in that
// answers only the published ComposableAudience fields: the root folder
// comes from the parentSegment resource (once per parent), the fields
// Treasure left out are reported unknown, and plan sees no change.
func TestDocumentedOnlyParent(t *testing.T) {
	srv, err := tdstandin.New(tdstandin.Options{MasterKeys: []string{testKey}, Connections: map[string]string{connName: connID},
		DocumentedOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c, err := New(Options{APIKey: testKey, Owner: testOwner, CDPURL: srv.URL(), CASURL: srv.URL(), ClassicURL: srv.URL(),
		RateLimit: -1, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want := retailParent("Retail")
	want.CustomersName = "Profiles"
	if want.ConnectionID, err = c.ResolveConnection(ctx, connName); err != nil {
		t.Fatal(err)
	}
	got, err := c.CreateParent(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	if got.RootFolderID == "" {
		t.Fatal("no root folder id")
	}
	for _, path := range []string{segment.UnknownCustomersName, segment.AttributePath("country", segment.UnknownGroup),
		segment.AttributePath("visit_spend", segment.UnknownCatalog), segment.BehaviorPath("orders", segment.UnknownCatalog)} {
		if got.Meta.Known(path) {
			t.Errorf("%s is reported known; unknown: %v", path, got.Meta.Unknown)
		}
	}
	for _, path := range []string{segment.UnknownDescription, segment.AttributePath("ltv", segment.UnknownType), segment.BehaviorPath("orders", segment.UnknownTime)} {
		if !got.Meta.Known(path) {
			t.Errorf("%s is reported unknown, but the schema documents it", path)
		}
	}
	f, err := c.CreateFolder(ctx, got.Meta.ID, got.RootFolderID, &segment.Folder{Parent: "Retail", Path: "Email"})
	if err != nil {
		t.Fatal(err)
	}
	s := segment.Segment{Parent: "Retail", Folder: "Email", Name: "One", Kind: segment.Batch, Rule: valueRule("email", "a@example.com")}
	if _, err := c.CreateSegment(ctx, got.Meta.ID, f.Meta.ID, &s); err != nil {
		t.Fatal(err)
	}
	desired := segment.State{Parents: []segment.Parent{*want}, Folders: []segment.Folder{{Parent: "Retail", Path: "Email"}}, Segments: []segment.Segment{s}}
	for run := range 2 {
		before := len(srv.Requests())
		observed, err := c.Observe(ctx, []string{"Retail"})
		if err != nil {
			t.Fatalf("observe %d: %v", run, err)
		}
		if p := plan.Compute(desired, observed, plan.Options{Owner: testOwner}); p.HasChanges() {
			t.Errorf("observe %d: plan has changes: %+v", run, p.Changes)
		}
		if n := count(srv.Requests()[before:], "GET", "/entities/parent_segments/"); n != 0 {
			t.Errorf("observe %d: %d parentSegment reads, want 0 (the root folder is kept from the create)", run, n)
		}
	}
	// A new client (a restart) reads the root folder once.
	c2, err := New(c.o)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := c2.Observe(ctx, []string{"Retail"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(srv.Requests(), "GET", "/entities/parent_segments/"); n != 2 {
		t.Errorf("%d parentSegment reads in all, want 2 (one at create, one after the restart)", n)
	}
}
