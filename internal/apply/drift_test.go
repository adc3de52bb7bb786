package apply_test

import (
	"context"
	"testing"

	"github.com/cas-reconciler/reconciler/internal/apply"
	"github.com/cas-reconciler/reconciler/internal/standin/tdstandin"
	"github.com/cas-reconciler/reconciler/pkg/plan"
)

// standinUser is the name the stand-in records for API writes.
const standinUser = "api-user"

// TestHandEditIsDriftThenReverted edits a segment by hand in the stand-in:
// the next plan reports drift with who did it; report mode holds the change,
// correct mode reverts it and converges.
func TestHandEditIsDriftThenReverted(t *testing.T) {
	e := newEnv(t)
	desired := retail(t)
	if _, rep := e.reconcile(t, desired); rep.Failed() {
		t.Fatal(rep.Err())
	}
	target := desired.Segments[0]
	var id string
	for _, s := range e.srv.Segments() {
		if s.Name == target.Name {
			id = s.ID
		}
	}
	if err := e.srv.ModifySegment(id, "alice", func(s *tdstandin.Segment) { s.Description = "edited by hand. " + s.Description }); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	observe := func() *plan.Plan {
		t.Helper()
		observed, err := e.c.Observe(ctx, parentNames(desired))
		if err == nil {
			err = e.c.ObserveActivations(ctx, &observed, desired.ActivationsWanted())
		}
		if err != nil {
			t.Fatal(err)
		}
		o := opts()
		o.Principal = standinUser
		o.Drift = plan.DriftReport
		return plan.Compute(desired, observed, o)
	}

	p := observe()
	var drifted *plan.Change
	for i := range p.Changes {
		if p.Changes[i].Drift != nil {
			if drifted != nil {
				t.Fatalf("more than one drifted change: %s and %s", drifted.Ref(), p.Changes[i].Ref())
			}
			drifted = &p.Changes[i]
		}
	}
	if drifted == nil || drifted.Key != target.Key() || drifted.Drift.UpdatedBy != "alice" || drifted.Drift.UpdatedAt.IsZero() {
		t.Fatalf("drift not reported on %s: %+v", target.Key(), drifted)
	}
	if p.HasChanges() {
		t.Error("report mode would apply the drifted change")
	}
	rep, err := apply.Run(ctx, e.c, p, apply.Options{})
	if err != nil || len(rep.Results) != 0 {
		t.Fatalf("report mode applied %d changes (%v)", len(rep.Results), err)
	}

	// Correct mode reverts it.
	observed, err := e.c.Observe(ctx, parentNames(desired))
	if err == nil {
		err = e.c.ObserveActivations(ctx, &observed, desired.ActivationsWanted())
	}
	if err != nil {
		t.Fatal(err)
	}
	o := opts()
	o.Principal = standinUser
	p = plan.Compute(desired, observed, o)
	if s := p.Summary(); s.Change != 1 || s.Drift != 1 {
		t.Fatalf("correct mode: %+v", s)
	}
	if rep, err := apply.Run(ctx, e.c, p, apply.Options{}); err != nil || rep.Failed() {
		t.Fatalf("revert: %v %v", err, rep.Err())
	}
	e.assertConverged(t, desired)
	if p := observe(); p.Summary().Drift != 0 {
		t.Errorf("drift after the revert: %+v", p.Summary())
	}
}
