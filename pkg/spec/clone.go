package spec

import (
	"slices"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// The clone functions copy values handed out by Load, so that callers may
// change them without changing the cache. Origin.Fields lists, Extra maps
// and the condition sets and conditions of rules are shared: they are
// read-only.

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

// ownActivations gives s, a copy of a segment of a file result, an
// activation list of its own: Load sets each activation's Parent and
// Segment, and callers set what they resolve (ConnectionID). The rest of
// the segment's rule is shared with the cache, read-only: its condition
// sets and conditions are as many as the repository's segments times
// their conditions, and copying them on every load cost more than the
// rest of a load that evaluates one changed file.
func ownActivations(s *segment.Segment) {
	if len(s.Activations) > 0 {
		s.Activations = slices.Clone(s.Activations)
	}
}
