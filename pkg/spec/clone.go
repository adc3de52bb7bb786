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

// cloneSegment copies a segment and the slices of its rule, so that callers
// may change any field of the segment, its condition sets and its conditions
// (Condition.ID, for example). What conditions point to (LeftValue,
// Operator, ArrayMatching, Limit) is shared with the cache and must not be
// changed in place: replace the pointer instead.
func cloneSegment(s segment.Segment) segment.Segment {
	s.Rule = s.Rule.CopyConditions()
	s.Activations = slices.Clone(s.Activations)
	return s
}
