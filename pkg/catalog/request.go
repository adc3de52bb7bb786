package catalog

import (
	"strings"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// Request is what a warehouse check of a desired state reads: the tables
// the state references and, when the uniqueness of customers keys is
// checked, those keys. A warehouse answers it with a Catalog whose Tables
// hold one entry per requested table and whose Keys hold one result per
// requested key.
type Request struct {
	// Tables are the referenced tables, without duplicates, sorted.
	Tables []segment.Table
	// Keys are the customers table and key column of every parent segment
	// whose key uniqueness is checked; empty when it is not.
	Keys []segment.KeyedTable
}

// RequestOf returns the request of a warehouse check of st: every table it
// references and, with checkKeys, every customers key.
func RequestOf(st segment.State, checkKeys bool) Request {
	r := Request{Tables: TablesOf(st)}
	if checkKeys {
		r.Keys = CustomerKeys(st)
	}
	return r
}

// ID identifies what the request reads: two requests with the same ID ask
// the warehouse the same questions (names compared as Unity Catalog
// compares them, without regard to case).
func (r Request) ID() string {
	var b strings.Builder
	for _, t := range r.Tables {
		b.WriteString(Key(t))
		b.WriteByte('\n')
	}
	for _, k := range r.Keys {
		b.WriteString("key ")
		b.WriteString(KeyID(k.Table, k.Key))
		b.WriteByte('\n')
	}
	return b.String()
}
