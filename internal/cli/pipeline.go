package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/term"

	"github.com/cas-reconciler/reconciler/internal/config"
	"github.com/cas-reconciler/reconciler/internal/logging"
	"github.com/cas-reconciler/reconciler/internal/reconcile"
	"github.com/cas-reconciler/reconciler/internal/wiring"
)

// target are the flags plan, apply and import share: which configuration
// and source to use.
type target struct {
	config   string
	source   string
	logLevel string
}

func (t *target) register(fs *flag.FlagSet) {
	fs.StringVar(&t.config, "config", "reconciler.yaml", "configuration file (CUE or YAML)")
	fs.StringVar(&t.source, "source", "", "source to use (default: the only one configured)")
	fs.StringVar(&t.logLevel, "log-level", "warn", "log level of the clients (debug, info, warn, error)")
}

// session is a configuration with its clients and the chosen source.
type session struct {
	clients *wiring.Clients
	src     *wiring.Source
}

func (s *session) Close() { _ = s.clients.Close() }

// open loads the configuration, reading only the secrets of uses, and
// builds the clients it allows (see wiring.Build). Problems are printed;
// the returned code is the exit status to use when s is nil.
func (t *target) open(io stdio, uses config.Uses) (*session, int) {
	cfg, err := config.LoadUsing(t.config, uses)
	if err != nil {
		printConfigError(io, err)
		return nil, exitUsage
	}
	red := logging.NewRedactor(wiring.Secrets(cfg)...)
	log, err := logging.New(io.err, t.logLevel, "text", red)
	if err != nil {
		fmt.Fprintf(io.err, "reconciler: %v\n", err)
		return nil, exitUsage
	}
	clients, err := wiring.Build(cfg, wiring.Options{Logger: log, Redactor: red})
	if err != nil {
		fmt.Fprintf(io.err, "reconciler: %v\n", red.String(err.Error()))
		return nil, exitUsage
	}
	name := t.source
	if name == "" {
		if len(clients.Sources) != 1 {
			_ = clients.Close()
			fmt.Fprintf(io.err, "reconciler: the configuration has %d sources; choose one with --source\n", len(clients.Sources))
			return nil, exitUsage
		}
		name = clients.Sources[0].Name
	}
	src, err := clients.Source(name)
	if err != nil {
		_ = clients.Close()
		fmt.Fprintf(io.err, "reconciler: %v\n", err)
		return nil, exitUsage
	}
	return &session{clients: clients, src: src}, exitOK
}

// planUses are the secrets plan and apply read: Treasure Data and the
// warehouse (the plan is validated against it), and git unless a local
// checkout (dir) is planned.
func planUses(dir string) config.Uses {
	if dir != "" {
		return config.UseTreasure | config.UseWarehouse
	}
	return config.UseTreasure | config.UseWarehouse | config.UseGit
}

// snapshot returns the repository to plan: a local directory when dir is
// set (a pull request's checkout), else the tip of the source's branch.
func (s *session) snapshot(ctx context.Context, dir string) (reconcile.Snapshot, error) {
	if dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return reconcile.Snapshot{}, err
		}
		if _, err := os.Stat(abs); err != nil {
			return reconcile.Snapshot{}, err
		}
		return reconcile.Snapshot{Revision: "local:" + abs, FS: os.DirFS(abs)}, nil
	}
	snap, _, err := s.src.Snapshot(ctx)
	return snap, err
}

// isTerminal reports whether f is an *os.File on a terminal.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}
