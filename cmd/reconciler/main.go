// Command reconciler makes a git repository of CUE files the source of truth
// for Treasure Data composable audiences on Databricks.
//
// The commands live in internal/cli; main only sets up the process.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/cas-reconciler/reconciler/internal/cli"
	"github.com/cas-reconciler/reconciler/internal/loadworker"
)

func main() {
	if os.Getenv(loadworker.Env) != "" {
		// a load worker started by this binary (not a command)
		os.Exit(loadworker.Serve())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
