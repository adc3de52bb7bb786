// Command reconciler-demo runs the reconciler on embedded stand-ins of
// Treasure Data and a Databricks warehouse, with a local git repository made
// from the embedded retail example. `reconciler demo` runs it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/cas-reconciler/reconciler/internal/demo"
	"github.com/cas-reconciler/reconciler/internal/loadworker"
)

func main() {
	if os.Getenv(loadworker.Env) != "" {
		// a load worker started by the demo's daemon (not the demo)
		os.Exit(loadworker.Serve())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := demo.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
