package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cas-reconciler/reconciler/internal/config"
	"github.com/cas-reconciler/reconciler/internal/doctor"
	"github.com/cas-reconciler/reconciler/internal/loadworker"
	"github.com/cas-reconciler/reconciler/internal/logging"
	"github.com/cas-reconciler/reconciler/internal/wiring"
	"github.com/cas-reconciler/reconciler/pkg/diag"
)

// exitInterrupted is doctor's exit code when a signal or --timeout ended it
// (after the sandbox cleaned up).
const exitInterrupted = 3

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// runDoctor implements `reconciler doctor [--config FILE] [--sandbox FOLDER]`.
func runDoctor(ctx context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(io.err)
	cfgPath := fs.String("config", "reconciler.yaml", "configuration file (CUE or YAML)")
	logLevel := fs.String("log-level", "warn", "log level of the clients (debug, info, warn, error)")
	asJSON := fs.Bool("json", false, "write the report as JSON")
	sandbox := fs.String("sandbox", "", "also write: create, plan, update and delete a segment in a new `folder` of this name under the parent's root folder")
	timeout := fs.Duration("timeout", 10*time.Minute, "overall time limit")
	whTimeout := fs.Duration("warehouse-timeout", 5*time.Minute, "time limit of the warehouse checks, waiting for a stopped warehouse to start included")
	var parents, conns listFlag
	fs.Var(&parents, "parent", "parent segment `name` to check (repeatable; default every parent segment the key may see); the sandbox uses the first")
	fs.Var(&conns, "connection", "connection `name` to resolve (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(io.err, "Usage: reconciler doctor [flags] [DIR]")
		fmt.Fprintln(io.err)
		fmt.Fprintln(io.err, "Checks the Treasure Data account and the warehouse before the daemon is")
		fmt.Fprintln(io.err, "turned on. With DIR, a checkout of the repository, the parent segments it")
		fmt.Fprintln(io.err, "declares and every connection it names are checked. Read-only unless")
		fmt.Fprintln(io.err, "--sandbox is given. Exit 0: every check passed")
		fmt.Fprintln(io.err, "(warnings allowed); 1: a check failed; 2: bad flags or configuration;")
		fmt.Fprintln(io.err, "3: interrupted or out of time (the sandbox was cleaned up).")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return exitUsage
	}
	if fs.NArg() == 1 {
		// A checkout of the repository: its parent segments and the
		// connections they and their activations name are checked
		// (besides those given by flags).
		p, c, ok := specNames(ctx, fs.Arg(0), io)
		if !ok {
			return exitUsage
		}
		if len(parents) == 0 {
			parents = p
		}
		conns = appendNew(conns, c...)
	}
	if *sandbox != "" {
		if msg := badFolderName(*sandbox); msg != "" {
			fmt.Fprintf(io.err, "reconciler doctor: --sandbox %q: %s; nothing was written\n", *sandbox, msg)
			return exitUsage
		}
		if len(parents) == 0 {
			fmt.Fprintln(io.err, "reconciler doctor: --sandbox needs --parent NAME (the parent segment to write in); nothing was written")
			return exitUsage
		}
	}
	if *timeout <= 0 || *whTimeout <= 0 {
		fmt.Fprintln(io.err, "reconciler doctor: --timeout and --warehouse-timeout must be positive")
		return exitUsage
	}

	cfg, err := config.LoadUsing(*cfgPath, config.UseTreasure|config.UseWarehouse)
	if err != nil {
		printConfigError(io, err)
		return exitUsage
	}
	red := logging.NewRedactor(wiring.Secrets(cfg)...)
	log, err := logging.New(io.err, *logLevel, "text", red)
	if err != nil {
		fmt.Fprintf(io.err, "reconciler doctor: %v\n", err)
		return exitUsage
	}
	bo := wiring.Options{Logger: log, Redactor: red}
	clients, err := wiring.Build(cfg, bo)
	if err != nil {
		fmt.Fprintf(io.err, "reconciler doctor: %v\n", red.String(err.Error()))
		return exitUsage
	}
	defer clients.Close()
	td, err := wiring.TreasureClient(cfg, doctor.Owner, bo)
	if err != nil {
		fmt.Fprintf(io.err, "reconciler doctor: %v\n", red.String(err.Error()))
		return exitUsage
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var rep doctor.Report
	opts := doctor.Options{Parents: parents, Connections: conns, WarehouseTimeout: *whTimeout, Progress: io.err}
	if clients.Warehouse != nil {
		opts.Warehouse = clients.Warehouse
	}
	found := doctor.Run(ctx, td, opts, &rep)
	if *sandbox != "" {
		var p = found
		switch {
		case len(p) > 0 && p[0].Name == parents[0]:
			doctor.Sandbox(ctx, td, p[0], doctor.SandboxOptions{Folder: *sandbox, Progress: io.err}, &rep)
		default:
			rep.Checks = append(rep.Checks, doctor.Check{Name: "sandbox:" + *sandbox, Status: doctor.Skip,
				Reason: doctor.ReasonNotConfigured, Detail: "parent segment " + parents[0] + " could not be read"})
		}
	}
	if *asJSON {
		err = rep.WriteJSON(io.out)
	} else {
		err = rep.WriteText(io.out)
	}
	if err != nil {
		fmt.Fprintf(io.err, "reconciler doctor: %v\n", err)
		return exitFailed
	}
	switch {
	case ctx.Err() != nil:
		return exitInterrupted
	case rep.Failed():
		return exitFailed
	}
	return exitOK
}

// specNames loads the CUE of a checkout (bounded as validate loads it)
// and returns the names of its parent segments and of the connections its
// parent segments and activations name, in file order. Problems are printed.
func specNames(ctx context.Context, dir string, io stdio) (parents, conns []string, ok bool) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		fmt.Fprintf(io.err, "reconciler doctor: %s is not a directory (a checkout of the repository)\n", dir)
		return nil, nil, false
	}
	res, err := loadworker.New(validateLimits).Load(ctx, os.DirFS(dir))
	if res != nil {
		for _, d := range res.Diagnostics {
			if d.Severity == diag.Error {
				fmt.Fprintln(io.err, d.String())
			}
		}
	}
	if err != nil || res.Diagnostics.HasErrors() {
		fmt.Fprintf(io.err, "reconciler doctor: the repository in %s is not valid (run reconciler validate); nothing was checked\n", dir)
		return nil, nil, false
	}
	for _, p := range res.State.Parents {
		parents = append(parents, p.Name)
		conns = appendNew(conns, p.Connection)
	}
	for _, s := range res.State.Segments {
		for _, a := range s.Activations {
			conns = appendNew(conns, a.Connection)
		}
	}
	return parents, conns, true
}

// appendNew appends the non-empty values that list does not hold yet.
func appendNew(list []string, vs ...string) []string {
	for _, v := range vs {
		if v != "" && !slices.Contains(list, v) {
			list = append(list, v)
		}
	}
	return list
}

// badFolderName says what is wrong with a sandbox folder name, or "".
func badFolderName(n string) string {
	switch {
	case strings.TrimSpace(n) != n:
		return "leading or trailing spaces"
	case strings.Contains(n, "/"):
		return "a folder name, not a path (no /)"
	case len(n) > 100:
		return "longer than 100 characters"
	case strings.ContainsFunc(n, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return "control characters"
	}
	return ""
}
