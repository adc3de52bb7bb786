package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/cas-reconciler/reconciler/internal/config"
	"github.com/cas-reconciler/reconciler/internal/daemon"
	"github.com/cas-reconciler/reconciler/internal/logging"
	"github.com/cas-reconciler/reconciler/internal/metrics"
	"github.com/cas-reconciler/reconciler/internal/wiring"
	"github.com/cas-reconciler/reconciler/pkg/diag"
)

// runDaemon implements `reconciler run --config FILE`.
func runDaemon(ctx context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.err)
	cfgPath := fs.String("config", "", "configuration file (CUE or YAML); required")
	check := fs.Bool("check", false, "validate the configuration and exit")
	level := fs.String("log-level", "", "override log.level (debug, info, warn, error)")
	fs.Usage = func() {
		fmt.Fprintln(io.err, "Usage: reconciler run --config FILE [--check] [--log-level LEVEL]")
		fmt.Fprintln(io.err)
		fmt.Fprintln(io.err, "Runs the reconciler daemon: schedules, webhooks, /metrics, /status.")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *cfgPath == "" || fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	// --check lints the file where its secrets are not at hand (CI): the
	// references are checked for shape only, none is read.
	uses := config.UseAll
	if *check {
		uses = config.UseNone
	}
	cfg, err := config.LoadUsing(*cfgPath, uses)
	if err != nil {
		printConfigError(io, err)
		return exitUsage
	}
	if *check {
		fmt.Fprintf(io.out, "%s: configuration is valid (%d sources); secret references checked for shape, not read\n", *cfgPath, len(cfg.Sources))
		return exitOK
	}
	if *level != "" {
		cfg.Log.Level = *level
	}
	red := logging.NewRedactor(wiring.Secrets(cfg)...)
	log, err := logging.New(io.err, cfg.Log.Level, cfg.Log.Format, red)
	if err != nil {
		fmt.Fprintf(io.err, "reconciler run: %v\n", err)
		return exitUsage
	}
	tuneMemory(os.Getenv, os.ReadFile)
	gc, limit := effectiveMemorySettings()
	log.Info("memory", "gc_percent", gc, "memory_limit_bytes", limit,
		"from_env", os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "")
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	d, err := NewDaemon(daemon.Options{Config: cfg, Logger: log}, red, reg)
	if err != nil {
		log.Error("cannot start", "err", err)
		return exitFailed
	}
	if err := d.Run(ctx); err != nil {
		log.Error("daemon failed", "err", err)
		return exitFailed
	}
	return exitOK
}

// NewDaemon builds the clients of opts.Config with package wiring,
// reporting to a metrics recorder on reg, and hands them to daemon.New.
func NewDaemon(opts daemon.Options, red *logging.Redactor, reg *prometheus.Registry) (*daemon.Daemon, error) {
	rec := metrics.New(reg)
	clients, err := wiring.Build(opts.Config, wiring.Options{Logger: opts.Logger, Metrics: rec, Redactor: red, Now: opts.Now})
	if err != nil {
		return nil, err
	}
	opts.Clients, opts.Metrics, opts.Gatherer = clients, rec, reg
	return daemon.New(opts)
}

// printConfigError prints every configuration problem, one per line.
func printConfigError(io stdio, err error) {
	var inv *diag.InvalidError
	if errors.As(err, &inv) {
		for _, d := range inv.Diags {
			fmt.Fprintln(io.err, d.String())
		}
		n, _ := inv.Diags.Count()
		fmt.Fprintf(io.err, "reconciler: invalid configuration (%d errors)\n", n)
		return
	}
	fmt.Fprintf(io.err, "reconciler: %v\n", err)
}
