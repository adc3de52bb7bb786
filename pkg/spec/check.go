package spec

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // timezone names are checked without relying on the host

	"github.com/cas-reconciler/reconciler/pkg/diag"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// knownNames are objects that were declared but failed the schema: they are
// not in the state, and references to them are not reported again.
type knownNames struct {
	parents  map[string]bool
	segments map[string]bool
}

// checker runs the semantic checks over a whole repository.
type checker struct {
	st    *segment.State
	known knownNames
	segs  []checkedSegment
	diags diag.Diagnostics
	// claimed maps "kind\x00parent/old name" to the object whose
	// renamedFrom names it.
	claimed map[string]string
	// parentSrc maps each parent of st to the object it was copied from
	// (in a file result), which identifies it across loads.
	parentSrc map[*segment.Parent]*segment.Parent
	// nameHashes caches nameHash per parent name.
	nameHashes map[string]uint64
}

// checkedSegment is a segment to check: one of the state, or one that
// failed the schema, whose broken parts the checks skip.
type checkedSegment struct {
	seg    *segment.Segment
	broken *brokenParts // nil for a valid segment
	memo   *segMemo     // nil without a cache
}

// check runs every check that needs more than one file or more than the
// schema can express, and returns the problems found (unsorted). segs are
// the segments to check in file order: those of st and those that failed
// the schema.
func check(st *segment.State, known knownNames, segs []checkedSegment, parentSrc map[*segment.Parent]*segment.Parent) diag.Diagnostics {
	c := &checker{st: st, known: known, segs: segs, parentSrc: parentSrc}
	parents := c.checkParents()
	c.checkFolders(parents)
	c.checkSegments(parents)
	return c.diags
}

func (c *checker) add(d diag.Diagnostic) *diag.Diagnostic {
	c.diags = append(c.diags, d)
	return &c.diags[len(c.diags)-1]
}

func (c *checker) errorf(at diag.Pos, code, format string, args ...any) *diag.Diagnostic {
	return c.add(diag.Errorf(at, code, format, args...))
}

func (c *checker) warnf(at diag.Pos, code, format string, args ...any) *diag.Diagnostic {
	return c.add(diag.Warnf(at, code, format, args...))
}

func (c *checker) checkParents() map[string]*segment.Parent {
	parents := map[string]*segment.Parent{}
	for i := range c.st.Parents {
		p := &c.st.Parents[i]
		if first, ok := parents[p.Name]; ok {
			c.errorf(p.Origin.Pos, "duplicate-parent", "duplicate parent segment %q", p.Name).
				Detail = "first declared at " + first.Origin.Pos.String()
			continue
		}
		parents[p.Name] = p
		if len(p.Attributes) == 0 {
			c.errorf(p.Origin.At("attributes"), "no-attributes", "parent segment %q declares no attributes", p.Name).
				Detail = "Treasure Data requires at least one attribute"
		}
		if p.Timezone != "" {
			if _, err := time.LoadLocation(p.Timezone); err != nil || p.Timezone == "Local" {
				c.errorf(p.Origin.At("timezone"), "timezone", "unknown timezone %q", p.Timezone).
					Detail = "use an IANA zone name such as \"UTC\" or \"Asia/Tokyo\""
			}
		}
		names := map[string]diag.Pos{} // lowercased attribute and behavior names
		for _, a := range p.Attributes {
			k := strings.ToLower(a.Name)
			if first, ok := names[k]; ok {
				c.errorf(a.Origin.Pos, "duplicate-attribute", "duplicate attribute name %q in parent segment %q", a.Name, p.Name).
					Detail = "names are compared ignoring case; first declared at " + first.String()
				continue
			}
			names[k] = a.Origin.Pos
		}
		for _, b := range p.Behaviors {
			k := strings.ToLower(b.Name)
			if first, ok := names[k]; ok {
				c.errorf(b.Origin.Pos, "duplicate-behavior", "behavior name %q is already used in parent segment %q", b.Name, p.Name).
					Detail = "attribute and behavior names are compared ignoring case; first declared at " + first.String()
				continue
			}
			names[k] = b.Origin.Pos
			cols := map[string]diag.Pos{}
			for _, col := range b.Columns {
				k := strings.ToLower(col.Name)
				if first, ok := cols[k]; ok {
					c.errorf(col.Origin.Pos, "duplicate-column", "duplicate column %q in behavior %q", col.Name, b.Name).
						Detail = "names are compared ignoring case; first declared at " + first.String()
					continue
				}
				cols[k] = col.Origin.Pos
			}
		}
	}
	return parents
}

