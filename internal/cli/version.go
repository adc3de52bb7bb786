package cli

import (
	"context"
	"flag"
	"fmt"
	"runtime"

	"github.com/cas-reconciler/reconciler/internal/version"
)

func runVersion(_ context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(io.err)
	fs.Usage = func() {
		fmt.Fprintln(io.err, "Usage: reconciler version")
		fmt.Fprintln(io.err)
		fmt.Fprintln(io.err, "Prints the version, the commit and the Go version of the binary.")
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	fmt.Fprintf(io.out, "reconciler %s (commit %s, %s)\n", version.Version, version.Commit, runtime.Version())
	return exitOK
}
