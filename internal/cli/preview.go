package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/cas-reconciler/reconciler/internal/config"
	"github.com/cas-reconciler/reconciler/internal/reconcile"
	"github.com/cas-reconciler/reconciler/pkg/catalog"
	"github.com/cas-reconciler/reconciler/pkg/plan"
	"github.com/cas-reconciler/reconciler/pkg/population"
	"github.com/cas-reconciler/reconciler/pkg/segment"
	"github.com/cas-reconciler/reconciler/pkg/validate"
)

// runPreview implements `reconciler preview [--config FILE] [DIR]
// SEGMENT...`: the population of each named segment on the warehouse, the
// SQL that counts it and, with --sample N, a few of its keys.
func runPreview(ctx context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("preview", flag.ContinueOnError)
	fs.SetOutput(io.err)
	var t target
	t.register(fs)
	sample := fs.Int("sample", 0, "also list up to N matching customer keys")
	fs.Usage = func() {
		fmt.Fprintln(io.err, "Usage: reconciler preview [flags] [DIR] SEGMENT...")
		fmt.Fprintln(io.err)
		fmt.Fprintln(io.err, "Counts the profiles each segment matches on the warehouse and prints the SQL.")
		fmt.Fprintln(io.err, "SEGMENT is a segment name, or PARENT/NAME when names repeat across parent segments.")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	names := fs.Args()
	dir := ""
	if len(names) > 1 {
		if st, err := os.Stat(names[0]); err == nil && st.IsDir() {
			dir, names = names[0], names[1:]
		}
	}
	if len(names) == 0 || *sample < 0 {
		fs.Usage()
		return exitUsage
	}
	uses := config.UseTreasure | config.UseWarehouse
	if dir == "" {
		uses |= config.UseGit
	}
	s, code := t.open(io, uses)
	if s == nil {
		return code
	}
	defer s.Close()
	wh := s.clients.Warehouse
	if wh == nil {
		fmt.Fprintln(io.err, "reconciler preview: the configuration has no usable Databricks credentials")
		return exitUsage
	}
	snap, err := s.snapshot(ctx, dir)
	if err != nil {
		fmt.Fprintf(io.err, "reconciler: %v\n", err)
		return exitFailed
	}
	loaded, err := s.src.Reconciler.Loader.Load(ctx, snap.FS)
	if err != nil {
		fmt.Fprintf(io.err, "reconciler: %v\n", err)
		return exitFailed
	}
	desired := loaded.State
	diags := loaded.Diagnostics
	cat, err := wh.Read(ctx, catalog.RequestOf(desired, false))
	if err != nil {
		fmt.Fprintf(io.err, "reconciler: warehouse: %v\n", err)
		return exitFailed
	}
	desired, more := validate.Check(desired, cat, s.src.Reconciler.Validate)
	diags = append(diags, more...).Sort()
	for _, d := range diags {
		fmt.Fprintln(io.err, d.String())
	}
	if diags.HasErrors() {
		fmt.Fprintln(io.err, "reconciler: the repository is not valid; nothing was counted")
		return exitFailed
	}
	timeout := s.src.Reconciler.PopulationOptions.Timeout
	failed := false
	now := time.Now()
	for _, name := range names {
		seg, err := findSegment(desired, name)
		if err != nil {
			fmt.Fprintf(io.err, "reconciler preview: %v\n", err)
			failed = true
			continue
		}
		var parent *segment.Parent
		for i := range desired.Parents {
			if desired.Parents[i].Name == seg.Parent {
				parent = &desired.Parents[i]
			}
		}
		rules := map[string]*segment.Rule{}
		for i := range desired.Segments {
			if desired.Segments[i].Parent == seg.Parent {
				rules[desired.Segments[i].Name] = &desired.Segments[i].Rule
			}
		}
		opts := population.Options{Now: now, Segments: rules, TimeKinds: reconcile.TimeKinds(parent, cat)}
		st, err := population.CompileBatch(parent, []population.Named{{Name: seg.Name, Rule: &seg.Rule}, {Name: "total", Rule: &segment.Rule{}}}, opts)
		if err != nil {
			fmt.Fprintf(io.err, "reconciler preview: %v\n", err)
			failed = true
			continue
		}
		counts, err := wh.Count(ctx, st, timeout)
		if err != nil {
			fmt.Fprintf(io.err, "reconciler preview: segment %q: warehouse: %v\n", seg.Key().String(), err)
			failed = true
			continue
		}
		fmt.Fprintf(io.out, "segment %q: %s of %s profiles\n\n", seg.Key().String(), plan.Thousands(counts[0]), plan.Thousands(counts[1]))
		fmt.Fprint(io.out, indent(st.SQL))
		for _, p := range st.Params {
			fmt.Fprintf(io.out, "    -- :%s = %v\n", p.Name, p.Value)
		}
		if *sample > 0 {
			sst, err := population.CompileSample(parent, population.Named{Name: seg.Name, Rule: &seg.Rule}, *sample, opts)
			if err == nil {
				var keys []string
				if keys, err = wh.Keys(ctx, sst, timeout); err == nil {
					fmt.Fprintf(io.out, "\nsample (%d): %s\n", len(keys), strings.Join(keys, ", "))
				}
			}
			if err != nil {
				fmt.Fprintf(io.err, "reconciler preview: segment %q: sample: %v\n", seg.Key().String(), err)
				failed = true
			}
		}
		fmt.Fprintln(io.out)
	}
	if failed {
		return exitFailed
	}
	return exitOK
}

// findSegment finds a segment by name, or by "PARENT/NAME".
func findSegment(st segment.State, name string) (*segment.Segment, error) {
	var found []*segment.Segment
	for i := range st.Segments {
		s := &st.Segments[i]
		if s.Name == name || s.Parent+"/"+s.Name == name {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no segment %q in the repository", name)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("segment %q is in %d parent segments; name it PARENT/NAME", name, len(found))
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}
