package spec

import (
	"slices"

	"github.com/cas-reconciler/reconciler/pkg/diag"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// A lean load (Options.Lean) holds the file results encoded, as Export
// encodes them (a stand-in fileResult with encoded set), unless a Cache
// holds them decoded, and assembles them in two passes. The first decodes
// each file and keeps what the checks that compare declarations need: the
// parents, the folders and a light record per segment (key, position,
// broken parts, renamedFrom). The second decodes each file again, checks
// its segments with their rules, keeps them in the state without their
// rules, and drops the file's result. Decoding is a few percent of
// evaluating a file; a decoded result is about ten times its encoding.

// encoded returns the stand-in of r that holds it encoded.
func encoded(r *fileResult) (*fileResult, error) {
	data, err := encodeResult(r)
	if err != nil {
		return nil, err
	}
	return &fileResult{path: r.path, encoded: data}, nil
}

// decoded returns r decoded when it is an encoded stand-in, else r itself.
func decoded(r *fileResult) (*fileResult, error) {
	if r == nil || r.encoded == nil {
		return r, nil
	}
	return decodeResult(r.encoded, r.path)
}

// leanSeg is what the first pass keeps of a valid or partial segment.
type leanSeg struct {
	// parent is the parent as declared, then as defaulted (defaultParent).
	parent, name string
	pos          diag.Pos
	broken       *brokenParts // nil for a valid segment
	// idx is the segment's index in its file's segments, then partial.
	idx int32
	// renamedFrom and renamedAt are the segment's renamedFrom and its
	// position.
	renamedFrom []string
	renamedAt   diag.Pos
}

// leanFile is one file result of a lean load.
type leanFile struct {
	held   *fileResult // as the load holds it: encoded or shared
	result int         // index of held in the load's results
	shared bool        // held is shared with a Cache
	segs   []leanSeg   // in the order of the checks: source order
}

// leanAssembly is the state of a lean assembly.
type leanAssembly struct {
	res    *Result
	known  knownNames
	files  []leanFile
	nvalid int
}

// assembleLean is assemble for a lean load. It drops results[i] once it
// has checked file i.
func assembleLean(results []*fileResult, shared bool) (*Result, error) {
	l := &leanAssembly{res: &Result{}, known: knownNames{parents: map[string]bool{}, segments: map[string]bool{}}}
	for i, held := range results {
		if err := l.first(i, held, shared); err != nil {
			return nil, err
		}
	}
	st := &l.res.State
	l.defaultParent()
	ds, err := l.check(&checker{st: st, known: l.known}, results)
	if err != nil {
		return nil, err
	}
	l.res.Diagnostics = append(l.res.Diagnostics, ds...)
	st.Folders = impliedFolders(st.Folders, st.Segments)
	l.res.Diagnostics = l.res.Diagnostics.Sort()
	return l.res, nil
}

// first is the first pass over one file result, results[i] of the load.
func (l *leanAssembly) first(i int, held *fileResult, shared bool) error {
	r, err := decoded(held)
	if err != nil || r == nil {
		return err
	}
	shared = shared && r == held
	st := &l.res.State
	l.res.Diagnostics = append(l.res.Diagnostics, r.diags...)
	for _, p := range r.parents {
		if shared {
			p = cloneParent(p)
		}
		st.Parents = append(st.Parents, p)
	}
	st.Folders = append(st.Folders, r.folders...)
	f := leanFile{held: held, result: i, shared: shared, segs: make([]leanSeg, 0, len(r.segments)+len(r.partial))}
	add := func(s *segment.Segment, broken *brokenParts) {
		ls := leanSeg{parent: s.Parent, name: s.Name, pos: s.Origin.Pos, broken: broken, idx: int32(len(f.segs))}
		if len(s.RenamedFrom) > 0 {
			ls.renamedFrom, ls.renamedAt = s.RenamedFrom, s.Origin.At("renamedFrom")
		}
		f.segs = append(f.segs, ls)
	}
	for i := range r.segments {
		add(&r.segments[i], nil)
	}
	for i := range r.partial {
		add(&r.partial[i].seg, r.partial[i].broken)
	}
	slices.SortStableFunc(f.segs, func(x, y leanSeg) int { return x.pos.Compare(y.pos) })
	l.files = append(l.files, f)
	l.nvalid += len(r.segments)
	for _, n := range r.invalidParents {
		l.known.parents[n] = true
	}
	for _, n := range r.invalidSegments {
		l.known.segments[n] = true
	}
	return nil
}

// defaultParent is assembly.defaultParent for the records of the first
// pass.
func (l *leanAssembly) defaultParent() {
	st := &l.res.State
	name, ok := onlyParent(st.Parents, l.known)
	if !ok {
		return
	}
	for i := range l.files {
		for j := range l.files[i].segs {
			if s := &l.files[i].segs[j]; s.parent == "" && (s.broken == nil || !s.broken.parent) {
				s.parent = name
			}
		}
	}
	for i := range st.Folders {
		if st.Folders[i].Parent == "" {
			st.Folders[i].Parent = name
		}
	}
}

// check runs the checks of check (check.go) in the same order, the
// segments' in the second pass, and returns the problems found; the error
// is a file result that could not be decoded.
func (l *leanAssembly) check(c *checker, results []*fileResult) (diag.Diagnostics, error) {
	parents := c.checkParents()
	c.checkFolders(parents)
	var recs []*leanSeg
	for i := range l.files {
		for j := range l.files[i].segs {
			recs = append(recs, &l.files[i].segs[j])
		}
	}
	idx, first := indexSegments(len(recs), func(i int) (segment.Key, *brokenParts) {
		return segment.Key{Parent: recs[i].parent, Name: recs[i].name}, recs[i].broken
	})
	graph := refGraph{}
	st := c.st
	st.Segments = make([]segment.Segment, 0, l.nvalid)
	i := 0
	for fi := range l.files {
		f := &l.files[fi]
		r, err := decoded(f.held)
		if err != nil {
			return nil, err
		}
		f.held, results[f.result] = nil, nil
		segs := l.second(r, f)
		for j := range f.segs {
			ls := &f.segs[j]
			ff := first[i]
			c.checkSegment(checkedSegment{seg: segs[ls.idx], broken: ls.broken}, parents, idx, int(ff) != i, recs[ff].pos, graph)
			i++
		}
		for _, s := range segs[:len(r.segments)] {
			s.Rule = segment.Rule{}
		}
	}
	c.cyclesOf(graph)
	declared := func(k segment.Key) bool { _, ok := idx[k]; return ok }
	for _, ls := range recs {
		if len(ls.renamedFrom) > 0 {
			c.renames("segment", ls.parent, ls.name, ls.renamedFrom, ls.renamedAt, declared)
		}
	}
	return c.diags, nil
}

// second adds the valid segments of r, the file of f, to the state, with
// their parents defaulted and their activations named as assemble names
// them, and returns them followed by copies of the partial segments, with
// their rules, for the checks.
func (l *leanAssembly) second(r *fileResult, f *leanFile) []*segment.Segment {
	st := &l.res.State
	out := make([]*segment.Segment, len(r.segments)+len(r.partial))
	parentOf := make([]string, len(out))
	for _, ls := range f.segs {
		parentOf[ls.idx] = ls.parent
	}
	for i := range r.segments {
		st.Segments = append(st.Segments, r.segments[i])
		s := &st.Segments[len(st.Segments)-1]
		if f.shared {
			ownActivations(s)
		}
		s.Parent = parentOf[i]
		for j := range s.Activations {
			s.Activations[j].Parent, s.Activations[j].Segment = s.Parent, s.Name
		}
		out[i] = s
	}
	for i := range r.partial {
		s := r.partial[i].seg
		s.Parent = parentOf[len(r.segments)+i]
		out[len(r.segments)+i] = &s
	}
	return out
}
