//go:build !cgo

package main

import (
	"context"
	"fmt"
)

// runDemo explains that the demo needs cgo: the Databricks stand-in embeds
// DuckDB, which the production binary (built with CGO_ENABLED=0) leaves out.
func runDemo(_ context.Context, _ []string, io stdio) int {
	fmt.Fprintln(io.err, "reconciler demo: this binary was built without cgo; run `go run ./cmd/reconciler demo` with a C compiler available")
	return exitUsage
}
