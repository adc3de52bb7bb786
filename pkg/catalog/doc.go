// Package catalog holds the plain values that describe what a Databricks
// warehouse reports about Unity Catalog tables: columns with their
// Databricks and Treasure Data (ION) types, the principal's access, and key
// uniqueness results, plus the mapping between the two type systems.
//
// It does no I/O. Package warehouse fills these values from a live
// warehouse and re-exports them under its own name (warehouse.Catalog is
// catalog.Catalog); package validate reads them without depending on the
// warehouse driver.
package catalog
