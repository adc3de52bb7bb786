package main

import (
	"context"
	"fmt"
)

func runImport(_ context.Context, _ []string, io stdio) int {
	fmt.Fprintln(io.err, "reconciler import: not built yet")
	return exitUsage
}