// parentOf resolves the parent of a folder or segment; it reports nothing
// and returns nil when the parent is unknown because it failed the schema.
func (c *checker) parentOf(parents map[string]*segment.Parent, name string, at diag.Pos, kind, obj string) *segment.Parent {
	if p := parents[name]; p != nil {
		return p
	}
	what := fmt.Sprintf("%s %q", kind, obj)
	if name == "" {
		n := len(c.st.Parents) + len(c.known.parents)
		d := c.errorf(at, "missing-parent", "%s names no parent segment", what)
		if n == 0 {
			d.Detail = "the repository declares no parent segment"
		} else {
			d.Detail = fmt.Sprintf("the repository declares %d parent segments; set parent to one of them", n)
		}
		return nil
	}
	if c.known.parents[name] {
		return nil
	}
	c.errorf(at, "unknown-parent", "%s names unknown parent segment %q", what, name).
		Detail = didYouMean("parent segment", name, mapKeys(parents))
	return nil
}

func (c *checker) checkFolders(parents map[string]*segment.Parent) {
	seen := map[segment.Key]diag.Pos{}
	for _, f := range c.st.Folders {
		at := f.Origin.At("parent")
		c.parentOf(parents, f.Parent, at, "folder", f.Path)
		if first, ok := seen[f.Key()]; ok {
			c.errorf(f.Origin.Pos, "duplicate-folder", "duplicate folder %q in parent segment %q", f.Path, f.Parent).
				Detail = "first declared at " + first.String()
			continue
		}
		seen[f.Key()] = f.Origin.Pos
	}
	for _, f := range c.st.Folders {
		c.renames("folder", f.Parent, f.Path, f.RenamedFrom, f.Origin.At("renamedFrom"), func(k segment.Key) bool { _, ok := seen[k]; return ok })
	}
}

// renames checks the renamedFrom list of one folder or segment: an earlier
// name is not one the repository declares (for the parent segment) and is
// claimed by one object only.
func (c *checker) renames(kind, parent, name string, from []string, at diag.Pos, declared func(segment.Key) bool) {
	if c.claimed == nil {
		c.claimed = map[string]string{}
	}
	for _, old := range from {
		switch k := (segment.Key{Parent: parent, Name: old}); {
		case old == name || declared(k):
			c.errorf(at, "renamed-from-declared", "%s %q is renamedFrom %q, which the repository declares", kind, name, old).
				Detail = "renamedFrom lists names the object had before; remove the entry, or the other declaration"
		case c.claimed[kind+"\x00"+k.String()] != "":
			c.errorf(at, "renamed-from-twice", "%s %q is renamedFrom %q, which %s %q also names", kind, name, old, kind, c.claimed[kind+"\x00"+k.String()]).
				Detail = "an earlier name can be taken over by one object only"
		default:
			c.claimed[kind+"\x00"+k.String()] = name
		}
	}
}

// ref is a reference from one segment to another, for cycle detection.
type ref struct {
	to string
	at diag.Pos
}

func (c *checker) checkSegments(parents map[string]*segment.Parent) {
	idx, first := indexSegments(len(c.segs), func(i int) (segment.Key, *brokenParts) { return c.segs[i].seg.Key(), c.segs[i].broken })
	graph := refGraph{}
	for i, cs := range c.segs {
		var dupOf diag.Pos
		f := first[i]
		if int(f) != i {
			dupOf = c.segs[f].seg.Origin.Pos
		}
		c.checkSegment(cs, parents, idx, int(f) != i, dupOf, graph)
	}
	c.cyclesOf(graph)
	declared := func(k segment.Key) bool { _, ok := idx[k]; return ok }
	for _, cs := range c.segs {
		if s := cs.seg; len(s.RenamedFrom) > 0 {
			c.renames("segment", s.Parent, s.Name, s.RenamedFrom, s.Origin.At("renamedFrom"), declared)
		}
	}
}

// refGraph holds the references between segments: parent -> segment ->
// references.
type refGraph map[string]map[string][]ref

// checkSegment runs the checks of one segment: its parent, whether it is a
// duplicate (dup: of the segment at dupOf) and the checks of segmentChecks,
// and adds its references to graph.
func (c *checker) checkSegment(cs checkedSegment, parents map[string]*segment.Parent, idx segIndex, dup bool, dupOf diag.Pos, graph refGraph) {
	s, broken := cs.seg, cs.broken
	var p *segment.Parent
	if broken == nil || !broken.parent {
		if p = parents[s.Parent]; p == nil {
			p = c.parentOf(parents, s.Parent, s.Origin.At("parent"), "segment", s.Name)
		}
	}
	if broken == nil || !broken.name {
		if dup {
			c.errorf(s.Origin.Pos, "duplicate-segment", "duplicate segment %q in parent segment %q", s.Name, s.Parent).
				Detail = "first declared at " + dupOf.String()
			return
		}
	}
	if refs := c.segmentChecks(cs, p, parentNames{idx: idx, parent: s.Parent}); p != nil && len(refs) > 0 {
		if graph[s.Parent] == nil {
			graph[s.Parent] = map[string][]ref{}
		}
		graph[s.Parent][s.Name] = refs
	}
}

