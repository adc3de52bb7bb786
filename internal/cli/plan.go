package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cas-reconciler/reconciler/internal/reconcile"
	"github.com/cas-reconciler/reconciler/pkg/plan"
)

// planFlags are the flags of plan and apply.
type planFlags struct {
	target
	format   string
	out      string
	detailed bool
	all      bool
	// noPopulation skips the population preview.
	noPopulation bool
}

func (p *planFlags) register(fs *flag.FlagSet) {
	p.target.register(fs)
	fs.StringVar(&p.format, "format", "text", "output format: text, json or markdown")
	fs.StringVar(&p.out, "out", "", "write the plan to this file instead of standard output")
	fs.BoolVar(&p.all, "show-unchanged", false, "list unchanged objects too")
}

// runPlan implements `reconciler plan [--config FILE] [DIR]`. With
// --detailed-exitcode every error exits 1, usage and configuration errors
// included, so that 2 always means "something to do": changes, or
// conflicts and blocked changes that need a person.
func runPlan(ctx context.Context, args []string, io stdio) int {
	code, changes := planCommand(ctx, args, io)
	switch {
	case changes:
		return exitChanges
	case code == exitUsage && detailedExitCode(args):
		return exitFailed
	}
	return code
}

// detailedExitCode reports whether args ask for --detailed-exitcode (as far
// as they can be read before the flags are parsed).
func detailedExitCode(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		switch a {
		case "-detailed-exitcode", "--detailed-exitcode", "-detailed-exitcode=true", "--detailed-exitcode=true":
			return true
		}
	}
	return false
}

// planCommand runs plan; changes reports that --detailed-exitcode was given
// and the plan has changes, conflicts or blocked changes (protected objects
// aside).
func planCommand(ctx context.Context, args []string, io stdio) (code int, changes bool) {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(io.err)
	var f planFlags
	f.register(fs)
	fs.BoolVar(&f.detailed, "detailed-exitcode", false, "exit 0 without changes, 1 on error, 2 with changes, conflicts or blocked changes")
	fs.BoolVar(&f.noPopulation, "no-population", false, "do not count the profiles of created and updated segments on the warehouse")
	fs.Usage = func() {
		fmt.Fprintln(io.err, "Usage: reconciler plan [flags] [DIR]")
		fmt.Fprintln(io.err)
		fmt.Fprintln(io.err, "Shows what apply would change in Treasure Data. DIR plans a local checkout")
		fmt.Fprintln(io.err, "(a pull request); without it the source's branch is fetched.")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code, false
	}
	if fs.NArg() > 1 || !validFormat(f.format) {
		fs.Usage()
		return exitUsage, false
	}
	s, code := f.open(io, planUses(fs.Arg(0)))
	if s == nil {
		return code, false
	}
	defer s.Close()
	res, code := computePlan(ctx, s, fs.Arg(0), io, reconcile.Mode{DryRun: true, NoPopulation: f.noPopulation})
	if res == nil {
		return code, false
	}
	if err := writePlan(io, &f, res.Plan); err != nil {
		fmt.Fprintf(io.err, "reconciler plan: %v\n", err)
		return exitFailed, false
	}
	if f.detailed && (res.Plan.HasChanges() || res.Plan.Summary().Unresolved() > 0) {
		return exitOK, true
	}
	return exitOK, false
}

// computePlan runs a dry reconcile and prints diagnostics. A nil result
// comes with the exit code.
func computePlan(ctx context.Context, s *session, dir string, io stdio, mode reconcile.Mode) (*reconcile.Result, int) {
	snap, err := s.snapshot(ctx, dir)
	if err != nil {
		fmt.Fprintf(io.err, "reconciler: %v\n", err)
		return nil, exitFailed
	}
	res, err := s.src.Reconciler.Run(ctx, snap, mode)
	for _, d := range res.Diagnostics {
		fmt.Fprintln(io.err, d.String())
		if d.Detail != "" {
			fmt.Fprintln(io.err, "    "+d.Detail)
		}
	}
	if err != nil {
		var st *reconcile.Stalled
		var ce *reconcile.CredentialError
		switch {
		case errors.As(err, &ce):
			fmt.Fprintf(io.err, "reconciler: %v\n", ce)
		case errors.As(err, &st):
			fmt.Fprintf(io.err, "reconciler: the repository is not valid (%s); nothing was planned\n", st.Reason)
		default:
			fmt.Fprintf(io.err, "reconciler: %v\n", err)
		}
		return nil, exitFailed
	}
	return res, exitOK
}

func validFormat(f string) bool { return f == "text" || f == "json" || f == "markdown" }

func writePlan(std stdio, f *planFlags, p *plan.Plan) error {
	var w io.Writer = std.out
	color := f.out == "" && isTerminal(std.out) && os.Getenv("NO_COLOR") == ""
	if f.out != "" {
		file, err := os.Create(f.out)
		if err != nil {
			return err
		}
		defer file.Close()
		w = file
	}
	switch f.format {
	case "json":
		return plan.WriteJSON(w, p, f.all)
	case "markdown":
		return plan.WriteMarkdown(w, p, "", 0)
	}
	return plan.WriteText(w, p, plan.TextOptions{Color: color, ShowUnchanged: f.all})
}

// Plan computes the plan of the only source of the configuration at cfgPath
// against its remote, writes it as text to out, as `reconciler plan --config
// cfgPath` does, and returns the dry run's result. Problems are written to
// errw.
func Plan(ctx context.Context, cfgPath string, out, errw io.Writer) (*reconcile.Result, error) {
	std := stdio{in: strings.NewReader(""), out: out, err: errw}
	t := target{config: cfgPath, logLevel: "error"}
	s, _ := t.open(std, planUses(""))
	if s == nil {
		return nil, errors.New("cannot build the clients")
	}
	res, _ := computePlan(ctx, s, "", std, reconcile.Mode{DryRun: true})
	s.Close()
	if res == nil {
		return nil, errors.New("the plan failed")
	}
	return res, writePlan(std, &planFlags{format: "text"}, res.Plan)
}
