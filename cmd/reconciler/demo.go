package main

import (
	"context"
	"fmt"
)

func runDemo(_ context.Context, _ []string, io stdio) int {
	fmt.Fprintln(io.err, "reconciler demo: not built yet")
	return exitUsage
}
