package plan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/pkg/segment"
	"github.com/google/go-cmp/cmp"
)

func TestComputeDriftAndDeleteRules(t *testing.T) {
	p := parent()
	op := parent()
	op.Meta = owned("1")
	vip := seg("VIP", "", valueRule("ltv", 1000))
	byUser := func(user string) segment.Segment {
		m := owned("20")
		m.UpdatedBy = user
		return withMeta(seg("VIP", "", valueRule("ltv", 1)), m)
	}
	other := segment.Parent{Name: "Other", Timezone: "UTC", Connection: "dbx", Meta: owned("2")}
	otherSeg := withMeta(segment.Segment{Name: "X", Parent: "Other", Kind: segment.Batch, Rule: valueRule("ltv", 1)}, owned("30"))
	otherFolder := segment.Folder{Parent: "Other", Path: "F", Meta: owned("31")}

	tests := map[string]struct {
		desired, observed segment.State
		opts              func(*Options)
		want              []string
	}{
		"a change written by another user is drift": {
			desired:  segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{vip}},
			observed: segment.State{Parents: []segment.Parent{op}, Segments: []segment.Segment{byUser("alice")}},
			opts:     func(o *Options) { o.Principal = "reconciler" },
			want:     []string{"no-op parent Retail", "update segment Retail/VIP [drift]"},
		},
		"a change last written by the reconciler is not drift, even on the same revision": {
			desired:  segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{vip}},
			observed: segment.State{Parents: []segment.Parent{op}, Segments: []segment.Segment{byUser("reconciler")}},
			opts: func(o *Options) {
				o.Principal = "reconciler"
				o.SameRevision = true
				o.LastApplied = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			},
			want: []string{"no-op parent Retail", "update segment Retail/VIP"},
		},
		"a new revision without principal or time is a plain update": {
			desired:  segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{vip}},
			observed: segment.State{Parents: []segment.Parent{op}, Segments: []segment.Segment{byUser("alice")}},
			want:     []string{"no-op parent Retail", "update segment Retail/VIP"},
		},
		"drift in report mode is held, other changes go ahead": {
			desired:  segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{vip, seg("New", "", valueRule("ltv", 3))}},
			observed: segment.State{Parents: []segment.Parent{op}, Segments: []segment.Segment{byUser("alice")}},
			opts: func(o *Options) {
				o.Principal = "reconciler"
				o.Drift = DriftReport
			},
			want: []string{"no-op parent Retail", "create segment Retail/New", "update segment Retail/VIP [blocked] [drift]"},
		},
		"an observed preventDestroy blocks the delete": {
			desired: segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{vip}},
			observed: segment.State{Parents: []segment.Parent{op}, Segments: []segment.Segment{withMeta(vip, owned("20")), func() segment.Segment {
				s := withMeta(seg("Keep", "", valueRule("ltv", 1)), owned("21"))
				s.Lifecycle.PreventDestroy = true
				return s
			}()}},
			want: []string{"no-op parent Retail", "no-op segment Retail/VIP", "delete segment Retail/Keep [blocked]"},
		},
		"objects of a parent segment gone from the repository stay without allowParentDelete": {
			desired:  segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{vip}},
			observed: segment.State{Parents: []segment.Parent{op, other}, Folders: []segment.Folder{otherFolder}, Segments: []segment.Segment{withMeta(vip, owned("20")), otherSeg}},
			want: []string{"no-op parent Retail", "no-op segment Retail/VIP", "delete segment Other/X [blocked]",
				"delete folder Other/F [blocked]", "delete parent Other [blocked]"},
		},
		"a parent segment gone from the repository goes with its objects when allowed": {
			desired:  segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{vip}},
			observed: segment.State{Parents: []segment.Parent{op, other}, Folders: []segment.Folder{otherFolder}, Segments: []segment.Segment{withMeta(vip, owned("20")), otherSeg}},
			opts:     func(o *Options) { o.Prune.AllowParentDelete = true },
			want: []string{"no-op parent Retail", "no-op segment Retail/VIP", "delete segment Other/X",
				"delete folder Other/F", "delete parent Other"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			opts := defaultOpts()
			if tc.opts != nil {
				tc.opts(&opts)
			}
			pl := Compute(tc.desired, tc.observed, opts)
			if diff := cmp.Diff(tc.want, actions(pl)); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
			for _, c := range pl.Changes {
				if c.Action == Delete && c.Blocked != "" && pl.PruneBlocked == "" && !strings.Contains(c.Blocked, "prune") && !strings.Contains(c.Blocked, "preventDestroy") {
					t.Errorf("%s blocked without a reason naming the setting: %q", c.Ref(), c.Blocked)
				}
			}
		})
	}
}

