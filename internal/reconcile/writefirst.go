package reconcile

import (
	"context"
	"reflect"

	"github.com/cas-reconciler/reconciler/internal/apply"
	"github.com/cas-reconciler/reconciler/pkg/plan"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// MaxWritesFirst bounds the changes a run writes before it observes
// Treasure (Mode.WritesFirst); a revision that changes more goes the
// usual way, observe first.
const MaxWritesFirst = 16

// settled is what Treasure held after the last run that wrote nothing
// after its observation: that observation, and the revision and desired
// state it was planned for.
type settled struct {
	revision string
	observed segment.State
	// desired shares its slices with that run's desired state: a run
	// replaces its Result's Desired, it does not change it in place.
	desired segment.State
}

// keepSettled remembers the run's observation as what Treasure holds when
// the run's plan wrote nothing after it, and forgets any earlier one
// otherwise.
func (r *Reconciler) keepSettled(rn *run) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settled = nil
	if rn.res.Plan != nil && !rn.res.Plan.Errored && !rn.res.Plan.HasChanges() {
		r.settled = &settled{revision: rn.snap.Revision, observed: rn.observed, desired: rn.res.Desired}
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
// goes on as usual. When the new revision's parents and folders are those
// of the observation's and it changes at most MaxWritesFirst segments, the
// plan covers only those segments and the ones they reference (see
// changedOnly), not the whole repository. The run then observes, plans and
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
	desired, observed := changedOnly(rn.res.Desired, base)
	p := plan.Compute(desired, observed, opts)
	if !earlyWritable(p) {
		return nil
	}
	if r.Population != nil && !rn.mode.NoPopulation {
		rn.res.PopulationStatements += r.countAndHold(ctx, rn, p, observed)
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

// changedOnly returns the desired state and base's observation reduced to
// the segments of desired that differ from base's desired state and the
// segments they reference (by name, under the same parent), with every
// parent and folder: a plan of the two gives the same changes for those
// segments as a plan of the whole states, and no-ops for nothing else
// (the other segments are those base's plan found unchanged). When the
// parents or folders differ, a segment was added, removed or renamed, or
// more than MaxWritesFirst segments changed (an early write refuses such
// plans anyway), it returns desired and the whole observation.
func changedOnly(desired segment.State, base *settled) (segment.State, segment.State) {
	old := base.desired
	if len(desired.Segments) != len(old.Segments) ||
		!reflect.DeepEqual(desired.Parents, old.Parents) || !reflect.DeepEqual(desired.Folders, old.Folders) {
		return desired, base.observed
	}
	before := make(map[segment.Key]*segment.Segment, len(old.Segments))
	for i := range old.Segments {
		before[old.Segments[i].Key()] = &old.Segments[i]
	}
	byKey := make(map[segment.Key]*segment.Segment, len(desired.Segments))
	var changed []*segment.Segment
	for i := range desired.Segments {
		s := &desired.Segments[i]
		b := before[s.Key()]
		if b == nil || byKey[s.Key()] != nil {
			return desired, base.observed
		}
		byKey[s.Key()] = s
		// Unchanged files share their rules with the spec cache, so
		// this is mostly a comparison of pointers.
		if !reflect.DeepEqual(s, b) {
			if changed = append(changed, s); len(changed) > MaxWritesFirst {
				return desired, base.observed
			}
		}
	}
	keep := map[segment.Key]bool{}
	sub := segment.State{Parents: desired.Parents, Folders: desired.Folders}
	add := func(s *segment.Segment) {
		if !keep[s.Key()] {
			keep[s.Key()] = true
			sub.Segments = append(sub.Segments, *s)
		}
	}
	for _, s := range changed {
		add(s)
		for i := range s.Rule.Conditions {
			for _, c := range s.Rule.Conditions[i].Conditions {
				if c.Type != segment.ReferenceCondition || c.Segment == "" {
					continue
				}
				if ref := byKey[segment.Key{Parent: s.Parent, Name: c.Segment}]; ref != nil {
					add(ref)
				}
			}
		}
	}
	obs := segment.State{Parents: base.observed.Parents, Folders: base.observed.Folders}
	for i := range base.observed.Segments {
		if keep[base.observed.Segments[i].Key()] {
			obs.Segments = append(obs.Segments, base.observed.Segments[i])
		}
	}
	return sub, obs
}
