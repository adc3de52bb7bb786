// Package catalog holds the plain values of a warehouse check: the Request
// a desired state makes (the tables it references and the customers keys
// whose uniqueness is checked, RequestOf) and the Catalog a Databricks
// warehouse answers about Unity Catalog tables: columns with their
// Databricks and Treasure Data (ION) types, the principal's access, and key
// uniqueness results, plus the mapping between the two type systems.
//
// It does no I/O. Package warehouse answers a Request from a live
// warehouse; packages reconcile and validate read these values without
// depending on the warehouse driver.
package catalog
