package spec

import (
	"hash/maphash"
	"sync/atomic"

	"github.com/cas-reconciler/reconciler/pkg/diag"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// A load with a Cache keeps, for each segment of a cached file, the result
// of the checks that look at that segment alone against its parent (kind,
// activations, rule) together with what those checks looked up outside the
// segment: its parent, and which names of the same parent it refers to. The
// next load takes the result again when every lookup answers the same, so
// after a change only the segments that the change can affect are checked
// again. The checks that compare declarations with each other (duplicates,
// missing and unknown parents, cycles, renames, folders) run over every
// object on each load, on lookups only.

// segMemo holds the last check result of one segment of a cached file. It
// is shared by the loads that use the file's cache entry.
type segMemo struct{ p atomic.Pointer[segCheck] }

func (m *segMemo) load() *segCheck {
	if m == nil {
		return nil
	}
	return m.p.Load()
}

func (m *segMemo) store(c *segCheck) { m.p.Store(c) }

// segCheck is a memoized check result and what it depends on.
type segCheck struct {
	segDeps
	diags diag.Diagnostics
	refs  []ref
}

// segDeps is what the checks of one segment looked at besides the segment.
type segDeps struct {
	// parentName is the segment's parent after the one-parent default.
	parentName string
	// parent is the parent segment's object in its file result; nil when
	// the parent is unknown.
	parent *segment.Parent
	// lookups are the names of the same parent the rule refers to, with
	// what each was.
	lookups []nameLookup
	// allNames is set when a diagnostic lists the names of the parent's
	// segments (a suggestion for an unknown reference); nameHash is then
	// their hash.
	allNames bool
	nameHash uint64
}

type nameLookup struct {
	name string
	kind nameKind
}

// nameKind is what a referenced segment name is.
type nameKind uint8

const (
	unknownName  nameKind = iota
	declaredName          // a segment of the same parent
	invalidName           // a segment that failed the schema
)

// lookup reports what name is among the segments of one parent (names),
// and records it in deps when set.
func (c *checker) lookup(names parentNames, name string, deps *segDeps) nameKind {
	k := unknownName
	switch {
	case names.has(name):
		k = declaredName
	case c.known.segments[name]:
		k = invalidName
	}
	if deps != nil {
		deps.lookups = append(deps.lookups, nameLookup{name: name, kind: k})
	}
	return k
}

// memoValid reports whether every lookup recorded in m answers the same for
// segment s with parent p, the segments of its parent being names.
func (c *checker) memoValid(m *segCheck, s *segment.Segment, p *segment.Parent, names parentNames) bool {
	if m.parentName != s.Parent || m.parent != c.parentSrc[p] {
		return false
	}
	for _, l := range m.lookups {
		if c.lookup(names, l.name, nil) != l.kind {
			return false
		}
	}
	if m.allNames {
		if m.nameHash != c.nameHash(s.Parent, names) {
			return false
		}
	}
	return true
}

// nameSeed makes the hashes of name sets comparable within the process.
var nameSeed = maphash.MakeSeed()

// nameHash returns a hash of the set names of the segments of parent,
// computed once per check.
func (c *checker) nameHash(parent string, names parentNames) uint64 {
	if h, ok := c.nameHashes[parent]; ok {
		return h
	}
	var h uint64
	names.each(func(n string) {
		// A sum does not depend on the order of the map.
		h += maphash.String(nameSeed, n)
	})
	if c.nameHashes == nil {
		c.nameHashes = map[string]uint64{}
	}
	c.nameHashes[parent] = h
	return h
}
