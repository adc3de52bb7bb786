package validate

import (
	"fmt"
	"strings"

	"github.com/cas-reconciler/reconciler/pkg/catalog"
	"github.com/cas-reconciler/reconciler/pkg/diag"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// Diagnostic codes.
const (
	CodeTableMissing    = "warehouse-table-missing"
	CodeCatalogMissing  = "warehouse-catalog-missing"
	CodeSchemaMissing   = "warehouse-schema-missing"
	CodeColumnMissing   = "warehouse-column-missing"
	CodeTypeMismatch    = "warehouse-type-mismatch"
	CodeUnsupportedType = "warehouse-unsupported-type"
	CodeKeyType         = "warehouse-key-type"
	CodeTimeType        = "warehouse-time-type"
	CodePrivilege       = "warehouse-privilege"
	CodeRuleType        = "warehouse-rule-type"
	CodeKeyNotUnique    = "warehouse-key-not-unique"
	CodeNotChecked      = "warehouse-not-checked"
)

// Options tune Check.
type Options struct {
	// RequireUniqueKeys reports a warning for each customers key whose
	// uniqueness was not checked (cat.Keys has no entry). A failed check is
	// reported as an error either way.
	RequireUniqueKeys bool
}

// Check validates the parent segments of state and the behavior conditions
// of its segments against cat. It returns a copy of state with empty
// attribute and behavior column types filled from the warehouse, and the
// findings, sorted. Tables absent from cat (not requested) are reported as
// not checked.
func Check(state segment.State, cat *catalog.Catalog, opts Options) (segment.State, diag.Diagnostics) {
	c := &checker{cat: cat, opts: opts}
	out := segment.State{Folders: state.Folders}
	out.Parents = make([]segment.Parent, len(state.Parents))
	for i, p := range state.Parents {
		out.Parents[i] = c.parent(p)
	}
	byName := map[string]*segment.Parent{}
	for i := range out.Parents {
		byName[out.Parents[i].Name] = &out.Parents[i]
	}
	out.Segments = state.Segments
	for _, s := range state.Segments {
		if p := byName[s.Parent]; p != nil {
			c.rule(p, &s.Rule)
		}
	}
	return out, c.diags.Sort()
}

type checker struct {
	cat   *catalog.Catalog
	opts  Options
	diags diag.Diagnostics
}

func (c *checker) add(d diag.Diagnostic) { c.diags = append(c.diags, d) }

// table looks up t and reports it missing or unreadable at pos. It returns
// nil when the table's columns cannot be checked.
func (c *checker) table(t segment.Table, pos diag.Pos) *catalog.Table {
	wt := c.cat.Table(t)
	if wt == nil {
		c.add(diag.Warnf(pos, CodeNotChecked, "table %s was not checked against the warehouse", t))
		return nil
	}
	switch wt.Missing {
	case catalog.MissingCatalog:
		d := diag.Errorf(pos, CodeCatalogMissing, "catalog %s of table %s does not exist in the warehouse", t.Catalog, t)
		if c.cat.Host != "" {
			d = d.WithDetail("Unity Catalog on %s answered NO_SUCH_CATALOG_EXCEPTION for catalog %s (as seen by %s): check the catalog name.",
				c.cat.Host, t.Catalog, c.cat.Principal)
		}
		c.add(d)
		return nil
	case catalog.MissingSchema:
		d := diag.Errorf(pos, CodeSchemaMissing, "schema %s.%s of table %s does not exist in the warehouse", t.Catalog, t.Schema, t)
		if c.cat.Host != "" {
			d = d.WithDetail("Unity Catalog on %s answered SCHEMA_NOT_FOUND for schema %s.%s (as seen by %s): check the schema name.",
				c.cat.Host, t.Catalog, t.Schema, c.cat.Principal)
		}
		c.add(d)
		return nil
	}
	if len(wt.Access.Missing) > 0 {
		principal := c.cat.Principal
		if principal == "" {
			principal = "the reconciler's principal"
		}
		var grants []string
		for _, priv := range wt.Access.Missing {
			grants = append(grants, grantStatement(priv, t, c.cat.Principal))
		}
		d := diag.Errorf(pos, CodePrivilege, "%s lacks %s on %s", principal, strings.Join(wt.Access.Missing, ", "), securable(wt.Access.Missing[0], t)).
			WithDetail("Treasure Data reads %s as %s. Run:\n  %s", t, principal, strings.Join(grants, "\n  "))
		c.add(d)
		return nil
	}
	if !wt.Found {
		d := diag.Errorf(pos, CodeTableMissing, "table %s does not exist in the warehouse", t)
		if c.cat.Host != "" {
			d = d.WithDetail("Unity Catalog on %s has no table %s visible to %s.", c.cat.Host, t, c.cat.Principal)
		}
		c.add(d)
		return nil
	}
	return wt
}

// securable names the object a privilege is granted on.
func securable(priv string, t segment.Table) string {
	switch priv {
	case catalog.UseCatalog:
		return "catalog " + t.Catalog
	case catalog.UseSchema:
		return "schema " + t.Catalog + "." + t.Schema
	}
	return "table " + t.String()
}

func grantStatement(priv string, t segment.Table, principal string) string {
	if principal == "" {
		principal = "<principal>"
	}
	who := "`" + principal + "`"
	switch priv {
	case catalog.UseCatalog:
		return fmt.Sprintf("GRANT USE CATALOG ON CATALOG %s TO %s;", t.Catalog, who)
	case catalog.UseSchema:
		return fmt.Sprintf("GRANT USE SCHEMA ON SCHEMA %s.%s TO %s;", t.Catalog, t.Schema, who)
	}
	return fmt.Sprintf("GRANT %s ON TABLE %s TO %s;", priv, t, who)
}

// column looks up a column and reports it missing at pos, with a "did you
// mean" when a column of the table has a near name. what says who names
// the column ("attribute \"ltv\"").
func (c *checker) column(wt *catalog.Table, name, what string, pos diag.Pos) *catalog.Column {
	return c.columnOf(wt, name, what, pos, nil)
}

// columnOf is column with candidates for suggestions limited by fit.
func (c *checker) columnOf(wt *catalog.Table, name, what string, pos diag.Pos, fit func(catalog.Column) bool) *catalog.Column {
	if col, ok := wt.Column(name); ok {
		return col
	}
	d := diag.Errorf(pos, CodeColumnMissing, "column %q does not exist in %s (%s)", name, wt.Name, what)
	var names, fitting []string
	for _, col := range wt.Columns {
		names = append(names, col.Name)
		if fit == nil || fit(col) {
			fitting = append(fitting, col.Name)
		}
	}
	switch s := suggest(name, fitting); {
	case s != "":
		d = d.WithDetail("Did you mean %q? Columns of %s: %s.", s, wt.Name, strings.Join(names, ", "))
	case fit != nil && len(fitting) > 0:
		d = d.WithDetail("Columns of %s that fit: %s.", wt.Name, strings.Join(fitting, ", "))
	default:
		d = d.WithDetail("Columns of %s: %s.", wt.Name, strings.Join(names, ", "))
	}
	c.add(d)
	return nil
}

// typed checks a declared ION type against a column and returns the type
// to use: the declared one, or the warehouse's when none was declared.
func (c *checker) typed(declared segment.IONType, col *catalog.Column, wt *catalog.Table, what string, colPos, typePos diag.Pos) segment.IONType {
	if !col.Supported {
		c.add(diag.Errorf(colPos, CodeUnsupportedType, "column %s.%s has type %s, which Treasure Data cannot use (%s)", wt.Name.Table, col.Name, col.Type, what).
			WithDetail("Supported column types: STRING, numeric types, BOOLEAN, DATE, TIMESTAMP, ARRAY<STRING> and arrays of numbers."))
		return declared
	}
	if declared == "" {
		return col.ION
	}
	if declared != col.ION {
		c.add(diag.Errorf(typePos, CodeTypeMismatch, "%s declares type %s but column %s.%s is %s", what, declared, wt.Name.Table, col.Name, describe(col)).
			WithDetail("Declare type %q, or remove the type to take it from the warehouse.", col.ION))
	}
	return declared
}

func (c *checker) parent(p segment.Parent) segment.Parent {
	p.Attributes = append([]segment.Attribute(nil), p.Attributes...)
	p.Behaviors = append([]segment.Behavior(nil), p.Behaviors...)
	cust := c.table(p.Customers.Table, p.Origin.At("customers.table"))
	var keyCol *catalog.Column
	if cust != nil {
		keyCol = c.column(cust, p.Customers.Key, "customers key", p.Origin.At("customers.key"))
		if keyCol != nil {
			c.uniqueness(p)
		}
	}
	for i := range p.Attributes {
		a := &p.Attributes[i]
		what := fmt.Sprintf("attribute %q", a.Name)
		wt := cust
		if a.Join != nil {
			wt = c.table(a.Join.Table, a.Origin.At("join.table"))
			if wt != nil {
				if jk := c.column(wt, a.Join.Key, what+" join key", a.Origin.At("join.key")); jk != nil {
					c.keyType(jk, keyCol, wt, p, what+" join key", a.Origin.At("join.key"))
				}
			}
		}
		if wt == nil {
			continue
		}
		if col := c.column(wt, a.Column, what, a.Origin.At("column")); col != nil {
			a.Type = c.typed(a.Type, col, wt, what, a.Origin.At("column"), a.Origin.At("type"))
		}
	}
	for i := range p.Behaviors {
		b := &p.Behaviors[i]
		b.Columns = append([]segment.Column(nil), b.Columns...)
		what := fmt.Sprintf("behavior %q", b.Name)
		wt := c.table(b.Table, b.Origin.At("table"))
		if wt == nil {
			continue
		}
		if kc := c.column(wt, b.Key, what+" key", b.Origin.At("key")); kc != nil {
			c.keyType(kc, keyCol, wt, p, what+" key", b.Origin.At("key"))
		}
		isTime := func(col catalog.Column) bool { return catalog.IsTimeType(col.Type) }
		if tc := c.columnOf(wt, b.Time, what+" time column", b.Origin.At("time"), isTime); tc != nil &&
			!catalog.IsTimeType(tc.Type) && !catalog.IsIntegerType(tc.Type) {
			c.add(diag.Errorf(b.Origin.At("time"), CodeTimeType, "%s time column %s.%s is %s, not a TIMESTAMP, DATE or integer epoch", what, wt.Name.Table, tc.Name, tc.Type))
		}
		for j := range b.Columns {
			bc := &b.Columns[j]
			cw := fmt.Sprintf("behavior %q column %q", b.Name, bc.Name)
			if col := c.column(wt, bc.SourceColumn(), fmt.Sprintf("behavior %q column", b.Name), bc.Origin.At("column")); col != nil {
				bc.Type = c.typed(bc.Type, col, wt, cw, bc.Origin.At("column"), bc.Origin.At("type"))
			}
		}
	}
	return p
}

// keyType reports a key column whose type differs from the customers key.
func (c *checker) keyType(col, custKey *catalog.Column, wt *catalog.Table, p segment.Parent, what string, pos diag.Pos) {
	if custKey == nil || catalog.SameKeyType(col.Type, custKey.Type) {
		return
	}
	c.add(diag.Errorf(pos, CodeKeyType, "%s %s.%s is %s but the customers key %s.%s is %s",
		what, wt.Name.Table, col.Name, col.Type, p.Customers.Table.Table, custKey.Name, custKey.Type).
		WithDetail("Rows are joined to profiles on this key; both columns need the same type."))
}

func (c *checker) uniqueness(p segment.Parent) {
	u, ok := c.cat.Keys[catalog.KeyID(p.Customers.Table, p.Customers.Key)]
	switch {
	case !ok && c.opts.RequireUniqueKeys:
		c.add(diag.Warnf(p.Origin.At("customers.key"), CodeNotChecked, "uniqueness of customers key %s was not checked", p.Customers.Key))
	case ok && !u.Unique():
		c.add(diag.Errorf(p.Origin.At("customers.key"), CodeKeyNotUnique, "customers key %s.%s is not unique", p.Customers.Table.Table, p.Customers.Key).
			WithDetail("%d rows, %d distinct keys, %d null keys: each profile needs exactly one row.", u.Rows, u.Distinct, u.Nulls))
	}
}

// suggest returns the candidate nearest to name, if near enough to be a
// likely typo.
func suggest(name string, candidates []string) string {
	n, _ := diag.Nearest(name, candidates)
	return n
}

// describe renders a column type with its ION type when the names differ:
// "decimal(12,2) (number)", "string".
func describe(col *catalog.Column) string {
	if !col.Supported || strings.EqualFold(col.Type, string(col.ION)) {
		return col.Type
	}
	return col.Type + " (" + string(col.ION) + ")"
}
