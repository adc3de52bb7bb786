package plan

import (
	"fmt"
	"slices"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// check returns the problems that make a plan impossible to apply: two
// desired objects with one identity, an object whose parent segment or
// folder exists neither in the repository nor in Treasure Data, a Reference
// to a segment that exists nowhere, and reference cycles. The result is
// sorted.
func check(desired, observed segment.State) []string {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

	parents := map[string]bool{}
	seenParent := map[string]bool{}
	for _, p := range desired.Parents {
		if seenParent[p.Name] {
			add("parent segment %q is declared more than once", p.Name)
		}
		seenParent[p.Name] = true
		parents[p.Name] = true
	}
	for _, p := range observed.Parents {
		parents[p.Name] = true
	}

	folders := make(map[segment.Key]bool, len(desired.Folders)+len(observed.Folders))
	seenFolder := make(map[segment.Key]bool, len(desired.Folders))
	for i := range desired.Folders {
		k := desired.Folders[i].Key()
		if seenFolder[k] {
			add("folder %q is declared more than once", k.String())
		}
		seenFolder[k] = true
		folders[k] = true
	}
	for i := range observed.Folders {
		folders[observed.Folders[i].Key()] = true
	}
	for i := range desired.Folders {
		f := &desired.Folders[i]
		if !parents[f.Parent] {
			add("folder %q: parent segment %q exists neither in the repository nor in Treasure Data", f.Key().String(), f.Parent)
		}
		if pp := f.ParentPath(); pp != "" && !folders[segment.Key{Parent: f.Parent, Name: pp}] {
			add("folder %q: containing folder %q exists neither in the repository nor in Treasure Data", f.Key().String(), pp)
		}
	}

	segs := make(map[segment.Key]bool, len(desired.Segments)+len(observed.Segments))
	seenSeg := make(map[segment.Key]bool, len(desired.Segments))
	for i := range desired.Segments {
		k := desired.Segments[i].Key()
		if seenSeg[k] {
			add("segment %q is declared more than once", k.String())
		}
		seenSeg[k] = true
		segs[k] = true
	}
	for i := range observed.Segments {
		segs[observed.Segments[i].Key()] = true
	}
	for i := range desired.Segments {
		s := &desired.Segments[i]
		if !parents[s.Parent] {
			add("segment %q: parent segment %q exists neither in the repository nor in Treasure Data", s.Key().String(), s.Parent)
		}
		if s.Folder != "" && !folders[segment.Key{Parent: s.Parent, Name: s.Folder}] {
			add("segment %q: folder %q exists neither in the repository nor in Treasure Data", s.Key().String(), s.Folder)
		}
		for _, ref := range references(s) {
			if !segs[segment.Key{Parent: s.Parent, Name: ref}] {
				add("segment %q references segment %q, which exists neither in the repository nor in Treasure Data", s.Key().String(), ref)
			}
		}
	}
	for parent, group := range byParent(desired.Segments) {
		for _, cycle := range cycles(group) {
			add("segments of parent segment %q reference each other in a cycle: %s", parent, cycle)
		}
	}
	slices.Sort(errs)
	return slices.Compact(errs)
}

// cycles returns each reference cycle among segs once, rendered
// "a -> b -> a".
func cycles(segs []*segment.Segment) []string {
	byName := make(map[string]*segment.Segment, len(segs))
	for _, s := range segs {
		byName[s.Name] = s
	}
	const (
		white = iota
		grey
		black
	)
	color := make(map[string]int, len(segs))
	var stack []string
	var out []string
	var visit func(name string)
	visit = func(name string) {
		color[name] = grey
		stack = append(stack, name)
		for _, ref := range references(byName[name]) {
			if _, ok := byName[ref]; !ok {
				continue
			}
			switch color[ref] {
			case white:
				visit(ref)
			case grey:
				i := slices.Index(stack, ref)
				path := ""
				for _, n := range stack[i:] {
					path += fmt.Sprintf("%q -> ", n)
				}
				out = append(out, path+fmt.Sprintf("%q", ref))
			}
		}
		stack = stack[:len(stack)-1]
		color[name] = black
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if color[n] == white {
			visit(n)
		}
	}
	return out
}
