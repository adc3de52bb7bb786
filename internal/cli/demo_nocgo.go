//go:build !cgo

package cli

import (
	"context"
	"flag"
	"fmt"
)

// runDemo explains that the demo needs cgo: the Databricks stand-in embeds
// DuckDB, which the production binary (built with CGO_ENABLED=0) leaves out.
func runDemo(_ context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(io.err)
	fs.Usage = func() {
		fmt.Fprintln(io.err, "Usage: reconciler demo [flags]")
		fmt.Fprintln(io.err)
		fmt.Fprintln(io.err, "Runs the reconciler on embedded stand-ins. This binary was built without cgo,")
		fmt.Fprintln(io.err, "which the demo needs (the warehouse stand-in embeds DuckDB): run")
		fmt.Fprintln(io.err, "`go run ./cmd/reconciler demo` with a C compiler available.")
	}
	// The demo's flags are unknown here: only -h and --help are answered.
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fs.Usage()
			return exitOK
		}
	}
	fmt.Fprintln(io.err, "reconciler demo: this binary was built without cgo; run `go run ./cmd/reconciler demo` with a C compiler available")
	return exitUsage
}
