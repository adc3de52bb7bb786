package plan

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/pkg/segment"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

const parentName = "Retail"

func owned(id string) segment.Meta {
	return segment.Meta{ID: id, Owned: true, OwnerSource: "git", UpdatedBy: "reconciler",
		UpdatedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
}

func parent() segment.Parent {
	return segment.Parent{Name: parentName, Timezone: "UTC", Connection: "dbx",
		Customers:  segment.KeyedTable{Table: segment.Table{Catalog: "c", Schema: "s", Table: "customers"}, Key: "id"},
		Attributes: []segment.Attribute{{Name: "ltv", Column: "ltv", Type: segment.Number}},
		Behaviors: []segment.Behavior{{Name: "orders", Table: segment.Table{Catalog: "c", Schema: "s", Table: "orders"},
			Key: "id", Time: "t", Columns: []segment.Column{{Name: "amount", Type: segment.Number}}}}}
}

func valueRule(attr string, n float64) segment.Rule {
	v := segment.NumberOf(n)
	return segment.Rule{Type: "And", Conditions: []segment.ConditionSet{{Type: "And", Conditions: []segment.Condition{{
		Type: "Value", LeftValue: &segment.LeftValue{Name: attr},
		Operator: &segment.Operator{Type: segment.GreaterEqual, RightValue: &v}}}}}}
}

func refRule(name string, exclude bool) segment.Rule {
	return segment.Rule{Type: "And", Conditions: []segment.ConditionSet{{Type: "And", Conditions: []segment.Condition{{
		Type: "Reference", Segment: name, Exclude: exclude}}}}}
}

func seg(name, folder string, r segment.Rule) segment.Segment {
	return segment.Segment{Name: name, Parent: parentName, Folder: folder, Kind: segment.Batch, Rule: r}
}

func withMeta(s segment.Segment, m segment.Meta) segment.Segment { s.Meta = m; return s }

func defaultOpts() Options {
	return Options{Owner: "git", Prune: PruneOptions{Enabled: true}, Drift: DriftCorrect}
}

// actions renders the applicable changes as "action kind key" lines.
func actions(p *Plan) []string {
	var out []string
	for _, c := range p.Changes {
		line := c.Action.String() + " " + string(c.Kind) + " " + c.Key.String()
		if c.Blocked != "" {
			line += " [blocked]"
		}
		if c.Drift != nil {
			line += " [drift]"
		}
		if c.Adopt {
			line += " [adopt]"
		}
		out = append(out, line)
	}
	return out
}

func TestCompute(t *testing.T) {
	p := parent()
	op := parent()
	op.Meta = owned("1")
	op.RootFolderID = "10"
	vip := seg("VIP", "Marketing", valueRule("ltv", 1000))
	churn := seg("Churn", "", valueRule("ltv", 1))
	notChurn := seg("Not Churn", "", refRule("Churn", true))
	mkt := segment.Folder{Parent: parentName, Path: "Marketing"}
	omkt := mkt
	omkt.Meta = owned("11")

	tests := map[string]struct {
		desired, observed segment.State
		opts              func(*Options)
		want              []string
	}{
		"everything new, in dependency order": {
			desired: segment.State{Parents: []segment.Parent{p}, Folders: []segment.Folder{mkt},
				Segments: []segment.Segment{notChurn, vip, churn}},
			want: []string{"create parent Retail", "create folder Retail/Marketing", "create segment Retail/Churn",
				"create segment Retail/VIP", "create segment Retail/Not Churn"},
		},
		"nothing to do": {
			desired:  segment.State{Parents: []segment.Parent{p}, Folders: []segment.Folder{mkt}, Segments: []segment.Segment{vip}},
			observed: segment.State{Parents: []segment.Parent{op}, Folders: []segment.Folder{omkt}, Segments: []segment.Segment{withMeta(vip, owned("20"))}},
			want:     []string{"no-op parent Retail", "no-op folder Retail/Marketing", "no-op segment Retail/VIP"},
		},
		"rule change is an update": {
			desired:  segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{seg("VIP", "", valueRule("ltv", 2000))}},
			observed: segment.State{Parents: []segment.Parent{op}, Segments: []segment.Segment{withMeta(seg("VIP", "", valueRule("ltv", 1000)), owned("20"))}},
			want:     []string{"no-op parent Retail", "update segment Retail/VIP"},
		},
		"number formatting is not a change": {
			desired: segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{vip}},
			observed: segment.State{Parents: []segment.Parent{op}, Segments: []segment.Segment{withMeta(func() segment.Segment {
				s := seg("VIP", "Marketing", valueRule("ltv", 1000))
				s.Rule.Conditions[0].Conditions[0].Operator.RightValue.Num = "1000.0"
				s.Description = "  "
				return s
			}(), owned("20"))}},
			want: []string{"no-op parent Retail", "no-op segment Retail/VIP"},
		},
		"reference by id and by name compare equal": {
			desired: segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{churn, notChurn}},
			observed: segment.State{Parents: []segment.Parent{op}, Segments: []segment.Segment{withMeta(churn, owned("20")), withMeta(func() segment.Segment {
				s := seg("Not Churn", "", refRule("Churn", true))
				s.Rule.Conditions[0].Conditions[0].ID = "20"
				return s
			}(), owned("21"))}},
			want: []string{"no-op parent Retail", "no-op segment Retail/Churn", "no-op segment Retail/Not Churn"},
		},
		"parent change is a full replace": {
			desired: segment.State{Parents: []segment.Parent{func() segment.Parent {
				q := parent()
				q.Attributes = append(q.Attributes, segment.Attribute{Name: "email", Column: "email"})
				return q
			}()}},
			observed: segment.State{Parents: []segment.Parent{op}},
			opts:     func(o *Options) { o.Prune.AllowParentReplace = true },
			want:     []string{"replace parent Retail"},
		},
		"parent replace needs prune.allowParentReplace": {
			desired: segment.State{Parents: []segment.Parent{func() segment.Parent {
				q := parent()
				q.Timezone = "Asia/Tokyo"
				return q
			}()}},
			observed: segment.State{Parents: []segment.Parent{op}},
			want:     []string{"replace parent Retail [blocked]"},
		},
		"types left to the warehouse match any observed type": {
			desired: segment.State{Parents: []segment.Parent{func() segment.Parent {
				q := parent()
				q.Attributes[0].Type = ""
				q.Behaviors[0].Columns[0].Type = ""
				return q
			}()}},
			observed: segment.State{Parents: []segment.Parent{op}},
			want:     []string{"no-op parent Retail"},
		},
		"unowned object is a conflict": {
			desired:  segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{vip}},
			observed: segment.State{Parents: []segment.Parent{op}, Segments: []segment.Segment{withMeta(seg("VIP", "", valueRule("ltv", 5)), segment.Meta{ID: "20"})}},
			want:     []string{"no-op parent Retail", "conflict segment Retail/VIP"},
		},
		"owned by another source is a conflict": {
			desired:  segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{vip}},
			observed: segment.State{Parents: []segment.Parent{op}, Segments: []segment.Segment{withMeta(vip, segment.Meta{ID: "20", Owned: true, OwnerSource: "other"})}},
			want:     []string{"no-op parent Retail", "conflict segment Retail/VIP"},
		},
		"adopt takes over an unowned object": {
			desired: segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{func() segment.Segment {
				s := vip
				s.Lifecycle.Adopt = true
				return s
			}()}},
			observed: segment.State{Parents: []segment.Parent{op}, Segments: []segment.Segment{withMeta(seg("VIP", "Marketing", valueRule("ltv", 5)), segment.Meta{ID: "20"})}},
			want:     []string{"no-op parent Retail", "update segment Retail/VIP [adopt]"},
		},
		"an adopted object that matches is left alone": {
			desired: segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{func() segment.Segment {
				s := vip
				s.Lifecycle.Adopt = true
				return s
			}()}},
			observed: segment.State{Parents: []segment.Parent{op}, Segments: []segment.Segment{withMeta(vip, segment.Meta{ID: "20"})}},
			want:     []string{"no-op parent Retail", "no-op segment Retail/VIP"},
		},
		"unowned folder is used as it is": {
			desired:  segment.State{Parents: []segment.Parent{p}, Folders: []segment.Folder{{Parent: parentName, Path: "Marketing", Description: "x"}}},
			observed: segment.State{Parents: []segment.Parent{op}, Folders: []segment.Folder{mkt}},
			want:     []string{"no-op parent Retail", "no-op folder Retail/Marketing"},
		},
		"deletes come last, referencing segments first, folders after segments": {
			desired: segment.State{Parents: []segment.Parent{p}, Folders: []segment.Folder{mkt}, Segments: []segment.Segment{vip}},
			observed: segment.State{Parents: []segment.Parent{op}, Folders: []segment.Folder{omkt, {Parent: parentName, Path: "Old", Meta: owned("12")}},
				Segments: []segment.Segment{withMeta(vip, owned("20")), withMeta(churn, owned("21")), withMeta(notChurn, owned("22"))}},
			want: []string{"no-op parent Retail", "no-op folder Retail/Marketing", "no-op segment Retail/VIP",
				"delete segment Retail/Not Churn", "delete segment Retail/Churn", "delete folder Retail/Old"},
		},
		"unowned objects are never deleted": {
			desired:  segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{vip}},
			observed: segment.State{Parents: []segment.Parent{op}, Segments: []segment.Segment{withMeta(vip, owned("20")), withMeta(churn, segment.Meta{ID: "21"})}},
			want:     []string{"no-op parent Retail", "no-op segment Retail/VIP"},
		},
		"inhibited deletes are blocked": {
			desired:  segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{vip}},
			observed: segment.State{Parents: []segment.Parent{op}, Segments: []segment.Segment{withMeta(vip, owned("20")), withMeta(churn, owned("21"))}},
			opts:     func(o *Options) { o.InhibitDeletes = "apply failed" },
			want:     []string{"no-op parent Retail", "no-op segment Retail/VIP", "delete segment Retail/Churn [blocked]"},
		},
		"pruning disabled blocks deletes": {
			desired:  segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{vip}},
			observed: segment.State{Parents: []segment.Parent{op}, Segments: []segment.Segment{withMeta(vip, owned("20")), withMeta(churn, owned("21"))}},
			opts:     func(o *Options) { o.Prune.Enabled = false },
			want:     []string{"no-op parent Retail", "no-op segment Retail/VIP", "delete segment Retail/Churn [blocked]"},
		},
		"an empty repository deletes nothing": {
			desired:  segment.State{Parents: []segment.Parent{p}},
			observed: segment.State{Parents: []segment.Parent{op}, Segments: []segment.Segment{withMeta(vip, owned("20")), withMeta(churn, owned("21"))}},
			want:     []string{"no-op parent Retail", "delete segment Retail/Churn [blocked]", "delete segment Retail/VIP [blocked]"},
		},
		"an empty repository may delete everything when allowed": {
			desired:  segment.State{Parents: []segment.Parent{p}},
			observed: segment.State{Parents: []segment.Parent{op}, Segments: []segment.Segment{withMeta(vip, owned("20"))}},
			opts:     func(o *Options) { o.Prune.AllowEmpty = true },
			want:     []string{"no-op parent Retail", "delete segment Retail/VIP"},
		},
		"delete count cap blocks every delete": {
			desired: segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{vip}},
			observed: segment.State{Parents: []segment.Parent{op}, Segments: []segment.Segment{withMeta(vip, owned("20")),
				withMeta(churn, owned("21")), withMeta(notChurn, owned("22"))}},
			opts: func(o *Options) { o.Prune.MaxDeletes = 1 },
			want: []string{"no-op parent Retail", "no-op segment Retail/VIP", "delete segment Retail/Not Churn [blocked]",
				"delete segment Retail/Churn [blocked]"},
		},
		"delete percent cap blocks every delete": {
			desired:  segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{vip}},
			observed: segment.State{Parents: []segment.Parent{op}, Segments: []segment.Segment{withMeta(vip, owned("20")), withMeta(churn, owned("21"))}},
			opts:     func(o *Options) { o.Prune.MaxDeletePercent = 40 },
			want:     []string{"no-op parent Retail", "no-op segment Retail/VIP", "delete segment Retail/Churn [blocked]"},
		},
		"protected objects are never deleted": {
			desired:  segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{vip}},
			observed: segment.State{Parents: []segment.Parent{op}, Segments: []segment.Segment{withMeta(vip, owned("20")), withMeta(churn, owned("21"))}},
			opts: func(o *Options) {
				o.Protect = []Object{{Kind: KindSegment, Key: segment.Key{Parent: parentName, Name: "Churn"}}}
			},
			want: []string{"no-op parent Retail", "no-op segment Retail/VIP", "delete segment Retail/Churn [blocked]"},
		},
		"parent delete needs its own opt-in": {
			observed: segment.State{Parents: []segment.Parent{op}},
			want:     []string{"delete parent Retail [blocked]"},
		},
		"parent delete when allowed": {
			observed: segment.State{Parents: []segment.Parent{op}},
			opts:     func(o *Options) { o.Prune.AllowParentDelete = true },
			want:     []string{"delete parent Retail"},
		},
		"drift on an unchanged revision is corrected": {
			desired:  segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{vip}},
			observed: segment.State{Parents: []segment.Parent{op}, Segments: []segment.Segment{withMeta(seg("VIP", "Marketing", valueRule("ltv", 1)), owned("20"))}},
			opts:     func(o *Options) { o.SameRevision = true },
			want:     []string{"no-op parent Retail", "update segment Retail/VIP [drift]"},
		},
		"drift after the last apply is only reported in report mode": {
			desired:  segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{vip}},
			observed: segment.State{Parents: []segment.Parent{op}, Segments: []segment.Segment{withMeta(seg("VIP", "Marketing", valueRule("ltv", 1)), owned("20"))}},
			opts: func(o *Options) {
				o.LastApplied = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
				o.Drift = DriftReport
			},
			want: []string{"no-op parent Retail", "update segment Retail/VIP [blocked] [drift]"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			opts := defaultOpts()
			if tc.opts != nil {
				tc.opts(&opts)
			}
			got := actions(Compute(tc.desired, tc.observed, opts))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestIDsIndexObservedObjects(t *testing.T) {
	op := parent()
	op.Meta, op.RootFolderID, op.ConnectionID = owned("1"), "10", "77"
	p := Compute(segment.State{}, segment.State{Parents: []segment.Parent{op},
		Folders:  []segment.Folder{{Parent: parentName, Path: "A", Meta: owned("11")}},
		Segments: []segment.Segment{withMeta(seg("S", "A", valueRule("ltv", 1)), owned("20"))}}, defaultOpts())
	if p.IDs.Parents[parentName] != "1" || p.IDs.RootFolders[parentName] != "10" || p.IDs.Folders[parentName]["A"] != "11" ||
		p.IDs.Segments[parentName]["S"] != "20" || p.IDs.Connections[parentName] != "77" {
		t.Errorf("IDs = %+v", p.IDs)
	}
}

func goldenPlan() *Plan {
	p := parent()
	op := parent()
	op.Meta = owned("1")
	op.Description = "old"
	p.Description = "new"
	vip := seg("VIP", "Marketing", valueRule("ltv", 1000))
	drifted := withMeta(seg("VIP", "Marketing", valueRule("ltv", 10)), owned("20"))
	drifted.Meta.UpdatedBy = "alice"
	drifted.Meta.UpdatedAt = time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	opts := defaultOpts()
	opts.SameRevision = true
	opts.Principal = "reconciler"
	opts.Protect = []Object{{Kind: KindSegment, Key: segment.Key{Parent: parentName, Name: "Kept"}}}
	opts.Prune.AllowParentReplace = true
	return Compute(
		segment.State{Parents: []segment.Parent{p}, Folders: []segment.Folder{{Parent: parentName, Path: "Marketing"}, {Parent: parentName, Path: "Marketing/New"}},
			Segments: []segment.Segment{vip, seg("Fresh", "Marketing/New", refRule("VIP", false)), seg("Hand made", "", valueRule("ltv", 4))}},
		segment.State{Parents: []segment.Parent{op}, Folders: []segment.Folder{{Parent: parentName, Path: "Marketing", Meta: owned("11")}},
			Segments: []segment.Segment{drifted, withMeta(seg("Gone", "", valueRule("ltv", 3)), owned("21")),
				withMeta(seg("Kept", "", valueRule("ltv", 5)), owned("23")),
				withMeta(seg("Hand made", "", valueRule("ltv", 3)), segment.Meta{ID: "22"})}},
		opts)
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", name, diff)
	}
}

