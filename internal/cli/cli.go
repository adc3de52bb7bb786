// Package cli implements the commands of the reconciler binary: each
// subcommand lives in its own file; Main dispatches to one and returns its
// exit code.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
)

// stdio carries the process streams, so that commands can be run in tests.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, io stdio) int
}

// Exit codes shared by every command.
const (
	exitOK      = 0
	exitFailed  = 1 // the command ran and found problems (invalid spec, failed apply)
	exitUsage   = 2 // bad flags, bad config, internal error
	exitChanges = 2 // plan --detailed-exitcode: changes present
)

func commands() []command {
	return []command{
		{"validate", "check CUE definitions (and optionally the warehouse) without changing anything", runValidate},
		{"plan", "show what apply would change in Treasure Data", runPlan},
		{"preview", "count the profiles segments match on the warehouse, with their SQL", runPreview},
		{"apply", "change Treasure Data to match the repository", runApply},
		{"import", "write CUE files for objects that already exist in Treasure Data", runImport},
		{"doctor", "check the Treasure Data account and the warehouse before turning the daemon on", runDoctor},
		{"run", "run the reconciler daemon", runDaemon},
		{"demo", "run the whole system on embedded stand-ins (runs reconciler-demo)", runDemo},
		{"version", "print the version", runVersion},
	}
}

// Main runs the command named by args[0] (the arguments after the program
// name) with the given streams and returns the process exit code.
func Main(ctx context.Context, args []string, in io.Reader, out, errw io.Writer) int {
	return dispatch(ctx, args, stdio{in: in, out: out, err: errw})
}

func dispatch(ctx context.Context, args []string, io stdio) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(io.err)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], io)
		}
	}
	fmt.Fprintf(io.err, "reconciler: unknown command %q\n\n", args[0])
	usage(io.err)
	return exitUsage
}

// parseFlags parses a command's flags. -h and --help print the command's
// usage and end it with exit 0; a bad flag (already reported with the usage)
// ends it with exitUsage. ok is false when the command must end with code.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return exitOK, true
	case errors.Is(err, flag.ErrHelp):
		return exitOK, false
	}
	return exitUsage, false
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: reconciler <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'reconciler <command> -h' for a command's flags.")
}
