package treasure

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/standin/tdstandin"
	"github.com/cas-reconciler/reconciler/pkg/segment"
	"github.com/google/go-cmp/cmp"
)

// populate creates folders × perFolder segments under p, the first segment
// of each folder referencing the very first segment.
func populate(t testing.TB, e *env, p *segment.Parent, folders, perFolder int) {
	t.Helper()
	ctx := context.Background()
	first := ""
	for i := range folders {
		f, err := e.c.CreateFolder(ctx, p.Meta.ID, p.RootFolderID, &segment.Folder{Parent: p.Name, Path: fmt.Sprintf("F%03d", i)})
		if err != nil {
			t.Fatal(err)
		}
		for j := range perFolder {
			rule := valueRule("country", fmt.Sprintf("C%d", j))
			if first != "" && j == 0 {
				rule = refRule(first, "S000-000", false)
			}
			s, err := e.c.CreateSegment(ctx, p.Meta.ID, f.Meta.ID, &segment.Segment{Name: fmt.Sprintf("S%03d-%03d", i, j), Parent: p.Name, Rule: rule})
			if err != nil {
				t.Fatal(err)
			}
			if first == "" {
				first = s.Meta.ID
			}
		}
	}
}

// TestObserveRequestCount checks the request budget: an unchanged tree
// costs one listing per parent, a changed segment one detail read more,
// and list responses (whose rules are empty) are never used as rules.
func TestObserveRequestCount(t *testing.T) {
	e := newEnv(t, noLimit)
	ctx := context.Background()
	p := e.mustParent(t, "Retail")
	populate(t, e, p, 20, 10)

	obs := e.client(t, func(o *Options) {}) // a separate client: the daemon's observer
	e.srv.ResetLog()
	st, err := obs.Observe(ctx, []string{"Retail"})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Segments) != 200 || len(st.Folders) != 20 {
		t.Fatalf("observed %d segments %d folders", len(st.Segments), len(st.Folders))
	}
	if n := count(e.srv.Requests(), "GET", "/entities/segments/"); n != 200 {
		t.Errorf("first observe read %d details, want 200", n)
	}
	for _, s := range st.Segments {
		if s.Rule.IsEmpty() {
			t.Fatalf("segment %s observed with an empty rule", s.Name)
		}
		if c := s.Rule.Conditions[0].Conditions[0]; c.Type == segment.ReferenceCondition && c.Segment != "S000-000" {
			t.Errorf("segment %s: reference resolved to %q", s.Name, c.Segment)
		}
	}

	e.srv.ResetLog()
	st2, err := obs.Observe(ctx, []string{"Retail"})
	if err != nil {
		t.Fatal(err)
	}
	reqs := e.srv.Requests()
	if len(reqs) != 2 {
		t.Errorf("unchanged observe made %d requests, want 2 (list, by-folder; the parent is unchanged): %v", len(reqs), reqs)
	}
	if d := cmp.Diff(st, st2); d != "" {
		t.Errorf("a cached observe differs from the first one:\n%s", d)
	}
	// A rule a caller replaces in one observation does not reach the
	// cache (observed rules share the cache's storage: they are replaced,
	// never changed in place, see Client.cached).
	for i := range st2.Segments {
		st2.Segments[i].Rule = segment.Rule{Type: "changed"}
	}
	again, err := obs.Observe(ctx, []string{"Retail"})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(st, again); d != "" {
		t.Errorf("changing an observation changed the cache:\n%s", d)
	}

	// Someone edits one segment by hand.
	target := st.Segments[57]
	err = e.srv.ModifySegment(target.Meta.ID, "alice", func(s *tdstandin.Segment) {
		s.Rule = json.RawMessage(`{"type":"Or","conditions":[{"type":"And","conditions":[{"type":"Value","leftValue":{"name":"country"},"operator":{"type":"Equal","not":false,"rightValue":"FR"},"arrayMatching":null,"exclude":false}]}]}`)
	})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.ResetLog()
	st3, err := obs.Observe(ctx, []string{"Retail"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(e.srv.Requests()); n != 3 {
		t.Errorf("observe after one change made %d requests, want 3", n)
	}
	for _, s := range st3.Segments {
		if s.Meta.ID != target.Meta.ID {
			continue
		}
		if s.Rule.Type != "Or" || s.Meta.UpdatedBy != "alice" || !s.Meta.UpdatedAt.After(target.Meta.UpdatedAt) {
			t.Errorf("drifted segment observed as %+v / %+v", s.Rule, s.Meta)
		}
	}

	// Someone edits the parent segment by hand: its updatedAt in the
	// listing moves, so it is read again.
	e.clock.Advance(time.Second)
	if err := e.srv.ModifyParent(p.Meta.ID, "alice", func(p *tdstandin.Parent) { p.Timezone = "Asia/Tokyo" }); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetLog()
	st4, err := obs.Observe(ctx, []string{"Retail"})
	if err != nil {
		t.Fatal(err)
	}
	if n := count(e.srv.Requests(), "GET", "/audiences/"); n != 1 {
		t.Errorf("observe after a hand edit of the parent read it %d times, want 1", n)
	}
	if len(st4.Parents) != 1 || st4.Parents[0].Timezone != "Asia/Tokyo" {
		t.Errorf("hand-edited parent observed as %+v", st4.Parents)
	}
	// And after the reconciler's own write, too (whatever the clock says).
	up := retailParent("Retail")
	up.ConnectionID = connID
	if _, err := obs.UpdateParent(ctx, p.Meta.ID, up); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetLog()
	st5, err := obs.Observe(ctx, []string{"Retail"})
	if err != nil {
		t.Fatal(err)
	}
	if n := count(e.srv.Requests(), "GET", "/audiences/"); n != 1 || st5.Parents[0].Timezone != "UTC" {
		t.Errorf("observe after an update: %d parent reads, timezone %q; want 1, UTC", n, st5.Parents[0].Timezone)
	}
}

// TestConnectionTTL: a resolved connection is reused for
// Options.ConnectionTTL, then resolved again.
func TestConnectionTTL(t *testing.T) {
	e := newEnv(t, noLimit)
	ctx := context.Background()
	for range 3 {
		if id, err := e.c.ResolveConnection(ctx, connName); err != nil || id != connID {
			t.Fatalf("resolve: %q, %v", id, err)
		}
	}
	if n := count(e.srv.Requests(), "GET", "/v3/connections/lookup"); n != 1 {
		t.Errorf("%d lookups within the TTL, want 1", n)
	}
	e.clock.Advance(DefaultConnectionTTL)
	if _, err := e.c.ResolveConnection(ctx, connName); err != nil {
		t.Fatal(err)
	}
	if n := count(e.srv.Requests(), "GET", "/v3/connections/lookup"); n != 2 {
		t.Errorf("%d lookups after the TTL, want 2", n)
	}
}

func TestObserveDeepTree(t *testing.T) {
	e := newEnv(t, func(o *Options) { noLimit(o); o.ByFolderDepth = 2 })
	ctx := context.Background()
	p := e.mustParent(t, "Retail")
	parentID, path := p.RootFolderID, ""
	for i := range 5 {
		path = strings.TrimPrefix(path+"/L"+fmt.Sprint(i), "/")
		f, err := e.c.CreateFolder(ctx, p.Meta.ID, parentID, &segment.Folder{Parent: "Retail", Path: path})
		if err != nil {
			t.Fatal(err)
		}
		parentID = f.Meta.ID
	}
	if _, err := e.c.CreateSegment(ctx, p.Meta.ID, parentID, &segment.Segment{Name: "deep", Rule: valueRule("country", "JP")}); err != nil {
		t.Fatal(err)
	}
	st, err := e.c.Observe(ctx, []string{"Retail"})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Folders) != 5 || st.Folders[4].Path != "L0/L1/L2/L3/L4" {
		t.Fatalf("folders = %+v", st.Folders)
	}
	if len(st.Segments) != 1 || st.Segments[0].Folder != "L0/L1/L2/L3/L4" {
		t.Fatalf("segments = %+v", st.Segments)
	}
}

