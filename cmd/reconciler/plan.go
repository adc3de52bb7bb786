package main

import (
	"context"
	"fmt"
)

func runPlan(_ context.Context, _ []string, io stdio) int {
	fmt.Fprintln(io.err, "reconciler plan: not built yet")
	return exitUsage
}
