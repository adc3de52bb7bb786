package warehouse

import (
	"github.com/cas-reconciler/reconciler/pkg/catalog"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// The values a Snapshot returns are defined in package catalog, which has no
// network dependencies, so that pure packages can read them. They are the
// same types under these names.
type (
	// Catalog is catalog.Catalog.
	Catalog = catalog.Catalog
	// Table is catalog.Table.
	Table = catalog.Table
	// Column is catalog.Column.
	Column = catalog.Column
	// Access is catalog.Access.
	Access = catalog.Access
	// Uniqueness is catalog.Uniqueness.
	Uniqueness = catalog.Uniqueness
	// Missing is catalog.Missing.
	Missing = catalog.Missing
)

// Missing parts of a table name.
const (
	MissingCatalog = catalog.MissingCatalog
	MissingSchema  = catalog.MissingSchema
)

// Privileges a principal needs to read a table.
const (
	UseCatalog = catalog.UseCatalog
	UseSchema  = catalog.UseSchema
	Select     = catalog.Select
)

// Key returns the case-insensitive map key of a table name.
func Key(t segment.Table) string { return catalog.Key(t) }

// KeyID returns the map key of a uniqueness result for column of table.
func KeyID(t segment.Table, column string) string { return catalog.KeyID(t, column) }

// TablesOf returns every table a state references, without duplicates,
// sorted.
func TablesOf(st segment.State) []segment.Table { return catalog.TablesOf(st) }

// CustomerKeys returns the customers table and key column of every parent
// segment.
func CustomerKeys(st segment.State) []segment.KeyedTable { return catalog.CustomerKeys(st) }

// IONType maps a Databricks column type to a Treasure Data ION type; see
// catalog.IONType.
func IONType(databricksType string) (segment.IONType, bool) { return catalog.IONType(databricksType) }

// IsIntegerType reports whether a Databricks type is an integer type.
func IsIntegerType(databricksType string) bool { return catalog.IsIntegerType(databricksType) }

// IsTimeType reports whether a Databricks type is DATE or a TIMESTAMP type.
func IsTimeType(databricksType string) bool { return catalog.IsTimeType(databricksType) }
