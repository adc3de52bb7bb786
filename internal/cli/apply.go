package cli

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/cas-reconciler/reconciler/internal/apply"
	"github.com/cas-reconciler/reconciler/internal/reconcile"
	"github.com/cas-reconciler/reconciler/pkg/plan"
)

// runApply implements `reconciler apply [--auto-approve] [DIR]`: it shows the
// plan, asks for confirmation on a terminal, and applies exactly that plan.
func runApply(ctx context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("apply", flag.ContinueOnError)
	fs.SetOutput(io.err)
	var f planFlags
	f.register(fs)
	auto := fs.Bool("auto-approve", false, "apply without asking for confirmation")
	fs.Usage = func() {
		fmt.Fprintln(io.err, "Usage: reconciler apply [flags] [DIR]")
		fmt.Fprintln(io.err)
		fmt.Fprintln(io.err, "Changes Treasure Data to match the repository, after showing the plan.")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 1 || !validFormat(f.format) {
		fs.Usage()
		return exitUsage
	}
	if !*auto && !isTerminal(io.in) {
		fmt.Fprintln(io.err, "reconciler apply: standard input is not a terminal; pass --auto-approve to apply without confirmation")
		return exitUsage
	}
	s, code := f.open(io, planUses(fs.Arg(0)))
	if s == nil {
		return code
	}
	defer s.Close()
	res, code := computePlan(ctx, s, fs.Arg(0), io, reconcile.Mode{DryRun: true})
	if res == nil {
		return code
	}
	if err := writePlan(io, &f, res.Plan); err != nil {
		fmt.Fprintf(io.err, "reconciler apply: %v\n", err)
		return exitFailed
	}
	if !res.Plan.HasChanges() {
		return conflictsLeft(io, res.Plan)
	}
	if !*auto {
		fmt.Fprint(io.out, "\nDo you want to apply these changes? Only 'yes' will be accepted: ")
		line, _ := bufio.NewReader(io.in).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			fmt.Fprintln(io.out, "Apply cancelled.")
			return exitFailed
		}
	}
	rep, err := apply.Run(ctx, s.src.Treasure, res.Plan, s.src.Reconciler.Apply)
	printReport(io, rep)
	if err != nil {
		fmt.Fprintf(io.err, "reconciler apply: %v\n", err)
		return exitFailed
	}
	if rep.Failed() {
		return exitFailed
	}
	return conflictsLeft(io, res.Plan)
}

// conflictsLeft returns exitFailed, saying so, when the plan has conflicts:
// objects the repository declares that apply may not create or change (a
// name taken by an object the reconciler does not own), so Treasure Data
// does not match the repository however often apply runs. Blocked changes
// (prune limits, held drift, population holds) are safety settings working
// as configured, shown in the plan, and do not fail the command.
func conflictsLeft(io stdio, p *plan.Plan) int {
	n := p.Summary().Conflict
	if n == 0 {
		return exitOK
	}
	fmt.Fprintf(io.err, "reconciler apply: %d conflict(s) left unresolved: Treasure Data does not match the repository (see the plan above)\n", n)
	return exitFailed
}

// printReport prints one line per applied change and a summary.
func printReport(io stdio, rep *apply.Report) {
	if rep == nil {
		return
	}
	fmt.Fprintln(io.out)
	for _, r := range rep.Results {
		line := fmt.Sprintf("%s %s %q: %s", r.Change.Action, r.Change.Kind, r.Change.Key.String(), r.Outcome)
		if r.ID != "" {
			line += " (id " + r.ID + ")"
		}
		if r.Err != nil {
			line += ": " + r.Err.Error()
		}
		fmt.Fprintln(io.out, line)
	}
	c := rep.Counts()
	fmt.Fprintf(io.out, "\nApply complete! %d succeeded, %d failed, %d skipped.\n",
		c[apply.Succeeded], c[apply.Failed], c[apply.Skipped])
}