func TestRenderGolden(t *testing.T) {
	p := goldenPlan()
	var text, color, js, md bytes.Buffer
	if err := WriteText(&text, p, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := WriteText(&color, p, TextOptions{Color: true}); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(&js, p, false); err != nil {
		t.Fatal(err)
	}
	if err := WriteMarkdown(&md, p, "", 0); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "plan.txt", text.Bytes())
	checkGolden(t, "plan.json", js.Bytes())
	checkGolden(t, "plan.md", md.Bytes())
	if strings.Contains(text.String(), "\x1b[") {
		t.Error("text without Color contains ANSI escapes")
	}
	if !strings.Contains(color.String(), "\x1b[32m+") {
		t.Error("coloured text lacks a green +")
	}
	if !strings.Contains(text.String(), "Plan: 2 to add, 1 to change, 1 to replace, 1 to destroy. (1 conflict(s), 1 blocked)") {
		t.Errorf("summary line missing:\n%s", text.String())
	}
}

func TestMarkdownIsCut(t *testing.T) {
	var segs []segment.Segment
	for i := 0; i < 400; i++ {
		segs = append(segs, seg(strings.Repeat("x", 50)+string(rune('a'+i%26))+strings.Repeat("y", i), "", valueRule("ltv", float64(i))))
	}
	p := Compute(segment.State{Parents: []segment.Parent{parent()}, Segments: segs}, segment.State{}, defaultOpts())
	var md bytes.Buffer
	if err := WriteMarkdown(&md, p, "", 5000); err != nil {
		t.Fatal(err)
	}
	if md.Len() > 5000 {
		t.Errorf("markdown is %d characters, limit 5000", md.Len())
	}
	if !strings.Contains(md.String(), "was cut") {
		t.Error("cut markdown lacks the note")
	}
}