func TestDriftNamesWhoAndWhen(t *testing.T) {
	m := owned("20")
	m.UpdatedBy = "alice"
	m.UpdatedAt = time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	pl := Compute(segment.State{Parents: []segment.Parent{parent()}, Segments: []segment.Segment{seg("VIP", "", valueRule("ltv", 1000))}},
		segment.State{Parents: []segment.Parent{withParentMeta(parent(), owned("1"))}, Segments: []segment.Segment{withMeta(seg("VIP", "", valueRule("ltv", 1)), m)}},
		func() Options { o := defaultOpts(); o.Principal = "reconciler"; return o }())
	var txt bytes.Buffer
	if err := WriteText(&txt, pl, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(txt.String(), "drift: changed outside the reconciler by alice at 2026-11-20 09:30:00 UTC") {
		t.Errorf("drift line missing:\n%s", txt.String())
	}
	if s := pl.Summary(); s.Drift != 1 || s.Change != 1 {
		t.Errorf("summary %+v", s)
	}
}

func withParentMeta(p segment.Parent, m segment.Meta) segment.Parent { p.Meta = m; return p }

func TestErroredPlans(t *testing.T) {
	p := parent()
	tests := map[string]struct {
		desired, observed segment.State
		want              string
	}{
		"duplicate segment": {
			desired: segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{seg("A", "", valueRule("ltv", 1)), seg("A", "", valueRule("ltv", 2))}},
			want:    `segment "Retail/A" is declared more than once`,
		},
		"duplicate parent": {
			desired: segment.State{Parents: []segment.Parent{p, p}},
			want:    `parent segment "Retail" is declared more than once`,
		},
		"reference to a segment that exists nowhere": {
			desired: segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{seg("A", "", refRule("Ghost", false))}},
			want:    `segment "Retail/A" references segment "Ghost", which exists neither in the repository nor in Treasure Data`,
		},
		"reference cycle": {
			desired: segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{seg("A", "", refRule("B", false)), seg("B", "", refRule("A", true))}},
			want:    `segments of parent segment "Retail" reference each other in a cycle: "A" -> "B" -> "A"`,
		},
		"segment in a folder that exists nowhere": {
			desired: segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{seg("A", "Nowhere", valueRule("ltv", 1))}},
			want:    `segment "Retail/A": folder "Nowhere" exists neither in the repository nor in Treasure Data`,
		},
		"folder below a folder that exists nowhere": {
			desired: segment.State{Parents: []segment.Parent{p}, Folders: []segment.Folder{{Parent: parentName, Path: "A/B"}}},
			want:    `folder "Retail/A/B": containing folder "A" exists neither in the repository nor in Treasure Data`,
		},
		"segment of a parent segment that exists nowhere": {
			desired: segment.State{Segments: []segment.Segment{seg("A", "", valueRule("ltv", 1))}},
			want:    `segment "Retail/A": parent segment "Retail" exists neither in the repository nor in Treasure Data`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			pl := Compute(tc.desired, tc.observed, defaultOpts())
			if !pl.Errored || pl.Applyable || !contains(pl.Errors, tc.want) {
				t.Fatalf("Errored=%v Applyable=%v Errors=%q, want %q", pl.Errored, pl.Applyable, pl.Errors, tc.want)
			}
			var txt, js bytes.Buffer
			if err := WriteText(&txt, pl, TextOptions{}); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(txt.String(), "Error: "+tc.want) || !strings.Contains(txt.String(), "Plan cannot be applied") {
				t.Errorf("text lacks the error:\n%s", txt.String())
			}
			if err := WriteJSON(&js, pl, false); err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Applyable, Errored bool
				Errors             []string
			}
			if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Applyable || !doc.Errored || !contains(doc.Errors, tc.want) {
				t.Errorf("json: %s", js.String())
			}
		})
	}
	// A reference to a segment that only Treasure holds is fine: apply
	// resolves its id from the observed state.
	op := parent()
	op.Meta = owned("1")
	pl := Compute(segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{seg("A", "", refRule("Hand made", false))}},
		segment.State{Parents: []segment.Parent{op}, Segments: []segment.Segment{withMeta(seg("Hand made", "", valueRule("ltv", 1)), segment.Meta{ID: "9"})}},
		defaultOpts())
	if pl.Errored || !pl.Applyable {
		t.Errorf("reference to an observed segment: Errors=%q", pl.Errors)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestTypedAccessors(t *testing.T) {
	op := withParentMeta(parent(), owned("1"))
	pl := Compute(segment.State{Parents: []segment.Parent{parent()}, Folders: []segment.Folder{{Parent: parentName, Path: "F"}},
		Segments: []segment.Segment{seg("A", "F", valueRule("ltv", 2))}},
		segment.State{Parents: []segment.Parent{op}, Segments: []segment.Segment{withMeta(seg("A", "", valueRule("ltv", 1)), owned("20"))}}, defaultOpts())
	for i := range pl.Changes {
		c := &pl.Changes[i]
		switch c.Kind {
		case KindParent:
			if b, a := c.Parents(); b == nil || a == nil || b.Meta.ID != "1" {
				t.Errorf("Parents() = %v, %v", b, a)
			}
		case KindFolder:
			if b, a := c.Folders(); b != nil || a == nil || a.Path != "F" {
				t.Errorf("Folders() = %v, %v", b, a)
			}
			if b, a := c.Segments(); b != nil || a != nil {
				t.Error("Segments() of a folder change")
			}
		case KindSegment:
			if b, a := c.Segments(); b == nil || a == nil || b.Folder != "" || a.Folder != "F" {
				t.Errorf("Segments() = %v, %v", b, a)
			}
		}
	}
}
