package demo

// Package is the import path of the demo's command, for `go install`.
const Package = "github.com/cas-reconciler/reconciler/cmd/reconciler-demo"
