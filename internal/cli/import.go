package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cas-reconciler/reconciler/internal/config"
	"github.com/cas-reconciler/reconciler/pkg/segment"
	"github.com/cas-reconciler/reconciler/pkg/spec"
)

// runImport implements `reconciler import --parent NAME [--out DIR]`.
func runImport(ctx context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(io.err)
	var t target
	t.register(fs)
	parent := fs.String("parent", "", "name of the parent segment to import; required")
	out := fs.String("out", ".", "directory to write the CUE files into")
	pkg := fs.String("package", "segments", "CUE package name of the files")
	force := fs.Bool("force", false, "overwrite existing files")
	conn := fs.String("connection", "", "name of the parent segment's Databricks connection in Treasure Data\n(Treasure reports only its id; the name is checked against it)")
	actConns := fs.String("activation-connections", "", "comma-separated names of the connections the segments' activations use\n(Treasure reports only their ids; each name is resolved to its id)")
	fs.Usage = func() {
		fmt.Fprintln(io.err, "Usage: reconciler import --parent NAME --connection NAME [--activation-connections NAMES] [--out DIR] [flags]")
		fmt.Fprintln(io.err)
		fmt.Fprintln(io.err, "Writes CUE files for a parent segment that exists in Treasure Data, with its")
		fmt.Fprintln(io.err, "folders and segments. Objects the reconciler does not own are marked")
		fmt.Fprintln(io.err, "lifecycle.adopt, so that the repository takes them over.")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *parent == "" || fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	// Import reads Treasure Data only.
	s, code := t.open(io, config.UseTreasure)
	if s == nil {
		return code
	}
	defer s.Close()
	st, err := s.src.Treasure.Observe(ctx, []string{*parent})
	if err != nil {
		fmt.Fprintf(io.err, "reconciler import: %v\n", err)
		return exitFailed
	}
	if len(st.Parents) == 0 {
		fmt.Fprintf(io.err, "reconciler import: no parent segment named %q in Treasure Data\n", *parent)
		return exitFailed
	}
	for i := range st.Parents {
		p := &st.Parents[i]
		if p.Connection != "" {
			continue
		}
		if *conn == "" {
			fmt.Fprintf(io.err, "reconciler import: Treasure Data reports parent segment %q's connection only by id (%s); name it with --connection\n", p.Name, p.ConnectionID)
			return exitUsage
		}
		id, err := s.src.Treasure.ResolveConnection(ctx, *conn)
		if err != nil {
			fmt.Fprintf(io.err, "reconciler import: %v\n", err)
			return exitFailed
		}
		if id != p.ConnectionID {
			fmt.Fprintf(io.err, "reconciler import: connection %q has id %s, but parent segment %q uses %s\n", *conn, id, p.Name, p.ConnectionID)
			return exitFailed
		}
		p.Connection = *conn
	}
	// Activations: one listing per segment. Resolving the names first
	// lets the listings report each activation's connection by name.
	for _, name := range strings.Split(*actConns, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		if _, err := s.src.Treasure.ResolveConnection(ctx, name); err != nil {
			fmt.Fprintf(io.err, "reconciler import: %v\n", err)
			return exitFailed
		}
	}
	if err := s.src.Treasure.ObserveActivations(ctx, &st, func(*segment.Segment) bool { return true }); err != nil {
		fmt.Fprintf(io.err, "reconciler import: %v\n", err)
		return exitFailed
	}
	activations, hidden := 0, 0
	for i := range st.Segments {
		sg := &st.Segments[i]
		// A segment without activations is imported without the field:
		// its activations stay unmanaged until the repository declares some.
		sg.HasActivations = len(sg.Activations) > 0
		for _, a := range sg.Activations {
			activations++
			if a.Connection == "" {
				fmt.Fprintf(io.err, "reconciler import: Treasure Data reports the connection of activation %q of segment %q only by id (%s); name it with --activation-connections\n", a.Name, sg.Name, a.ConnectionID)
				return exitUsage
			}
			for _, v := range a.ConnectorConfig {
				if v.Hidden {
					hidden++
				}
			}
		}
	}
	adoptUnowned(&st)
	files, err := spec.Format(st, spec.FormatOptions{Package: *pkg})
	if err != nil {
		fmt.Fprintf(io.err, "reconciler import: %v\n", err)
		return exitFailed
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		path := filepath.Join(*out, filepath.FromSlash(name))
		if _, err := os.Stat(path); err == nil && !*force {
			fmt.Fprintf(io.err, "reconciler import: %s exists; pass --force to overwrite\n", path)
			return exitFailed
		}
	}
	for _, name := range names {
		path := filepath.Join(*out, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			fmt.Fprintf(io.err, "reconciler import: %v\n", err)
			return exitFailed
		}
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			fmt.Fprintf(io.err, "reconciler import: %v\n", err)
			return exitFailed
		}
		fmt.Fprintln(io.out, "wrote", path)
	}
	fmt.Fprintf(io.out, "Imported parent segment %q: %d folders, %d segments, %d activations.\n", *parent, len(st.Folders), len(st.Segments), activations)
	if hidden > 0 {
		fmt.Fprintf(io.out, "%d secret connector setting(s) are written as {env: \"SECRET_...\"}: set those variables before the next apply.\n", hidden)
	}
	return exitOK
}

// adoptUnowned marks objects the reconciler does not own for adoption.
func adoptUnowned(st *segment.State) {
	for i := range st.Parents {
		st.Parents[i].Lifecycle.Adopt = !st.Parents[i].Meta.Owned
	}
	for i := range st.Folders {
		st.Folders[i].Lifecycle.Adopt = !st.Folders[i].Meta.Owned
	}
	for i := range st.Segments {
		st.Segments[i].Lifecycle.Adopt = !st.Segments[i].Meta.Owned
		for j := range st.Segments[i].Activations {
			a := &st.Segments[i].Activations[j]
			a.Lifecycle.Adopt = !a.Meta.Owned
		}
	}
}
