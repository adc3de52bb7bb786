package reconcile

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/cas-reconciler/reconciler/pkg/plan"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

func valueSeg(name string, n float64, refs ...string) segment.Segment {
	v := segment.NumberOf(n)
	cs := segment.ConditionSet{Type: "And", Conditions: []segment.Condition{{Type: "Value",
		LeftValue: &segment.LeftValue{Name: "ltv"}, Operator: &segment.Operator{Type: segment.GreaterEqual, RightValue: &v}}}}
	for _, r := range refs {
		cs.Conditions = append(cs.Conditions, segment.Condition{Type: segment.ReferenceCondition, Segment: r})
	}
	return segment.Segment{Name: name, Parent: "Retail", Folder: "F", Kind: segment.Batch,
		Rule: segment.Rule{Type: "And", Conditions: []segment.ConditionSet{cs}}}
}

// settledRepo returns a desired state of 40 segments (each tenth
// referencing the one before) and its observation, owned.
func settledRepo() (desired, observed segment.State) {
	p := segment.Parent{Name: "Retail", Timezone: "UTC", Connection: "dbx",
		Customers: segment.KeyedTable{Table: segment.Table{Catalog: "c", Schema: "s", Table: "customers"}, Key: "id"}}
	op := p
	op.Meta = segment.Meta{ID: "1", Owned: true, OwnerSource: "git"}
	desired = segment.State{Parents: []segment.Parent{p}, Folders: []segment.Folder{{Parent: "Retail", Path: "F"}}}
	observed = segment.State{Parents: []segment.Parent{op}, Folders: []segment.Folder{{Parent: "Retail", Path: "F",
		Meta: segment.Meta{ID: "2", Owned: true, OwnerSource: "git"}}}}
	for i := range 40 {
		var refs []string
		if i%10 == 9 {
			refs = []string{fmt.Sprintf("S%02d", i-1)}
		}
		d := valueSeg(fmt.Sprintf("S%02d", i), float64(i), refs...)
		desired.Segments = append(desired.Segments, d)
		o := valueSeg(d.Name, float64(i), refs...)
		o.Meta = segment.Meta{ID: fmt.Sprint(100 + i), Owned: true, OwnerSource: "git"}
		observed.Segments = append(observed.Segments, o)
	}
	return desired, observed
}

func names(st segment.State) []string {
	var out []string
	for _, s := range st.Segments {
		out = append(out, s.Name)
	}
	slices.Sort(out)
	return out
}

// segmentChanges returns the changes of p to the named segments.
func segmentChanges(p *plan.Plan, keep []string) map[string]string {
	out := map[string]string{}
	for _, c := range p.Changes {
		if c.Kind == plan.KindSegment && slices.Contains(keep, c.Key.Name) {
			out[c.Key.Name] = fmt.Sprintf("%s %v", c.Action, c.Diff)
		}
	}
	return out
}

// TestChangedOnly: the early write plans the segments that changed since
// the settled run and those they reference, and plans them as a plan of
// the whole repository does; any other change to the repository (a
// segment added or removed, a folder, too many segments) plans it whole.
func TestChangedOnly(t *testing.T) {
	base, observed := settledRepo()
	set := &settled{revision: "r1", observed: observed, desired: base}
	opts := plan.Options{Owner: "git", Prune: plan.PruneOptions{Enabled: true}, Drift: plan.DriftCorrect}

	changed := base
	changed.Segments = slices.Clone(base.Segments)
	changed.Segments[19] = valueSeg("S19", 1000, "S18")
	changed.Segments[3].Description = "new"
	sub, obs := changedOnly(changed, set)
	if got, want := names(sub), []string{"S03", "S18", "S19"}; !reflect.DeepEqual(got, want) {
		t.Errorf("planned segments %v, want %v", got, want)
	}
	if got := names(obs); !reflect.DeepEqual(got, names(sub)) {
		t.Errorf("observed segments %v, want %v", got, names(sub))
	}
	whole := plan.Compute(changed, observed, opts)
	part := plan.Compute(sub, obs, opts)
	keep := names(sub)
	if a, b := segmentChanges(whole, keep), segmentChanges(part, keep); !reflect.DeepEqual(a, b) || len(a) != 3 {
		t.Errorf("changes of the whole plan %v, of the partial one %v", a, b)
	}
	if part.Summary().Change != 2 || part.Errored {
		t.Errorf("partial plan: %s, errors %v", plan.SummaryLine(part), part.Errors)
	}

	many := base
	many.Segments = slices.Clone(base.Segments)
	for i := range MaxWritesFirst + 1 {
		many.Segments[i].Description = "new"
	}
	added := base
	added.Segments = append(slices.Clone(base.Segments), valueSeg("New", 1))
	renamed := base
	renamed.Segments = slices.Clone(base.Segments)
	renamed.Segments[5].Name = "Renamed"
	folder := changed
	folder.Folders = []segment.Folder{{Parent: "Retail", Path: "F", Description: "new"}}
	for name, st := range map[string]segment.State{"too many": many, "added": added, "renamed": renamed, "folder": folder} {
		sub, obs := changedOnly(st, set)
		if len(sub.Segments) != len(st.Segments) || len(obs.Segments) != len(observed.Segments) {
			t.Errorf("%s: planned %d of %d segments against %d of %d", name, len(sub.Segments), len(st.Segments), len(obs.Segments), len(observed.Segments))
		}
	}
}
