// Package arch holds tests that enforce the project's architecture: the
// one-way flow source → spec → validate → observe → plan → apply → report,
// pure cores without network I/O, adapters that each talk to one system, and a
// production binary that builds without cgo.
package arch
