package plan

import (
	"testing"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// richParent is a parent segment that sets every field the reconciler
// writes, the undocumented ones among them.
func richParent() segment.Parent {
	p := parent()
	p.Description = "Profiles of the shop"
	p.ConnectionID = "341079"
	p.CustomersName = "Shop customers"
	p.Attributes = []segment.Attribute{
		{Name: "ltv", Column: "ltv", Type: segment.Number, Group: "Value"},
		{Name: "tier", Column: "tier_code", Type: segment.String, Group: "Value",
			Join: &segment.KeyedTable{Table: segment.Table{Catalog: "other", Schema: "crm", Table: "tiers"}, Key: "cid"}},
	}
	p.Behaviors = []segment.Behavior{{Name: "orders", Table: segment.Table{Catalog: "other", Schema: "s", Table: "orders"},
		Key: "id", Time: "t", Columns: []segment.Column{{Name: "amount", Column: "amt", Type: segment.Number}}}}
	return p
}

// asDocumented returns p as an observation of a Treasure that returns only
// its documented response fields reads it: no display name, groups, per-item
// catalogs or time column; types as Treasure filled them from the warehouse.
func asDocumented(p segment.Parent) segment.Parent {
	o := p
	o.CustomersName = p.Customers.Table.Table
	o.Attributes = nil
	for _, a := range p.Attributes {
		a.Group, a.Type = "", segment.String
		if a.Join != nil {
			j := *a.Join
			j.Catalog = p.Customers.Catalog
			a.Join = &j
		}
		o.Attributes = append(o.Attributes, a)
	}
	o.Behaviors = nil
	for _, b := range p.Behaviors {
		b.Table.Catalog, b.Time = p.Customers.Catalog, ""
		cols := make([]segment.Column, len(b.Columns))
		for i, c := range b.Columns {
			c.Type = ""
			cols[i] = c
		}
		b.Columns = cols
		o.Behaviors = append(o.Behaviors, b)
	}
	return o
}

// TestParentFingerprintIsOfDocumentedFields: the fingerprint apply records
// is the one an observation computes also when Treasure returns only its
// documented fields (else every owned parent would look changed by hand),
// and it still changes with each documented field.
func TestParentFingerprintIsOfDocumentedFields(t *testing.T) {
	written := richParent()
	observed := asDocumented(written)
	if Fingerprint(&written) != Fingerprint(&observed) {
		t.Errorf("fingerprint of the documented fields differs: written %s, observed %s", Fingerprint(&written), Fingerprint(&observed))
	}
	for name, edit := range map[string]func(*segment.Parent){
		"description":       func(p *segment.Parent) { p.Description = "edited" },
		"timezone":          func(p *segment.Parent) { p.Timezone = "Asia/Tokyo" },
		"connection":        func(p *segment.Parent) { p.ConnectionID = "1" },
		"customers table":   func(p *segment.Parent) { p.Customers.Table.Table = "people" },
		"customers key":     func(p *segment.Parent) { p.Customers.Key = "email" },
		"customers catalog": func(p *segment.Parent) { p.Customers.Catalog = "x" },
		"attribute column":  func(p *segment.Parent) { p.Attributes[0].Column = "value" },
		"attribute join":    func(p *segment.Parent) { p.Attributes[1].Join.Key = "other" },
		"attribute table":   func(p *segment.Parent) { p.Attributes[1].Join.Table.Table = "tiers2" },
		"attribute removed": func(p *segment.Parent) { p.Attributes = p.Attributes[:1] },
		"behavior table":    func(p *segment.Parent) { p.Behaviors[0].Table.Schema = "t" },
		"behavior key":      func(p *segment.Parent) { p.Behaviors[0].Key = "k" },
		"behavior column":   func(p *segment.Parent) { p.Behaviors[0].Columns[0].Column = "total" },
	} {
		e := asDocumented(richParent())
		edit(&e)
		if Fingerprint(&e) == Fingerprint(&written) {
			t.Errorf("a changed %s keeps the fingerprint", name)
		}
	}
}
