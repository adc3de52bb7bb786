package main

import (
	"context"
	"fmt"
)

func runDaemon(_ context.Context, _ []string, io stdio) int {
	fmt.Fprintln(io.err, "reconciler run: not built yet")
	return exitUsage
}
