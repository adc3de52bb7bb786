package main

import (
	"context"
	"fmt"
)

func runValidate(_ context.Context, _ []string, io stdio) int {
	fmt.Fprintln(io.err, "reconciler validate: not built yet")
	return exitUsage
}
