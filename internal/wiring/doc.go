// Package wiring turns a configuration into ready clients: per source a git
// repository (the fetcher), a Treasure Data client, a bounded CUE loader
// and a reconcile.Reconciler with the source's policies, plus one Databricks
// client that is each reconciler's catalog and population counter.
//
// It is the only package that builds the concrete clients (package cli
// builds them through it): package reconcile declares the interfaces they
// satisfy, and package daemon receives the built clients and runs the
// service around them. WarehouseOptions and TreasureClient are the one way
// from the configuration to each client's options.
package wiring
