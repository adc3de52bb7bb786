package reconcile

import (
	"context"

	"github.com/cas-reconciler/reconciler/internal/apply"
	"github.com/cas-reconciler/reconciler/pkg/plan"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// MaxWritesFirst bounds the changes a run writes before it observes
// Treasure (Mode.WritesFirst); a revision that changes more goes the
// usual way, observe first.
const MaxWritesFirst = 16

// settled is what Treasure held after the last run that wrote nothing
// after its observation: that observation, and the revision it was
// planned for.
type settled struct {
	revision string
	observed segment.State
}

// keepSettled remembers the run's observation as what Treasure holds when
// the run's plan wrote nothing after it, and forgets any earlier one
// otherwise.
func (r *Reconciler) keepSettled(rn *run) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settled = nil
	if rn.res.Plan != nil && !rn.res.Plan.Errored && !rn.res.Plan.HasChanges() {
		r.settled = &settled{revision: rn.snap.Revision, observed: rn.observed}
	}
}

// takeSettled returns the remembered observation and forgets it: a run
// that writes on it makes it stale, and the run's own observation
// replaces it.
func (r *Reconciler) takeSettled() *settled {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.settled
	r.settled = nil
	return s
}

// writeFirst, for a run with Mode.WritesFirst, makes the changes of a new
// revision before the run observes Treasure, planned against the
// observation of the last run that wrote nothing after it. It writes only
// when every change of that plan is an update of an existing segment (no
// create, delete, rename, adoption, parent, folder or activation change)
// and there are at most MaxWritesFirst of them, and the drift mode is not
// report (a hand edit made since that observation would be overwritten
// before the run could hold it); otherwise it writes nothing and the run
// goes on as usual. The run then observes, plans and
// applies as always: what the early writes missed (a change made in
// Treasure since that observation) is found and planned there, and
// deletes stay last.
//
// Needs: Desired (checked against the warehouse). Leaves: the Result's
// WrittenFirst and Applied when it wrote. Errors: none; a failed write is
// in WrittenFirst, and the rest of the run plans it again.
func (r *Reconciler) writeFirst(ctx context.Context, rn *run) error {
	if !rn.mode.WritesFirst || rn.mode.DryRun || rn.mode.Frozen {
		return nil
	}
	base := r.takeSettled()
	if base == nil || base.revision == rn.snap.Revision {
		return nil
	}
	opts := r.planOptions(rn.snap.Revision)
	if opts.Drift == plan.DriftReport {
		// A hand edit made since that observation must be held, not
		// overwritten before the run sees it.
		return nil
	}
	defer rn.timed(StepWriteFirst)()
	unknown, err := r.resolveConnections(ctx, rn.res.Desired)
	if err != nil || len(unknown) > 0 {
		return nil
	}
	p := plan.Compute(rn.res.Desired, base.observed, opts)
	if !earlyWritable(p) {
		return nil
	}
	if r.Population != nil && !rn.mode.NoPopulation {
		rn.res.PopulationStatements += r.countAndHold(ctx, rn, p, base.observed)
	}
	first := detach(p)
	if !first.HasChanges() {
		return nil
	}
	rep, err := apply.Run(ctx, r.Remote, first, r.Apply)
	rn.res.WrittenFirst, rn.res.Applied = rep, true
	rn.res.FirstPlan = first
	return err
}

// earlyWritable reports whether p can be applied before a fresh
// observation: no plan error, and every change that applies is an update
// of a segment found under its own name, already owned, without
// activations, at most MaxWritesFirst of them.
func earlyWritable(p *plan.Plan) bool {
	if p.Errored {
		return false
	}
	n := 0
	for i := range p.Changes {
		c := &p.Changes[i]
		if !c.Applies() {
			continue
		}
		n++
		if n > MaxWritesFirst || c.Kind != plan.KindSegment || c.Action != plan.Update || c.Adopt || c.RenamedFrom != "" {
			return false
		}
		before, after := c.Segments()
		if before == nil || after == nil || len(before.Activations) > 0 || len(after.Activations) > 0 {
			return false
		}
	}
	return true
}

// detach returns a plan of p's changes other than no-ops, with copies of
// their observed objects, so that it keeps neither the observation nor
// the rest of the plan alive.
func detach(p *plan.Plan) *plan.Plan {
	out := *p
	out.Changes = nil
	for i := range p.Changes {
		c := p.Changes[i]
		if c.Action == plan.NoOp {
			continue
		}
		if b, ok := c.Before.(*segment.Segment); ok {
			cp := *b
			c.Before = &cp
		}
		out.Changes = append(out.Changes, c)
	}
	return &out
}