func TestNoChangesLine(t *testing.T) {
	p := Compute(segment.State{}, segment.State{}, defaultOpts())
	if got := SummaryLine(p); got != "No changes. Treasure Data matches the repository." {
		t.Errorf("SummaryLine = %q", got)
	}
	if p.HasChanges() {
		t.Error("HasChanges on an empty plan")
	}
}

// TestProtectMatchesKind checks that protecting a segment does not protect a
// top-level folder of the same name (their keys are equal; kinds differ).
func TestProtectMatchesKind(t *testing.T) {
	opts := defaultOpts()
	opts.Prune.MaxDeletes, opts.Prune.MaxDeletePercent = 0, 0
	opts.Protect = []Object{{Kind: KindSegment, Key: segment.Key{Parent: parentName, Name: "VIP"}}}
	p := Compute(
		segment.State{Parents: []segment.Parent{parent()}, Segments: []segment.Segment{seg("Stay", "", valueRule("ltv", 1))}},
		segment.State{Parents: []segment.Parent{withParentMeta(parent(), owned("1"))},
			Folders: []segment.Folder{{Parent: parentName, Path: "VIP", Meta: owned("11")}},
			Segments: []segment.Segment{withMeta(seg("Stay", "", valueRule("ltv", 1)), owned("20")),
				withMeta(seg("VIP", "", valueRule("ltv", 2)), owned("21"))}},
		opts)
	got := map[string]string{}
	for _, ch := range p.Changes {
		if ch.Action == Delete {
			got[ch.Ref()] = ch.Blocked
		}
	}
	want := map[string]string{
		"segment:" + parentName + "/VIP": "protected by prune.protect",
		"folder:" + parentName + "/VIP":  "",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deletes (ref: blocked) differ (-want +got):\n%s", diff)
	}
}