func TestObserveOwnershipAndDrift(t *testing.T) {
	e := newEnv(t, noLimit)
	ctx := context.Background()
	p := e.mustParent(t, "Retail")
	f, _ := e.c.CreateFolder(ctx, p.Meta.ID, p.RootFolderID, &segment.Folder{Parent: "Retail", Path: "Mine", Description: "kept"})
	// An object made by hand in the console carries no marker.
	hand := e.client(t, func(o *Options) { o.Owner = "other-repo" })
	if _, err := hand.CreateFolder(ctx, p.Meta.ID, p.RootFolderID, &segment.Folder{Parent: "Retail", Path: "Theirs"}); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.ModifyFolder(f.Meta.ID, "bob", func(f *tdstandin.Folder) { f.Description = "edited by hand" }); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.ModifyParent(p.Meta.ID, "carol", func(p *tdstandin.Parent) { p.Timezone = "Asia/Tokyo" }); err != nil {
		t.Fatal(err)
	}
	st, err := e.c.Observe(ctx, []string{"Retail"})
	if err != nil {
		t.Fatal(err)
	}
	mine, theirs := st.Folders[0], st.Folders[1]
	if mine.Meta.Owned || mine.Description != "edited by hand" || mine.Meta.UpdatedBy != "bob" {
		t.Errorf("hand-edited folder (marker removed) = %+v", mine)
	}
	if !theirs.Meta.Owned || theirs.Meta.OwnerSource != "other-repo" {
		t.Errorf("other source's folder = %+v", theirs.Meta)
	}
	if got := st.Parents[0]; got.Timezone != "Asia/Tokyo" || got.Meta.UpdatedBy != "carol" || !got.Meta.Owned {
		t.Errorf("drifted parent = %+v %+v", got.Timezone, got.Meta)
	}
}