// cyclesOf reports the reference cycles of graph, parent by parent.
func (c *checker) cyclesOf(graph refGraph) {
	for _, parent := range sortedKeys(graph) {
		c.cycles(parent, graph[parent])
	}
}

// segIndex maps the key of each segment to check, but those whose name is
// broken, to its first declaration. One map serves the duplicate check,
// the references (names of the same parent) and renamedFrom.
type segIndex map[segment.Key]segDecl

type segDecl struct {
	first int32 // index in checker.segs of the first declaration
	named bool  // declared with a parent that is not broken: references resolve to it
}

// indexSegments returns the index of n segments to check, the i-th with
// key and broken parts at(i), and, for each of them, the index of the
// first declaration of its key (its own but for duplicates).
func indexSegments(n int, at func(i int) (segment.Key, *brokenParts)) (segIndex, []int32) {
	idx := make(segIndex, n)
	first := make([]int32, n)
	for i := range n {
		first[i] = int32(i)
		k, broken := at(i)
		if broken != nil && broken.name {
			continue
		}
		d, ok := idx[k]
		if !ok {
			d.first = int32(i)
		}
		first[i] = d.first
		named := broken == nil || !broken.parent
		if ok && (d.named || !named) {
			continue // nothing to change: no second write of the entry
		}
		d.named = d.named || named
		idx[k] = d
	}
	return idx, first
}

// parentNames are the names of the segments of one parent.
type parentNames struct {
	idx    segIndex
	parent string
}

func (n parentNames) has(name string) bool {
	return n.idx[segment.Key{Parent: n.parent, Name: name}].named
}

// each calls f with each name, in no order.
func (n parentNames) each(f func(name string)) {
	for k, d := range n.idx {
		if d.named && k.Parent == n.parent {
			f(k.Name)
		}
	}
}

// sorted returns the names, sorted.
func (n parentNames) sorted() []string {
	var out []string
	n.each(func(name string) { out = append(out, name) })
	slices.Sort(out)
	return out
}

// segmentChecks runs the checks of one segment that do not compare it with
// the other segments' declarations (its kind, activations and rule), and
// returns its references. p is its parent (nil when unknown) and names the
// segments of the same parent. The result is taken from the segment's memo
// when what the checks looked at is unchanged.
func (c *checker) segmentChecks(cs checkedSegment, p *segment.Parent, names parentNames) []ref {
	s, broken := cs.seg, cs.broken
	if m := cs.memo.load(); m != nil && c.memoValid(m, s, p, names) {
		c.diags = append(c.diags, m.diags...)
		return m.refs
	}
	start := len(c.diags)
	var deps *segDeps
	if cs.memo != nil {
		deps = &segDeps{parentName: s.Parent, parent: c.parentSrc[p]}
	}
	refs := c.segmentRule(s, broken, p, names, deps)
	if deps != nil {
		if deps.allNames {
			deps.nameHash = c.nameHash(s.Parent, names)
		}
		cs.memo.store(&segCheck{segDeps: *deps, diags: slices.Clone(c.diags[start:]), refs: refs})
	}
	return refs
}

// segmentRule checks the kind, activations and rule of one segment and
// returns its references; deps, when set, records what the checks looked up.
func (c *checker) segmentRule(s *segment.Segment, broken *brokenParts, p *segment.Parent, names parentNames, deps *segDeps) []ref {
	if s.Kind != "" && s.Kind != segment.Batch {
		c.errorf(s.Origin.At("kind"), "kind", "segment kind %q is not supported", s.Kind).
			Detail = "composable parent segments support batch segments only"
	}
	for i := range s.Activations {
		c.checkActivation(p, &s.Activations[i])
	}
	if broken.skipRule() || (broken != nil && s.Rule.IsEmpty()) {
		// An empty rule of a broken segment is most likely a
		// misspelt or broken where or rule, reported by the schema.
		return nil
	}
	if s.Rule.IsEmpty() {
		c.errorf(s.Rule.Origin.Pos, "empty-rule", "segment %q has an empty rule", s.Name).
			Detail = "add conditions with where (or rule); an empty rule would select every profile"
		return nil
	}
	rc := ruleChecker{c: c, p: p, seg: s, segments: names, broken: broken, deps: deps}
	rc.rule(&s.Rule)
	return rc.refs
}