// TestConnectionChange: the connection is compared by id once the desired
// name is resolved; a connection Treasure did not report is unknown, not a
// difference.
func TestConnectionChange(t *testing.T) {
	for _, tc := range []struct {
		name         string
		desiredID    string
		observedID   string
		observedName string
		want         Action
	}{
		{"same id", "7", "7", "", NoOp},
		{"another id", "8", "7", "", Replace},
		{"another id, observed name known", "8", "7", "dbx-old", Replace},
		{"observed id unknown", "8", "", "", NoOp},
		{"desired not resolved, same name", "", "7", "dbx", NoOp},
		{"desired not resolved, other name", "", "7", "dbx-old", Replace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, o := parent(), parent()
			d.ConnectionID = tc.desiredID
			o.Meta, o.ConnectionID, o.Connection = owned("1"), tc.observedID, tc.observedName
			p := Compute(segment.State{Parents: []segment.Parent{d}}, segment.State{Parents: []segment.Parent{o}}, defaultOpts())
			c := p.Changes[0]
			if c.Action != tc.want {
				t.Fatalf("action %s, want %s (diff %+v)", c.Action, tc.want, c.Diff)
			}
			if tc.want == Replace && (len(c.Diff) == 0 || c.Diff[0].Path != "connection") {
				t.Errorf("diff %+v does not name the connection", c.Diff)
			}
		})
	}
}

