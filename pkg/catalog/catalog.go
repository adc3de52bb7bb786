package catalog

import (
	"sort"
	"strings"
	"time"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// Catalog is what the warehouse reported about the tables a repository
// references, as seen by the connecting principal. It is a plain value:
// package validate reads it without I/O, and tests build it by hand.
type Catalog struct {
	// Host is the warehouse host name (for messages).
	Host string
	// Principal is the user or service principal the client connects as
	// (current_user()).
	Principal string
	// Tables holds one entry per requested table, keyed by Key(table).
	Tables map[string]*Table
	// Keys holds the results of key uniqueness checks, keyed by
	// KeyID(table, column); absent when not checked.
	Keys map[string]Uniqueness
}

// Key returns the case-insensitive map key of a table name.
func Key(t segment.Table) string {
	return strings.ToLower(t.Catalog + "." + t.Schema + "." + t.Table)
}

// KeyID returns the map key of a uniqueness result for column of table.
func KeyID(t segment.Table, column string) string {
	return Key(t) + "." + strings.ToLower(column)
}

// Table returns the entry for t, or nil when t was not requested.
func (c *Catalog) Table(t segment.Table) *Table {
	if c == nil {
		return nil
	}
	return c.Tables[Key(t)]
}

// Names returns the names of every entry, sorted.
func (c *Catalog) Names() []segment.Table {
	var out []segment.Table
	for _, t := range c.Tables {
		out = append(out, t.Name)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// Table describes one requested table.
type Table struct {
	// Name is the table name as requested.
	Name segment.Table
	// Found reports whether information_schema listed the table. Unity
	// Catalog shows a table only to principals that may use it, so a table
	// that exists but is not readable is not found; Access tells the two
	// apart.
	Found bool
	// Type is the table_type: MANAGED, EXTERNAL, VIEW, ...
	Type string
	// LastAltered is information_schema.tables.last_altered; the client's
	// cache is keyed by it.
	LastAltered time.Time
	// Columns in ordinal order.
	Columns []Column
	// Access is the principal's access to the table.
	Access Access
	// Missing says that the warehouse reported the table's catalog
	// (MissingCatalog) or schema (MissingSchema) as not found; empty when
	// both exist or nothing more is known.
	Missing Missing
}

// Missing names the part of a table name that the warehouse said does
// not exist.
type Missing string

// Missing parts.
const (
	MissingCatalog Missing = "catalog"
	MissingSchema  Missing = "schema"
)

// Column returns the column with the given name (case-insensitive, as Unity
// Catalog compares names).
func (t *Table) Column(name string) (*Column, bool) {
	for i := range t.Columns {
		if strings.EqualFold(t.Columns[i].Name, name) {
			return &t.Columns[i], true
		}
	}
	return nil, false
}

// Column is a column of a table.
type Column struct {
	Name string
	// Type is the Databricks type as declared (full_data_type), for example
	// "decimal(12,2)" or "array<string>".
	Type string
	// ION is the mapped Treasure Data type; empty when Supported is false.
	ION segment.IONType
	// Supported is false for types Treasure cannot use (MAP, STRUCT, ...).
	Supported bool
	Nullable  bool
}

// Privileges a principal needs to read a table.
const (
	UseCatalog = "USE CATALOG"
	UseSchema  = "USE SCHEMA"
	Select     = "SELECT"
)

// Access is the outcome of the privilege check of one table.
type Access struct {
	// Checked is false when no privilege check ran for the table.
	Checked bool
	// Missing lists the privileges the principal lacks, in the order
	// USE CATALOG, USE SCHEMA, SELECT; empty when the table is readable.
	// A probe reports the first missing privilege only, as the warehouse
	// does.
	Missing []string
	// NotFound reports that the warehouse says the table does not exist
	// (only a probe can tell).
	NotFound bool
	// Detail is the warehouse's message for a failed probe, if any.
	Detail string
}

// Readable reports whether the check ran and found every privilege.
func (a Access) Readable() bool { return a.Checked && !a.NotFound && len(a.Missing) == 0 }

// Uniqueness is the result of a key uniqueness check.
type Uniqueness struct {
	Rows     int64
	Distinct int64
	// Nulls is the number of rows whose key is NULL.
	Nulls int64
}

// Unique reports whether every row has its own non-null key.
func (u Uniqueness) Unique() bool { return u.Rows == u.Distinct && u.Nulls == 0 }

// TablesOf returns every table a state references (customers tables,
// attribute join tables and behavior tables), without duplicates, sorted.
func TablesOf(st segment.State) []segment.Table {
	seen := map[string]bool{}
	var out []segment.Table
	add := func(t segment.Table) {
		if t.IsZero() || seen[Key(t)] {
			return
		}
		seen[Key(t)] = true
		out = append(out, t)
	}
	for _, p := range st.Parents {
		add(p.Customers.Table)
		for _, a := range p.Attributes {
			if a.Join != nil {
				add(a.Join.Table)
			}
		}
		for _, b := range p.Behaviors {
			add(b.Table)
		}
	}
	sort.Slice(out, func(i, j int) bool { return Key(out[i]) < Key(out[j]) })
	return out
}

// CustomerKeys returns the customers table and key column of every parent
// segment, for CheckKeys.
func CustomerKeys(st segment.State) []segment.KeyedTable {
	var out []segment.KeyedTable
	for _, p := range st.Parents {
		if !p.Customers.Table.IsZero() && p.Customers.Key != "" {
			out = append(out, p.Customers)
		}
	}
	return out
}
