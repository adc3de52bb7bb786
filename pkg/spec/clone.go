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

// cloneRule copies a rule deeply.
func cloneRule(r segment.Rule) segment.Rule {
	r.Limit = cloneLimit(r.Limit)
	r.Conditions = slices.Clone(r.Conditions)
	for i := range r.Conditions {
		cs := &r.Conditions[i]
		cs.Conditions = slices.Clone(cs.Conditions)
		for j := range cs.Conditions {
			c := &cs.Conditions[j]
			c.LeftValue = cloneLeftValue(c.LeftValue)
			c.Operator = cloneOperator(c.Operator)
			c.ArrayMatching = clonePtr(c.ArrayMatching)
			c.Limit = cloneLimit(c.Limit)
		}
	}
	return r
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}

func cloneLimit(l *segment.Limit) *segment.Limit {
	if l == nil {
		return nil
	}
	c := *l
	c.OrderColumns = slices.Clone(c.OrderColumns)
	return &c
}

func cloneLeftValue(l *segment.LeftValue) *segment.LeftValue {
	if l == nil {
		return nil
	}
	c := *l
	c.Source = clonePtr(c.Source)
	if c.Aggregation != nil {
		a := *c.Aggregation
		a.Columns = slices.Clone(a.Columns)
		a.GroupingColumns = slices.Clone(a.GroupingColumns)
		c.Aggregation = &a
	}
	if c.Filter != nil {
		f := cloneFilter(*c.Filter)
		c.Filter = &f
	}
	if c.Window != nil {
		w := *c.Window
		w.Duration = cloneDuration(w.Duration)
		c.Window = &w
	}
	return &c
}

func cloneFilter(f segment.Filter) segment.Filter {
	f.Operator = cloneOperator(f.Operator)
	f.ArrayMatching = clonePtr(f.ArrayMatching)
	f.Conditions = slices.Clone(f.Conditions)
	for i := range f.Conditions {
		f.Conditions[i] = cloneFilter(f.Conditions[i])
	}
	return f
}

func cloneOperator(o *segment.Operator) *segment.Operator {
	if o == nil {
		return nil
	}
	c := *o
	c.RightValue = clonePtr(c.RightValue)
	c.RightValues = slices.Clone(c.RightValues)
	c.MinValue = clonePtr(c.MinValue)
	c.MaxValue = clonePtr(c.MaxValue)
	c.From = cloneTimeRef(c.From)
	c.To = cloneTimeRef(c.To)
	c.Duration = cloneDuration(c.Duration)
	c.Reverse = clonePtr(c.Reverse)
	return &c
}

func cloneTimeRef(t *segment.TimeRef) *segment.TimeRef {
	if t == nil {
		return nil
	}
	c := *t
	c.Last = clonePtr(c.Last)
	c.Next = clonePtr(c.Next)
	return &c
}

func cloneDuration(d segment.Duration) segment.Duration {
	if d == nil {
		return nil
	}
	c := make(segment.Duration, len(d))
	for k, v := range d {
		c[k] = v
	}
	return c
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
