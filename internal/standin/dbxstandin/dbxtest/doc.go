// Package dbxtest starts the Databricks warehouse stand-in (package
// dbxstandin) for tests: one call loads a fixture, serves it on loopback and
// closes it when the test ends. Like dbxstandin it needs cgo.
package dbxtest
