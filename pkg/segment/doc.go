// Package segment is the domain vocabulary of the reconciler: composable
// parent segments on Databricks, their attributes and behaviors, folders,
// segments, and segment rules in Treasure Data's v5 rule shape.
//
// The same values describe both sides of a reconcile. Desired values are
// decoded from CUE by package spec and carry source positions (Origin);
// observed values are read from Treasure Data by package treasure and carry
// server metadata (Meta). Package plan compares the two.
//
// Rules use Treasure's v5 JSON field names, so a rule decoded from the wire
// and encoded again is the same rule: unknown fields are kept in Extra maps and
// written back unchanged. The one deliberate difference from the wire is that
// a Reference condition names the segment it refers to (Condition.Segment)
// instead of carrying its numeric id; package treasure maps between the two.
//
// This package imports nothing from the module except package diag.
package segment
