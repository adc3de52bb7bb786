//go:build !cgo

// Package demo runs the whole system on embedded stand-ins. Its warehouse
// stand-in embeds DuckDB, which needs cgo: built without it, the demo only
// says so.
package demo

import (
	"context"
	"fmt"
	"io"
)

// Main explains that this build of the demo has no demo in it.
func Main(_ context.Context, args []string, _ io.Reader, _, errw io.Writer) int {
	fmt.Fprintln(errw, "reconciler-demo: this binary was built without cgo, which the demo needs (its warehouse")
	fmt.Fprintln(errw, "stand-in embeds DuckDB). With a C compiler available, install it with")
	fmt.Fprintln(errw, "  CGO_ENABLED=1 go install "+Package+"@latest")
	fmt.Fprintln(errw, "or, in a checkout of the source, run `go run ./cmd/reconciler demo`.")
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			return 0
		}
	}
	return 2
}
