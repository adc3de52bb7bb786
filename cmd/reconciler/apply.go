package main

import (
	"context"
	"fmt"
)

func runApply(_ context.Context, _ []string, io stdio) int {
	fmt.Fprintln(io.err, "reconciler apply: not built yet")
	return exitUsage
}
