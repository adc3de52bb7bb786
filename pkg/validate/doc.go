// Package validate checks desired state against the warehouse: every table,
// column, key and time column a parent segment names must exist in Unity
// Catalog with a type Treasure Data can use, declared types must match the
// real ones, behavior and join keys must have the customers key's type, and
// the connecting principal must be able to read every table.
//
// Check is pure: it reads a catalog.Catalog that package warehouse (or a
// test) produced, does no I/O and reads no clock. The type is defined in
// package catalog, which has no network dependencies, so this package does
// not link the warehouse driver. Each finding is a
// diag.Diagnostic at the position of the CUE field concerned, with a code
// prefixed "warehouse-". Check also returns the state with every missing
// attribute and behavior column type filled in from the warehouse.
package validate