func TestMarkerRoundTrip(t *testing.T) {
	for _, desc := range []string{"", "one line", "two\n\nparagraphs", "ends with newline\n"} {
		w := withMarker(desc, "repo/main", "")
		clean, mk := splitMarker(w)
		if !mk.owned || mk.owner != "repo/main" || clean != strings.TrimRight(desc, "\n") {
			t.Errorf("%q → %q → %q %+v", desc, w, clean, mk)
		}
		if again := withMarker(w, "repo/main", ""); again != w {
			t.Errorf("marking twice: %q", again)
		}
	}
	if _, mk := splitMarker("mentions [managed-by: cas-reconciler source=x] in the middle"); mk.owned {
		t.Error("a marker in the middle of text counts")
	}
	// With a fingerprint, and the older forms without one.
	for w, want := range map[string]marker{
		withMarker("d", "repo/main", "0123456789abcdef"):             {owned: true, owner: "repo/main", fingerprint: "0123456789abcdef"},
		"d\n\n[managed-by: cas-reconciler source=repo/main]":         {owned: true, owner: "repo/main"},
		"d\n\n[managed-by: cas-reconciler]":                          {owned: true},
		"d\n\n[managed-by: cas-reconciler source=a hash=00ff00ff00]": {owned: true, owner: "a", fingerprint: "00ff00ff00"},
	} {
		if clean, mk := splitMarker(w); mk != want || clean != "d" {
			t.Errorf("%q → %q %+v, want %+v", w, clean, mk, want)
		}
	}
}

// TestObserveResponseTooLarge checks that a listing above
// MaxResponseBytes fails the observe with an error that names the option,
// and that the default leaves room.
func TestObserveResponseTooLarge(t *testing.T) {
	e := newEnv(t, noLimit)
	p := e.mustParent(t, "Retail")
	populate(t, e, p, 4, 10)
	small := e.client(t, func(o *Options) { o.MaxResponseBytes = 4096 })
	_, err := small.Observe(context.Background(), []string{"Retail"})
	if err == nil || !strings.Contains(err.Error(), "response larger than 4096 bytes (raise treasure.maxResponseBytes)") {
		t.Fatalf("observe with a 4 KiB bound: %v", err)
	}
	want, err := e.c.Observe(context.Background(), []string{"Retail"})
	if err != nil {
		t.Fatalf("observe with the default bound: %v", err)
	}
	// The largest bound does not overflow into reading nothing.
	huge := e.client(t, func(o *Options) { o.MaxResponseBytes = math.MaxInt64 })
	got, err := huge.Observe(context.Background(), []string{"Retail"})
	if err != nil || len(got.Segments) != len(want.Segments) || len(want.Segments) != 40 {
		t.Errorf("observe with a MaxInt64 bound: %d segments (default bound: %d), err %v", len(got.Segments), len(want.Segments), err)
	}
}
