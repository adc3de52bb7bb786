package plan

import (
	"testing"

	"github.com/cas-reconciler/reconciler/pkg/segment"
	"github.com/google/go-cmp/cmp"
)

// TestBlockedChangesSayWhatIsLeft checks that every blocked change carries
// its reason as a closed value, that the summary counts what is left to
// resolve (conflicts and blocked changes, protected objects aside), and that
// a plan with nothing to apply but something left never reads as "No
// changes".
func TestBlockedChangesSayWhatIsLeft(t *testing.T) {
	op := withParentMeta(parent(), owned("1"))
	keep := seg("Keep", "", valueRule("ltv", 1))
	gone := func(names ...string) []segment.Segment {
		out := []segment.Segment{withMeta(keep, owned("20"))}
		for i, n := range names {
			out = append(out, withMeta(seg(n, "", valueRule("ltv", 2)), owned(string(rune('a'+i)))))
		}
		return out
	}
	desired := segment.State{Parents: []segment.Parent{parent()}, Segments: []segment.Segment{keep}}
	drifted := owned("20")
	drifted.UpdatedBy = "alice"
	other := segment.Parent{Name: "Other", Timezone: "UTC", Connection: "dbx", Meta: owned("2")}

	tests := map[string]struct {
		desired, observed segment.State
		opts              func(*Options)
		blocks            map[string]Block
		line              string
		unresolved        int
	}{
		"a conflict": {
			desired: desired,
			observed: segment.State{Parents: []segment.Parent{op},
				Segments: []segment.Segment{withMeta(keep, segment.Meta{ID: "20", OwnerSource: "someone-else", Owned: true})}},
			blocks:     map[string]Block{},
			line:       "Nothing to apply, but Treasure Data does not match the repository: 1 conflict(s).",
			unresolved: 1,
		},
		"an empty repository": {
			desired:    segment.State{Parents: []segment.Parent{parent()}},
			observed:   segment.State{Parents: []segment.Parent{op}, Segments: gone()},
			blocks:     map[string]Block{"segment:Retail/Keep": BlockEmpty},
			line:       "Nothing to apply, but Treasure Data does not match the repository: 1 blocked.",
			unresolved: 1,
		},
		"a protected object": {
			desired:  desired,
			observed: segment.State{Parents: []segment.Parent{op}, Segments: gone("VIP")},
			opts: func(o *Options) {
				o.Protect = []Object{{Kind: KindSegment, Key: segment.Key{Parent: parentName, Name: "VIP"}}}
			},
			blocks: map[string]Block{"segment:Retail/VIP": BlockProtected},
			line:   "No changes. Treasure Data matches the repository. (1 protected)",
		},
		"pruning disabled": {
			desired:    desired,
			observed:   segment.State{Parents: []segment.Parent{op}, Segments: gone("VIP")},
			opts:       func(o *Options) { o.Prune.Enabled = false },
			blocks:     map[string]Block{"segment:Retail/VIP": BlockDisabled},
			line:       "Nothing to apply, but Treasure Data does not match the repository: 1 blocked.",
			unresolved: 1,
		},
		"deletes inhibited": {
			desired:    desired,
			observed:   segment.State{Parents: []segment.Parent{op}, Segments: gone("VIP")},
			opts:       func(o *Options) { o.InhibitDeletes = "an earlier stage failed" },
			blocks:     map[string]Block{"segment:Retail/VIP": BlockInhibited},
			line:       "Nothing to apply, but Treasure Data does not match the repository: 1 blocked.",
			unresolved: 1,
		},
		"over the delete cap": {
			desired:    desired,
			observed:   segment.State{Parents: []segment.Parent{op}, Segments: gone("A", "B")},
			opts:       func(o *Options) { o.Prune.MaxDeletes = 1 },
			blocks:     map[string]Block{"segment:Retail/A": BlockMaxDeletes, "segment:Retail/B": BlockMaxDeletes},
			line:       "Nothing to apply, but Treasure Data does not match the repository: 2 blocked.",
			unresolved: 2,
		},
		"over the delete percentage": {
			desired:    desired,
			observed:   segment.State{Parents: []segment.Parent{op}, Segments: gone("A")},
			opts:       func(o *Options) { o.Prune.MaxDeletePercent = 10 },
			blocks:     map[string]Block{"segment:Retail/A": BlockMaxPercent},
			line:       "Nothing to apply, but Treasure Data does not match the repository: 1 blocked.",
			unresolved: 1,
		},
		"drift held in report mode": {
			desired:  segment.State{Parents: []segment.Parent{parent()}, Segments: []segment.Segment{seg("Keep", "", valueRule("ltv", 5))}},
			observed: segment.State{Parents: []segment.Parent{op}, Segments: []segment.Segment{withMeta(keep, drifted)}},
			opts: func(o *Options) {
				o.Principal, o.Drift = "reconciler", DriftReport
			},
			blocks:     map[string]Block{"segment:Retail/Keep": BlockDriftReport},
			line:       "Nothing to apply, but Treasure Data does not match the repository: 1 blocked.",
			unresolved: 1,
		},
		"a parent segment gone from the repository": {
			desired: desired,
			observed: segment.State{Parents: []segment.Parent{op, other}, Segments: append(gone(),
				withMeta(segment.Segment{Name: "X", Parent: "Other", Kind: segment.Batch, Rule: valueRule("ltv", 1)}, owned("30")))},
			blocks:     map[string]Block{"segment:Other/X": BlockParentDelete, "parent:Other": BlockParentDelete},
			line:       "Nothing to apply, but Treasure Data does not match the repository: 2 blocked.",
			unresolved: 2,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			opts := defaultOpts()
			if tc.opts != nil {
				tc.opts(&opts)
			}
			p := Compute(tc.desired, tc.observed, opts)
			got := map[string]Block{}
			for _, c := range p.Changes {
				if (c.Blocked == "") != (c.BlockedBy == "") {
					t.Errorf("%s: Blocked %q but BlockedBy %q", c.Ref(), c.Blocked, c.BlockedBy)
				}
				if c.BlockedBy != "" {
					got[c.Ref()] = c.BlockedBy
				}
			}
			if diff := cmp.Diff(tc.blocks, got); diff != "" {
				t.Errorf("blocked changes (-want +got):\n%s", diff)
			}
			if p.HasChanges() {
				t.Fatalf("the plan has changes to apply: %v", actions(p))
			}
			if line := SummaryLine(p); line != tc.line {
				t.Errorf("SummaryLine = %q, want %q", line, tc.line)
			}
			if n := p.Summary().Unresolved(); n != tc.unresolved {
				t.Errorf("Unresolved = %d, want %d", n, tc.unresolved)
			}
		})
	}
}
