package spec

import (
	"slices"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// The clone functions copy values handed out by Load, so that callers may
// change them without changing the cache. Origin.Fields lists and Extra maps
// are shared: they are read-only.

func cloneParent(p segment.Parent) segment.Parent {
	p.Attributes = slices.Clone(p.Attributes)
	for i := range p.Attributes {
		if j := p.Attributes[i].Join; j != nil {
			c := *j
			p.Attributes[i].Join = &c
		}
	}
	p.Behaviors = slices.Clone(p.Behaviors)
	for i := range p.Behaviors {
		p.Behaviors[i].Columns = slices.Clone(p.Behaviors[i].Columns)
	}
	return p
}

// segmentCopier copies segments and the slices of their rules, so that
// callers may change any field of a segment, its condition sets and its
// conditions (Condition.ID, for example). What conditions point to
// (LeftValue, Operator, ArrayMatching, Limit) is shared with the cache and
// must not be changed in place: replace the pointer instead. The condition
// sets and conditions of all segments come from two arrays allocated once,
// so that a load makes a few large allocations instead of some per
// segment; each segment's slices are capped to their length, so appending
// to them copies rather than overwrites a neighbour.
type segmentCopier struct {
	sets  []segment.ConditionSet
	conds []segment.Condition
	none  bool // copy nothing: the segments are not shared
}

// newSegmentCopier returns a copier sized for the segments of results; one
// that returns segments as they are unless shared.
func newSegmentCopier(results []*fileResult, shared bool) *segmentCopier {
	if !shared {
		return &segmentCopier{none: true}
	}
	var nsets, nconds int
	count := func(s *segment.Segment) {
		nsets += len(s.Rule.Conditions)
		for i := range s.Rule.Conditions {
			nconds += len(s.Rule.Conditions[i].Conditions)
		}
	}
	for _, r := range results {
		if r == nil {
			continue
		}
		for i := range r.segments {
			count(&r.segments[i])
		}
		for i := range r.partial {
			count(&r.partial[i].seg)
		}
	}
	return &segmentCopier{sets: make([]segment.ConditionSet, 0, nsets), conds: make([]segment.Condition, 0, nconds)}
}

// own gives s, a copy of a segment of a file result, condition sets,
// conditions and activations of its own.
func (sc *segmentCopier) own(s *segment.Segment) {
	if sc.none {
		return
	}
	if s.Rule.Conditions != nil {
		start := len(sc.sets)
		sc.sets = append(sc.sets, s.Rule.Conditions...)
		s.Rule.Conditions = sc.sets[start:len(sc.sets):len(sc.sets)]
		for i := range s.Rule.Conditions {
			cs := &s.Rule.Conditions[i]
			if cs.Conditions != nil {
				start := len(sc.conds)
				sc.conds = append(sc.conds, cs.Conditions...)
				cs.Conditions = sc.conds[start:len(sc.conds):len(sc.conds)]
			}
		}
	}
	s.Activations = slices.Clone(s.Activations)
}
