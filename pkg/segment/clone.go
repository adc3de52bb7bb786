package segment

import (
	"maps"
)

// Clone returns a deep copy of the rule: no slice, map or pointer of the copy
// is shared with r, so either can be changed without affecting the other.
// (The json.RawMessage values of Extra maps are shared; they are never
// written in place.) Package treasure caches clones of the rules it
// decodes, so that what its callers do with theirs never reaches the cache.
func (r *Rule) Clone() Rule {
	c := *r
	c.Conditions = cloneEach(r.Conditions, (*ConditionSet).clone)
	c.Limit = clonePtr(r.Limit, (*Limit).clone)
	c.Extra = maps.Clone(r.Extra)
	c.Origin = r.Origin.clone()
	return c
}

// CopyConditions returns a copy of the rule whose condition sets and
// conditions are its own, so that their fields (Condition.ID,
// Condition.Segment, ...) can be set freely; what conditions point to
// (LeftValue, Operator, ArrayMatching, Limit) and the Extra maps are shared
// with r and must not be changed in place: replace the pointer instead. It
// is the cheap copy for values handed out from a cache to readers.
func (r *Rule) CopyConditions() Rule {
	c := *r
	c.Conditions = cloneSlice(r.Conditions)
	for i := range c.Conditions {
		c.Conditions[i].Conditions = cloneSlice(c.Conditions[i].Conditions)
	}
	return c
}

func (cs *ConditionSet) clone() ConditionSet {
	c := *cs
	c.Conditions = cloneEach(cs.Conditions, (*Condition).clone)
	c.Extra = maps.Clone(cs.Extra)
	c.Origin = cs.Origin.clone()
	return c
}

func (cd *Condition) clone() Condition {
	c := *cd
	c.LeftValue = clonePtr(cd.LeftValue, (*LeftValue).clone)
	c.Operator = clonePtr(cd.Operator, (*Operator).clone)
	c.ArrayMatching = clonePtr(cd.ArrayMatching, deref[ArrayMatching])
	c.Limit = clonePtr(cd.Limit, (*Limit).clone)
	c.Extra = maps.Clone(cd.Extra)
	c.Origin = cd.Origin.clone()
	return c
}

func (lv *LeftValue) clone() LeftValue {
	c := *lv
	c.Source = clonePtr(lv.Source, deref[SourceRef])
	c.Aggregation = clonePtr(lv.Aggregation, (*Aggregation).clone)
	c.Filter = clonePtr(lv.Filter, (*Filter).clone)
	c.Window = clonePtr(lv.Window, (*Window).clone)
	c.Extra = maps.Clone(lv.Extra)
	c.Origin = lv.Origin.clone()
	return c
}

func (a *Aggregation) clone() Aggregation {
	c := *a
	c.Columns = cloneSlice(a.Columns)
	c.GroupingColumns = cloneSlice(a.GroupingColumns)
	c.Extra = maps.Clone(a.Extra)
	c.Origin = a.Origin.clone()
	return c
}

func (f *Filter) clone() Filter {
	c := *f
	c.Conditions = cloneEach(f.Conditions, (*Filter).clone)
	c.Operator = clonePtr(f.Operator, (*Operator).clone)
	c.ArrayMatching = clonePtr(f.ArrayMatching, deref[ArrayMatching])
	c.Extra = maps.Clone(f.Extra)
	c.Origin = f.Origin.clone()
	return c
}

func (w *Window) clone() Window {
	c := *w
	c.Duration = maps.Clone(w.Duration)
	c.Extra = maps.Clone(w.Extra)
	return c
}

func (o *Operator) clone() Operator {
	c := *o
	c.RightValue = clonePtr(o.RightValue, deref[Value])
	c.RightValues = cloneSlice(o.RightValues)
	c.MinValue = clonePtr(o.MinValue, deref[Value])
	c.MaxValue = clonePtr(o.MaxValue, deref[Value])
	c.From = clonePtr(o.From, (*TimeRef).clone)
	c.To = clonePtr(o.To, (*TimeRef).clone)
	c.Duration = maps.Clone(o.Duration)
	c.Reverse = clonePtr(o.Reverse, deref[bool])
	c.Extra = maps.Clone(o.Extra)
	c.Origin = o.Origin.clone()
	return c
}

func (t *TimeRef) clone() TimeRef {
	c := *t
	c.Last = clonePtr(t.Last, deref[int])
	c.Next = clonePtr(t.Next, deref[int])
	return c
}

func (l *Limit) clone() Limit {
	c := *l
	c.OrderColumns = cloneEach(l.OrderColumns, func(oc *OrderColumn) OrderColumn {
		x := *oc
		x.Extra = maps.Clone(oc.Extra)
		return x
	})
	c.Extra = maps.Clone(l.Extra)
	return c
}

func (o Origin) clone() Origin {
	o.Fields = cloneSlice(o.Fields)
	return o
}

// cloneSlice copies s, keeping nil and empty apart.
func cloneSlice[T any](s []T) []T {
	if s == nil {
		return nil
	}
	return append(make([]T, 0, len(s)), s...)
}

// cloneEach copies s element by element with clone, keeping nil and empty
// apart.
func cloneEach[T any](s []T, clone func(*T) T) []T {
	if s == nil {
		return nil
	}
	out := make([]T, len(s))
	for i := range s {
		out[i] = clone(&s[i])
	}
	return out
}

// deref copies a value without pointers, slices or maps.
func deref[T any](p *T) T { return *p }

func clonePtr[T any](p *T, clone func(*T) T) *T {
	if p == nil {
		return nil
	}
	c := clone(p)
	return &c
}
