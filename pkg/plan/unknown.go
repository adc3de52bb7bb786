package plan

import (
	"strings"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// Treasure Data's published response schemas leave out fields the
// reconciler writes (the customers display name, attribute groups, the
// catalog of every attribute and behavior table). What Treasure did not
// report is unknown, and unknown is never a difference: before comparing,
// each field the observation marks unknown takes the desired value. A plan
// therefore never updates or replaces an object because of a field Treasure
// did not return.

// knownParent returns o with every field o.Meta.Unknown lists set to d's
// value; o itself when nothing is unknown. Items the repository does not
// declare keep their placeholders (they are a difference anyway).
func knownParent(o, d *segment.Parent) *segment.Parent {
	if o == nil || d == nil || len(o.Meta.Unknown) == 0 {
		return o
	}
	k := *o
	m := o.Meta
	if !m.Known(segment.UnknownDescription) {
		k.Description = d.Description
	}
	if !m.Known(segment.UnknownCustomersName) {
		k.CustomersName = d.CustomersName
	}
	k.Attributes = make([]segment.Attribute, len(o.Attributes))
	for i, a := range o.Attributes {
		if da, ok := d.Attribute(a.Name); ok {
			a = knownAttribute(a, *da, o.Customers, m)
		}
		k.Attributes[i] = a
	}
	k.Behaviors = make([]segment.Behavior, len(o.Behaviors))
	for i, b := range o.Behaviors {
		if db, ok := d.Behavior(b.Name); ok {
			b = knownBehavior(b, db, m)
		}
		k.Behaviors[i] = b
	}
	return &k
}

func knownAttribute(a, d segment.Attribute, customers segment.KeyedTable, m segment.Meta) segment.Attribute {
	if !m.Known(segment.AttributePath(a.Name, segment.UnknownGroup)) {
		a.Group = d.Group
	}
	if !m.Known(segment.AttributePath(a.Name, segment.UnknownType)) {
		a.Type = d.Type
	}
	if !m.Known(segment.AttributePath(a.Name, segment.UnknownCatalog)) && d.Join != nil {
		// The observed table is the customers table or a join; without its
		// catalog, it matches the desired join when everything else does.
		t := customers
		if a.Join != nil {
			t = *a.Join
		}
		if t.Schema == d.Join.Schema && t.Table.Table == d.Join.Table.Table && t.Key == d.Join.Key {
			j := *d.Join
			a.Join = &j
		}
	}
	return a
}

func knownBehavior(b segment.Behavior, d *segment.Behavior, m segment.Meta) segment.Behavior {
	if !m.Known(segment.BehaviorPath(b.Name, segment.UnknownCatalog)) {
		b.Table.Catalog = d.Table.Catalog
	}
	if !m.Known(segment.BehaviorPath(b.Name, segment.UnknownTime)) {
		b.Time = d.Time
	}
	prefix := segment.BehaviorPath(b.Name, "columns.")
	unknownColumn := false
	for _, u := range m.Unknown {
		if strings.HasPrefix(u, prefix) {
			unknownColumn = true
			break
		}
	}
	if !unknownColumn {
		return b
	}
	cols := make([]segment.Column, len(b.Columns))
	for i, c := range b.Columns {
		if dc, ok := d.Column(c.Name); ok && !m.Known(segment.ColumnPath(b.Name, c.Name, segment.UnknownType)) {
			c.Type = dc.Type
		}
		cols[i] = c
	}
	b.Columns = cols
	return b
}

// knownDescription returns the observed description, or the desired one
// when Treasure did not report it.
func knownDescription(observed, desired string, m segment.Meta) string {
	if !m.Known(segment.UnknownDescription) {
		return desired
	}
	return observed
}