// TestAdoptOwnedByAnotherSource: adopt: true takes only unowned objects; an
// object of another source needs adopt: {from: <that source>}, and the
// refusal is a conflict with a closed reason.
func TestAdoptOwnedByAnotherSource(t *testing.T) {
	p, op := parent(), parent()
	op.Meta = owned("1")
	vip := seg("VIP", "", valueRule("ltv", 2000))
	theirs := withMeta(seg("VIP", "", valueRule("ltv", 5)), segment.Meta{ID: "20", Owned: true, OwnerSource: "other"})
	unowned := withMeta(seg("VIP", "", valueRule("ltv", 5)), segment.Meta{ID: "20"})
	for _, tc := range []struct {
		name     string
		lc       segment.Lifecycle
		observed segment.Segment
		action   Action
		reason   ConflictReason
	}{
		{"adopt true, another source's", segment.Lifecycle{Adopt: true}, theirs, Conflict, ConflictOtherOwner},
		{"no adopt, another source's", segment.Lifecycle{}, theirs, Conflict, ConflictOtherOwner},
		{"adopt from that source", segment.Lifecycle{Adopt: true, AdoptFrom: "other"}, theirs, Update, ""},
		{"adopt from that source, matching", segment.Lifecycle{Adopt: true, AdoptFrom: "other"},
			withMeta(vip, segment.Meta{ID: "20", Owned: true, OwnerSource: "other"}), Update, ""},
		{"adopt from a third source", segment.Lifecycle{Adopt: true, AdoptFrom: "third"}, theirs, Conflict, ConflictAdoptFromMismatch},
		{"adopt true, unowned", segment.Lifecycle{Adopt: true}, unowned, Update, ""},
		{"adopt from, unowned", segment.Lifecycle{Adopt: true, AdoptFrom: "other"}, unowned, Update, ""},
		{"no adopt, unowned", segment.Lifecycle{}, unowned, Conflict, ConflictUnowned},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := vip
			d.Lifecycle = tc.lc
			pl := Compute(segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{d}},
				segment.State{Parents: []segment.Parent{op}, Segments: []segment.Segment{tc.observed}}, defaultOpts())
			var c *Change
			for i := range pl.Changes {
				if pl.Changes[i].Kind == KindSegment {
					c = &pl.Changes[i]
				}
			}
			if c == nil || c.Action != tc.action || c.ConflictBy != tc.reason {
				t.Fatalf("change %+v, want %s (%q)", c, tc.action, tc.reason)
			}
			if tc.action == Update && !c.Adopt {
				t.Error("the update does not take ownership")
			}
			if owner := slices.ContainsFunc(c.Diff, func(d FieldDiff) bool { return d.Path == "owner" && d.Before == "other" && d.After == "git" }); owner != (tc.observed.Meta.OwnerSource == "other" && tc.action == Update) {
				t.Errorf("owner diff %v in %+v", owner, c.Diff)
			}
			if tc.action == Conflict && (c.Reason == "" || c.Applies()) {
				t.Errorf("conflict reason %q, applies %v", c.Reason, c.Applies())
			}
		})
	}
}

