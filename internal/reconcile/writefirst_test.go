//go:build cgo

package reconcile_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cas-reconciler/reconciler/internal/apply"
	"github.com/cas-reconciler/reconciler/internal/reconcile"
	"github.com/cas-reconciler/reconciler/pkg/plan"
)

// seniorsAt returns the retail repository with the Seniors segment's age
// threshold set to age.
func seniorsAt(t *testing.T, age string) reconcile.Snapshot {
	t.Helper()
	return reconcile.Snapshot{Revision: "r-" + age, FS: edited(t, retail, "segments/lifecycle.cue", func(s string) string {
		return strings.Replace(s, `{attribute: "age", atLeast: 65}`, `{attribute: "age", atLeast: `+age+`}`, 1)
	})}
}

// settle applies the retail repository and runs it once more, so that the
// reconciler holds an observation that nothing was written after.
func settle(e *env) {
	e.t.Helper()
	for range 2 {
		if _, err := e.r.Run(context.Background(), snap(retail, "r1"), reconcile.Mode{}); err != nil {
			e.t.Fatal(err)
		}
	}
}

// firstWriteBeforeRead reports whether the first request of the log since
// from that was not a GET came before every GET.
func (e *env) firstWriteBeforeRead(from int) bool {
	for _, r := range e.td.Requests()[from:] {
		return r.Method != "GET"
	}
	return false
}

func stepNames(res *reconcile.Result) []string {
	var out []string
	for _, s := range res.Steps {
		out = append(out, s.Step)
	}
	return out
}

// TestWritesFirstUpdatesBeforeObserving: after a run that wrote nothing,
// a run with WritesFirst of a revision that changes one segment sends the
// update as its first request to Treasure, then observes and plans no
// change; the segment holds the new rule.
func TestWritesFirstUpdatesBeforeObserving(t *testing.T) {
	e := newEnv(t)
	settle(e)
	from := len(e.td.Requests())
	res, err := e.r.Run(context.Background(), seniorsAt(t, "70"), reconcile.Mode{WritesFirst: true})
	if err != nil {
		t.Fatal(err)
	}
	if !e.firstWriteBeforeRead(from) {
		t.Errorf("the run read before writing: %+v", e.td.Requests()[from:])
	}
	if res.WrittenFirst == nil || res.WrittenFirst.Counts()[apply.Succeeded] != 1 || len(res.FirstPlan.Changes) != 1 {
		t.Fatalf("written first: %+v", res.WrittenFirst)
	}
	if res.Plan.HasChanges() || !res.Applied {
		t.Errorf("plan after the early write: %s, applied %v", plan.SummaryLine(res.Plan), res.Applied)
	}
	if got := stepNames(res); !strings.Contains(strings.Join(got, " "), "validate write_first observe plan") {
		t.Errorf("steps = %v", got)
	}
	if s := segmentNamed(e.td, "Seniors"); s == nil || !strings.Contains(string(s.Rule), "70") {
		t.Errorf("Seniors in Treasure: %+v", s)
	}
	if _, rev := e.r.LastApplied(); rev != "r-70" {
		t.Errorf("LastApplied revision = %q", rev)
	}
	// The next change writes first again: the run above wrote nothing
	// after its observation.
	from = len(e.td.Requests())
	if res, err = e.r.Run(context.Background(), seniorsAt(t, "75"), reconcile.Mode{WritesFirst: true}); err != nil || res.WrittenFirst == nil {
		t.Fatalf("second change: %v, written first %v", err, res.WrittenFirst)
	}
	if !e.firstWriteBeforeRead(from) {
		t.Error("the second change read before writing")
	}
}

// TestWritesFirstOnlyWhenSafe: without WritesFirst, without an
// observation that nothing was written after, for a change other than
// segment updates (a deleted segment), after a run that applied changes
// and under drift mode report (a hand edit is held, not overwritten), the
// run observes before it writes anything.
func TestWritesFirstOnlyWhenSafe(t *testing.T) {
	ctx := context.Background()
	deleted := reconcile.Snapshot{Revision: "r-del", FS: edited(t, retail, "segments/lifecycle.cue", func(s string) string {
		i := strings.Index(s, `"Seniors": {`)
		j := strings.Index(s, `"Low Spend": {`)
		return s[:i] + s[j:]
	})}
	cases := []struct {
		name  string
		setup func(e *env)
		snap  reconcile.Snapshot
		mode  reconcile.Mode
	}{
		{"not asked", settle, seniorsAt(t, "70"), reconcile.Mode{}},
		{"first run", func(e *env) {}, snap(retail, "r1"), reconcile.Mode{WritesFirst: true}},
		{"after an apply", func(e *env) {
			if _, err := e.r.Run(ctx, snap(retail, "r1"), reconcile.Mode{}); err != nil {
				t.Fatal(err)
			}
		}, seniorsAt(t, "70"), reconcile.Mode{WritesFirst: true}},
		{"a delete", settle, deleted, reconcile.Mode{WritesFirst: true}},
		{"dry run", settle, seniorsAt(t, "70"), reconcile.Mode{WritesFirst: true, DryRun: true}},
		{"drift report", func(e *env) {
			e.r.Plan.Drift = plan.DriftReport
			settle(e)
		}, seniorsAt(t, "70"), reconcile.Mode{WritesFirst: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tc.setup(e)
			from := len(e.td.Requests())
			res, err := e.r.Run(ctx, tc.snap, tc.mode)
			if err != nil {
				t.Fatal(err)
			}
			if res.WrittenFirst != nil || e.firstWriteBeforeRead(from) {
				t.Errorf("wrote before observing: %+v", e.td.Requests()[from:])
			}
			for _, s := range stepNames(res) {
				if s == reconcile.StepWriteFirst && tc.name != "a delete" {
					t.Errorf("steps = %v", stepNames(res))
				}
			}
		})
	}
}