// cycles reports each reference cycle among the segments of one parent once,
// at the reference that leaves its lexically first segment.
func (c *checker) cycles(parent string, g map[string][]ref) {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	reported := map[string]bool{}
	var visit func(n string)
	visit = func(n string) {
		color[n] = grey
		stack = append(stack, n)
		for _, r := range g[n] {
			if _, ok := g[r.to]; !ok {
				continue
			}
			switch color[r.to] {
			case white:
				visit(r.to)
			case grey:
				i := slices.Index(stack, r.to)
				cyc := slices.Clone(stack[i:])
				// rotate so the lexically first segment leads
				m := 0
				for k := range cyc {
					if cyc[k] < cyc[m] {
						m = k
					}
				}
				cyc = append(cyc[m:], cyc[:m]...)
				key := strings.Join(cyc, "\x00")
				if reported[key] {
					continue
				}
				reported[key] = true
				next := r.to
				if len(cyc) > 1 {
					next = cyc[1]
				}
				at := r.at
				for _, e := range g[cyc[0]] {
					if e.to == next {
						at = e.at
						break
					}
				}
				quoted := make([]string, 0, len(cyc)+1)
				for _, s := range append(cyc, cyc[0]) {
					quoted = append(quoted, fmt.Sprintf("%q", s))
				}
				c.errorf(at, "reference-cycle", "segment reference cycle: %s", strings.Join(quoted, " → ")).
					Detail = fmt.Sprintf("segments of parent segment %q must not refer to themselves through references; break the cycle", parent)
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
	}
	for _, n := range sortedKeys(g) {
		if color[n] == white {
			visit(n)
		}
	}
}

// ruleChecker checks the rule of one segment.
type ruleChecker struct {
	c        *checker
	p        *segment.Parent // nil when the parent is unknown
	seg      *segment.Segment
	segments parentNames  // names of the segments of the same parent
	broken   *brokenParts // parts to skip; nil for a valid segment
	refs     []ref
	deps     *segDeps // records lookups for the memo; nil without one
}

func (rc *ruleChecker) rule(r *segment.Rule) {
	c := rc.c
	if r.Type == "" {
		c.errorf(r.Origin.Pos, "rule", "rule has conditions but no type").Detail = "set type to And, Or or Composite"
	}
	rc.expr(r.Type, r.Expr, len(r.Conditions), r.Origin, "condition sets")
	rc.limit(r.Limit, r.Origin.At("limit"))
	for i := range r.Conditions {
		if rc.broken.skipSet(i) {
			continue
		}
		cs := &r.Conditions[i]
		if len(cs.Conditions) == 0 {
			c.errorf(cs.Origin.Pos, "empty-rule", "condition set %d has no conditions", i+1)
		}
		rc.expr(cs.Type, cs.Expr, len(cs.Conditions), cs.Origin, "conditions")
		for j := range cs.Conditions {
			if !rc.broken.skipCondition(i, j) {
				rc.condition(&cs.Conditions[j])
			}
		}
	}
}

func (rc *ruleChecker) limit(l *segment.Limit, at diag.Pos) {
	if l == nil {
		return
	}
	n, err := l.Number.Float64()
	switch {
	case err != nil || n <= 0:
		rc.c.errorf(at, "limit", "limit number must be positive, not %s", l.Number)
	case l.Type == "Percent" && n > 100:
		rc.c.errorf(at, "limit", "limit of %s percent is more than 100", l.Number)
	case l.Type == "Count" && n != float64(int64(n)):
		rc.c.errorf(at, "limit", "limit count %s is not a whole number", l.Number)
	}
}

// expr checks a Composite expression over n numbered items.
func (rc *ruleChecker) expr(typ, expr string, n int, o segment.Origin, items string) {
	if typ != segment.Composite {
		if expr != "" {
			rc.c.warnf(o.At("expr"), "composite-expr", "expr is ignored unless type is Composite")
		}
		return
	}
	at := o.At("expr")
	used, err := parseComposite(expr, n)
	if err != nil {
		rc.c.errorf(at, "composite-expr", "invalid composite expression %q: %v", expr, err).
			Detail = fmt.Sprintf("write lowercase and/or over the %d %s, numbered 1..9 or lettered A..Z (not both), as in \"1 and (2 or 3)\"", n, items)
		return
	}
	var missing []string
	for i := range n {
		if !used[i] {
			missing = append(missing, fmt.Sprint(i+1))
		}
	}
	if len(missing) > 0 {
		rc.c.errorf(at, "composite-expr", "composite expression %q does not use %s %s", expr, items, strings.Join(missing, ", ")).
			Detail = "Treasure Data rejects a composite rule that leaves conditions out"
	}
}

func (rc *ruleChecker) condition(cond *segment.Condition) {
	c := rc.c
	switch cond.Type {
	case segment.ReferenceCondition:
		rc.reference(cond)
		return
	case segment.ValueCondition:
	default:
		if cond.ID == "" {
			c.errorf(cond.Origin.Pos, "reference", "%s condition needs an id", cond.Type)
		}
		return
	}
	lv, op := cond.LeftValue, cond.Operator
	if lv == nil {
		c.errorf(cond.Origin.Pos, "condition", "value condition needs a leftValue")
		return
	}
	if op == nil {
		c.errorf(cond.Origin.Pos, "condition", "value condition needs an operator")
		return
	}
	var typ segment.IONType
	var subj subject
	if lv.Source == nil {
		if lv.Name == "" {
			c.errorf(lv.Origin.Pos, "condition", "value condition names no attribute")
			return
		}
		subj = subject{kind: "attribute", name: lv.Name}
		// Without the parent, the type is unknown: the operator's own
		// checks still run.
		if rc.p != nil {
			a, ok := rc.p.Attribute(lv.Name)
			if !ok {
				c.errorf(lv.Origin.At("name"), "unknown-attribute", "unknown attribute %q in parent segment %q", lv.Name, rc.p.Name).
					Detail = didYouMean("attribute", lv.Name, attributeNames(rc.p)) + "; Treasure Data would silently match no profiles"
				return
			}
			typ = a.Type
		}
	} else {
		if rc.p == nil {
			rc.operator(op, "", subject{kind: "behavior", name: lv.Source.Name}, cond.ArrayMatching, cond.Origin.At("arrayMatching"))
			return
		}
		b, ok := rc.p.Behavior(lv.Source.Name)
		if !ok {
			c.errorf(lv.Origin.At("source.name"), "unknown-behavior", "unknown behavior %q in parent segment %q", lv.Source.Name, rc.p.Name).
				Detail = didYouMean("behavior", lv.Source.Name, behaviorNames(rc.p)) + "; Treasure Data would silently match no profiles"
			return
		}
		var ok2 bool
		if typ, ok2 = rc.aggregation(b, lv.Aggregation, lv.Origin); !ok2 {
			return
		}
		subj = subject{kind: "behavior", name: b.Name, agg: lv.Aggregation.Type}
		if lv.Filter != nil {
			rc.filter(b, lv.Filter)
		}
		if lv.Window != nil {
			rc.window(lv.Window, lv.Origin.At("window"))
		}
	}
	rc.operator(op, typ, subj, cond.ArrayMatching, cond.Origin.At("arrayMatching"))
	rc.limit(cond.Limit, cond.Origin.Pos)
}

func (rc *ruleChecker) reference(cond *segment.Condition) {
	c := rc.c
	at := cond.Origin.At("segment")
	if cond.Segment == "" {
		if cond.ID == "" {
			c.errorf(cond.Origin.Pos, "reference", "reference condition names no segment").
				Detail = "name the segment: {type: \"Reference\", segment: \"Churn Risk\"} or {in: \"Churn Risk\"}"
		} else {
			c.warnf(cond.Origin.At("id"), "reference-by-id", "reference to segment id %s cannot be checked", cond.ID).
				Detail = "name the segment instead (segment: \"...\"), so that it survives recreation and can be checked"
		}
		return
	}
	switch rc.c.lookup(rc.segments, cond.Segment, rc.deps) {
	case declaredName:
		rc.refs = append(rc.refs, ref{to: cond.Segment, at: at})
		return
	case invalidName:
		return
	}
	if rc.p == nil {
		return
	}
	if rc.deps != nil {
		rc.deps.allNames = true
	}
	c.errorf(at, "unknown-segment", "reference to unknown segment %q in parent segment %q", cond.Segment, rc.seg.Parent).
		Detail = didYouMean("segment", cond.Segment, rc.segments.sorted())
}

// aggregation checks an aggregation against its behavior and returns the
// type of its result ("" when unknown).
func (rc *ruleChecker) aggregation(b *segment.Behavior, a *segment.Aggregation, lvo segment.Origin) (segment.IONType, bool) {
	c := rc.c
	if a == nil {
		c.errorf(lvo.Pos, "aggregation", "behavior condition needs an aggregation")
		return "", false
	}
	ok := true
	col := func(name, field string) segment.IONType {
		bc, found := b.Column(name)
		if found {
			return bc.Type
		}
		if name == b.Time {
			return ""
		}
		c.errorf(a.Origin.At(field), "unknown-column", "behavior %q has no column %q", b.Name, name).
			Detail = didYouMean("column", name, columnNames(b))
		ok = false
		return ""
	}
	var typ segment.IONType
	switch a.Type {
	case segment.Count:
		typ = segment.Number
		if a.Column != "" {
			col(a.Column, "column")
		}
	case segment.CountDistinct:
		typ = segment.Number
		if len(a.Columns) == 0 {
			c.errorf(a.Origin.Pos, "aggregation", "countDistinct needs the columns to count (of)")
			ok = false
		}
		for _, n := range a.Columns {
			col(n, "columns")
		}
	case segment.Sum, segment.Average, segment.Min, segment.Max, segment.First, segment.Last:
		if a.Column == "" {
			c.errorf(a.Origin.Pos, "aggregation", "%s needs the column to aggregate (of)", lowerFirst(a.Type))
			return "", false
		}
		typ = col(a.Column, "column")
		if (a.Type == segment.Sum || a.Type == segment.Average) && typ != "" && typ != segment.Number {
			c.errorf(a.Origin.At("column"), "operator-type", "%s of %s column %q", strings.ToLower(a.Type), typ, a.Column).
				Detail = "sum and average apply to number columns"
			ok = false
		}
		if a.Type == segment.Sum || a.Type == segment.Average {
			typ = segment.Number
		}
		if a.Type == segment.First || a.Type == segment.Last {
			if a.OrderColumn == "" {
				c.errorf(a.Origin.Pos, "aggregation", "%s needs the column that orders rows (by)", lowerFirst(a.Type))
				ok = false
			} else {
				col(a.OrderColumn, "orderColumn")
			}
		}
	}
	for _, g := range a.GroupingColumns {
		col(g, "groupingColumns")
	}
	return typ, ok
}

func (rc *ruleChecker) filter(b *segment.Behavior, f *segment.Filter) {
	switch f.Type {
	case "":
	case segment.And, segment.Or:
		for i := range f.Conditions {
			rc.filter(b, &f.Conditions[i])
		}
	case segment.ColumnFilter:
		if f.Operator == nil {
			rc.c.errorf(f.Origin.Pos, "condition", "filter on column %q needs an operator", f.Column)
			return
		}
		bc, ok := b.Column(f.Column)
		if !ok {
			if f.Column == b.Time {
				rc.operator(f.Operator, "", subject{kind: "column", name: f.Column}, f.ArrayMatching, f.Origin.Pos)
				return
			}
			rc.c.errorf(f.Origin.At("column"), "unknown-column", "behavior %q has no column %q", b.Name, f.Column).
				Detail = didYouMean("column", f.Column, columnNames(b))
			return
		}
		rc.operator(f.Operator, bc.Type, subject{kind: "column", name: f.Column}, f.ArrayMatching, f.Origin.Pos)
	}
}

func (rc *ruleChecker) window(w *segment.Window, at diag.Pos) {
	for u, n := range w.Duration {
		switch {
		case u != "day" && u != "hour" && u != "minute" && u != "second":
			rc.c.errorf(at, "window", "window unit %q is not supported", u).Detail = "use day, hour, minute or second"
		case n <= 0:
			rc.c.errorf(at, "window", "window of %d %ss is not positive", n, u)
		}
	}
}

// subject is what an operator tests, for messages; it is rendered only when
// a problem is found.
type subject struct {
	kind, name, agg string
}

func (s subject) String() string {
	if s.agg != "" {
		return fmt.Sprintf("%s of behavior %q", strings.ToLower(s.agg), s.name)
	}
	return fmt.Sprintf("%s %q", s.kind, s.name)
}

// operatorTypes lists the operators each ION type accepts.
var operatorTypes = map[segment.IONType][]string{
	segment.String:      {segment.Equal, segment.In, segment.Contain, segment.StartWith, segment.EndWith, segment.Regexp, segment.IsNull},
	segment.StringArray: {segment.Equal, segment.In, segment.Contain, segment.StartWith, segment.EndWith, segment.Regexp, segment.IsNull},
	segment.Number:      {segment.Equal, segment.Greater, segment.Less, segment.GreaterEqual, segment.LessEqual, segment.Between, segment.In, segment.IsNull},
	segment.NumberArray: {segment.Equal, segment.Greater, segment.Less, segment.GreaterEqual, segment.LessEqual, segment.Between, segment.In, segment.IsNull},
	segment.Boolean:     {segment.Equal, segment.IsNull},
	segment.Date: {segment.Equal, segment.Greater, segment.Less, segment.GreaterEqual, segment.LessEqual, segment.Between, segment.IsNull,
		segment.TimeWithinPast, segment.TimeWithinNext, segment.TimeRange, segment.TimeToday, segment.TimeThis, segment.TimeNext, segment.TimeInBetweenNext},
}

func init() { operatorTypes[segment.Timestamp] = operatorTypes[segment.Date] }

// operator checks an operator's operands, and its fit to the subject's type
// when the type is known.
func (rc *ruleChecker) operator(op *segment.Operator, typ segment.IONType, subject subject, am *segment.ArrayMatching, amAt diag.Pos) {
	c := rc.c
	at := op.Origin.Pos
	if typ != "" {
		if ops, ok := operatorTypes[typ]; ok && !slices.Contains(ops, op.Type) {
			c.errorf(at, "operator-type", "operator %s does not apply to %s (%s)", op.Type, subject, typ).
				Detail = fmt.Sprintf("%s values accept %s", typ, strings.Join(ops, ", "))
			return
		}
		if am != nil && !typ.IsArray() {
			c.warnf(amAt, "array-matching", "arrayMatching is set for %s, which is not an array (%s)", subject, typ)
		}
	}
	need := func(ok bool, what string) bool {
		if !ok {
			c.errorf(at, "operand", "operator %s needs %s", op.Type, what)
		}
		return ok
	}
	elem := typ
	switch typ {
	case segment.StringArray:
		elem = segment.String
	case segment.NumberArray:
		elem = segment.Number
	}
	val := func(v *segment.Value, field string) {
		if v != nil {
			rc.value(*v, elem, subject, op.Origin.At(field))
		}
	}
	switch op.Type {
	case segment.Equal, segment.Greater, segment.Less, segment.GreaterEqual, segment.LessEqual:
		if need(op.RightValue != nil && op.RightValue.Kind != segment.NullValue, "a value (rightValue)") {
			val(op.RightValue, "rightValue")
		}
	case segment.Between:
		if need(op.MinValue != nil && op.MaxValue != nil, "minValue and maxValue") {
			val(op.MinValue, "minValue")
			val(op.MaxValue, "maxValue")
		}
	case segment.In:
		if need(len(op.RightValues) > 0, "at least one value (rightValues)") {
			for i := range op.RightValues {
				val(&op.RightValues[i], "rightValues")
			}
		}
	case segment.Contain, segment.StartWith, segment.EndWith:
		if need(len(op.RightValues) > 0, "at least one string (rightValues)") {
			for _, v := range op.RightValues {
				if v.Kind != segment.StringValue {
					c.errorf(op.Origin.At("rightValues"), "value-type", "operator %s needs strings, not %s", op.Type, v)
				}
			}
		}
	case segment.Regexp:
		if !need(op.RightValue != nil && op.RightValue.Kind == segment.StringValue, "a pattern string (rightValue)") {
			return
		}
		rc.regexp(op.RightValue.Str, op.Origin.At("rightValue"))
	case segment.TimeWithinPast, segment.TimeWithinNext:
		need(op.Value != "" && op.Unit != "", "value and unit")
	case segment.TimeRange, segment.TimeThis, segment.TimeNext:
		need(op.From != nil, "from")
	case segment.TimeInBetweenNext:
		need(op.From != nil && op.To != nil, "from and to")
	}
}

// value checks that an operand fits the subject's type.
func (rc *ruleChecker) value(v segment.Value, typ segment.IONType, subject subject, at diag.Pos) {
	ok := true
	switch typ {
	case segment.Number:
		ok = v.Kind == segment.NumberValue
	case segment.String:
		ok = v.Kind == segment.StringValue
	case segment.Boolean:
		ok = v.Kind == segment.BoolValue
	case segment.Date, segment.Timestamp:
		switch v.Kind {
		case segment.TimestampValue, segment.RelativeValue, segment.NumberValue:
		case segment.StringValue:
			ok = parsesAsTime(v.Str)
		default:
			ok = false
		}
	default:
		return
	}
	if !ok {
		rc.c.errorf(at, "value-type", "value %s does not fit %s (%s)", v, subject, typ).
			Detail = valueHint(typ)
	}
}

func valueHint(typ segment.IONType) string {
	switch typ {
	case segment.Number:
		return "write a number without quotes"
	case segment.Boolean:
		return "write true or false without quotes"
	case segment.Date, segment.Timestamp:
		return "write a date (\"2026-01-31\"), a timestamp ({timestamp: \"2026-01-31T00:00:00Z\"}) or a relative time ({last: 3, unit: \"month\"})"
	}
	return "write a string in quotes"
}

func parsesAsTime(s string) bool {
	for _, layout := range []string{"2006-01-02", time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04:05"} {
		if _, err := time.Parse(layout, s); err == nil {
			return true
		}
	}
	return false
}

// javaOnly matches regular expression syntax that Java accepts and Go's RE2
// does not: lookaround, atomic groups, possessive quantifiers,
// backreferences.
var javaOnly = regexp.MustCompile(`\(\?<?[=!]|\(\?>|[*+?}]\+|\\[1-9]|\\k<`)

func (rc *ruleChecker) regexp(pattern string, at diag.Pos) {
	if _, err := regexp.Compile(pattern); err != nil {
		if javaOnly.MatchString(pattern) {
			rc.c.warnf(at, "regexp-unchecked", "regular expression %q cannot be checked here", pattern).
				Detail = "it uses Java-only syntax (lookaround, atomic groups, possessive quantifiers or backreferences); the warehouse evaluates patterns with Java regular expressions, this check uses RE2"
			return
		}
		msg := err.Error()
		if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "error parsing regexp") {
			msg = msg[i+2:]
		}
		rc.c.errorf(at, "regexp", "invalid regular expression %q", pattern).
			Detail = msg + "; patterns are evaluated by the warehouse with Java regular expressions, and this check uses Go's RE2 syntax, which agrees for common patterns"
	}
}

func attributeNames(p *segment.Parent) []string {
	out := make([]string, 0, len(p.Attributes))
	for _, a := range p.Attributes {
		out = append(out, a.Name)
	}
	return out
}

func behaviorNames(p *segment.Parent) []string {
	out := make([]string, 0, len(p.Behaviors))
	for _, b := range p.Behaviors {
		out = append(out, b.Name)
	}
	return out
}

func columnNames(b *segment.Behavior) []string {
	out := make([]string, 0, len(b.Columns))
	for _, c := range b.Columns {
		out = append(out, c.Name)
	}
	return out
}

func mapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sortedKeys[V any](m map[string]V) []string { return mapKeys(m) }

// checkActivation checks an activation against its parent segment: the
// columns it exports and the shape of its schedule.
func (c *checker) checkActivation(p *segment.Parent, a *segment.Activation) {
	switch {
	case a.AllColumns && len(a.Columns) > 0:
		c.errorf(a.Origin.At("columns"), "activation-columns", "activation %q of segment %q has both allColumns and columns", a.Name, a.Segment).
			Detail = "export every attribute (allColumns: true) or list the columns, not both"
	case !a.AllColumns && len(a.Columns) == 0:
		c.errorf(a.Origin.Pos, "activation-columns", "activation %q of segment %q exports no column", a.Name, a.Segment).
			Detail = "list the attributes to export in columns, or set allColumns: true"
	}
	seen := map[string]bool{}
	for i, col := range a.Columns {
		at := a.Origin.At("columns." + strconv.Itoa(i))
		if seen[col] {
			c.errorf(at, "activation-columns", "activation %q lists column %q twice", a.Name, col)
			continue
		}
		seen[col] = true
		if p == nil {
			continue
		}
		if _, ok := p.Attribute(col); !ok {
			c.errorf(at, "unknown-attribute", "activation %q: unknown attribute %q in parent segment %q", a.Name, col, p.Name).
				Detail = didYouMean("attribute", col, attributeNames(p))
		}
	}
	sc := &a.Schedule
	if !slices.Contains(segment.RepeatUnits, sc.Repeat) {
		c.errorf(a.Origin.At("schedule.repeat"), "activation-schedule", "activation %q: unknown schedule.repeat %q", a.Name, sc.Repeat).
			Detail = "use one of " + strings.Join(segment.RepeatUnits, ", ")
	}
	if sc.Every != 0 && (sc.Repeat == segment.RepeatNone || sc.Repeat == segment.RepeatOnce) {
		c.errorf(a.Origin.At("schedule.every"), "activation-schedule", "activation %q: schedule.every needs a repeating schedule, not %q", a.Name, sc.Repeat)
	}
	if len(sc.Weekdays) > 0 && sc.Repeat != segment.RepeatWeek {
		c.errorf(a.Origin.At("schedule.weekdays"), "activation-schedule", "activation %q: schedule.weekdays needs repeat: \"week\", not %q", a.Name, sc.Repeat)
	}
	for _, d := range sc.Weekdays {
		if d < 1 || d > 7 {
			c.errorf(a.Origin.At("schedule.weekdays"), "activation-schedule", "activation %q: weekday %d is not 1 (Monday) to 7 (Sunday)", a.Name, d)
		}
	}
	if sc.Repeat == segment.RepeatOnce && sc.StartAt == "" {
		c.errorf(a.Origin.At("schedule"), "activation-schedule", "activation %q: a schedule that runs once needs startAt", a.Name)
	}
	var start time.Time
	if sc.StartAt != "" {
		t, err := time.Parse("2006-01-02T15:04:05", sc.StartAt)
		if err != nil {
			c.errorf(a.Origin.At("schedule.startAt"), "activation-schedule", "activation %q: schedule.startAt %q is not a time", a.Name, sc.StartAt).
				Detail = "write YYYY-MM-DDThh:mm:ss, in the schedule's timezone"
		}
		start = t
	}
	if sc.EndOn != "" {
		t, err := time.Parse("2006-01-02", sc.EndOn)
		switch {
		case err != nil:
			c.errorf(a.Origin.At("schedule.endOn"), "activation-schedule", "activation %q: schedule.endOn %q is not a date", a.Name, sc.EndOn).
				Detail = "write YYYY-MM-DD"
		case !start.IsZero() && t.AddDate(0, 0, 1).Before(start):
			c.errorf(a.Origin.At("schedule.endOn"), "activation-schedule", "activation %q: schedule.endOn %s is before startAt %s", a.Name, sc.EndOn, sc.StartAt)
		}
	}
	if sc.Timezone != "" {
		if _, err := time.LoadLocation(sc.Timezone); err != nil || sc.Timezone == "Local" {
			c.errorf(a.Origin.At("schedule.timezone"), "activation-schedule", "activation %q: unknown time zone %q", a.Name, sc.Timezone).
				Detail = "use an IANA time zone name such as \"America/New_York\""
		}
	}
	if len(a.Notify.On) > 0 && len(a.Notify.Recipients) == 0 {
		c.warnf(a.Origin.At("notify"), "activation-notify", "activation %q: notify.on is set but no recipients are", a.Name)
	}
}