// TestDriftByFingerprint: a marker's fingerprint decides drift when there
// is one; without one (older markers) the earlier rules apply.
func TestDriftByFingerprint(t *testing.T) {
	p, op := parent(), parent()
	op.Meta = owned("1")
	written := seg("VIP", "", valueRule("ltv", 1000))
	desired := seg("VIP", "", valueRule("ltv", 2000))
	edited := seg("VIP", "", valueRule("ltv", 5))
	for _, tc := range []struct {
		name     string
		observed segment.Segment
		print    string
		same     bool
		drift    bool
	}{
		{"as written, repository moved", written, Fingerprint(&written), false, false},
		{"as written, same revision", written, Fingerprint(&written), true, false},
		{"edited by hand, no principal, no history", edited, Fingerprint(&written), false, true},
		{"older marker, no history", edited, "", false, false},
		{"older marker, same revision", edited, "", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := owned("20")
			m.UpdatedBy, m.Fingerprint = "", tc.print
			opts := defaultOpts()
			opts.Drift, opts.SameRevision = DriftReport, tc.same
			pl := Compute(segment.State{Parents: []segment.Parent{p}, Segments: []segment.Segment{desired}},
				segment.State{Parents: []segment.Parent{op}, Segments: []segment.Segment{withMeta(tc.observed, m)}}, opts)
			c := pl.Changes[len(pl.Changes)-1]
			if c.Kind != KindSegment || c.Action != Update || (c.Drift != nil) != tc.drift || (c.BlockedBy == BlockDriftReport) != tc.drift {
				t.Errorf("change %+v, want drift %v", c, tc.drift)
			}
		})
	}
	if Fingerprint(&written) == Fingerprint(&edited) || Fingerprint(&written) != Fingerprint(new(seg("VIP", "", valueRule("ltv", 1000.0)))) {
		t.Error("fingerprints do not follow the content")
	}
}
