package main

import (
	"context"
	"fmt"
	"runtime"

	"github.com/cas-reconciler/reconciler/pkg/version"
)

func runVersion(_ context.Context, _ []string, io stdio) int {
	fmt.Fprintf(io.out, "reconciler %s (commit %s, %s)\n", version.Version, version.Commit, runtime.Version())
	return exitOK
}
