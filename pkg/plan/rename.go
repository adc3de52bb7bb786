package plan

import (
	"slices"
	"strconv"
	"strings"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// Renames (renamedFrom on a folder or segment, like Terraform's moved
// blocks) are resolved before anything is compared: an owned object
// observed under an earlier name that the repository no longer declares,
// while nothing is observed under the new name, is taken as the object
// itself under its new name. The observed state is rewritten accordingly
// (the object, the paths of the folders and segments below a renamed
// folder, the references to a renamed segment), so that the rename is one
// update of the same id and everything else compares as it is.

// renamed maps an object's new key to the name it is observed under.
type renamed map[segment.Key]string

// resolveRenames returns observed with the renames of desired applied, and
// the renamed folders and segments by their new keys.
func (c *computer) resolveRenames(desired, observed segment.State) (segment.State, renamed, renamed) {
	folders := c.folderRenames(desired, observed)
	segs := c.segmentRenames(desired, observed)
	if len(folders) == 0 && len(segs) == 0 {
		return observed, nil, nil
	}
	// old path (per parent) -> new path
	move := map[segment.Key]string{}
	for k, old := range folders {
		move[segment.Key{Parent: k.Parent, Name: old}] = k.Name
	}
	newName := map[segment.Key]string{}
	for k, old := range segs {
		newName[segment.Key{Parent: k.Parent, Name: old}] = k.Name
	}
	out := observed
	out.Folders = make([]segment.Folder, len(observed.Folders))
	for i, f := range observed.Folders {
		f.Path = movedPath(move, f.Parent, f.Path)
		out.Folders[i] = f
	}
	out.Segments = make([]segment.Segment, len(observed.Segments))
	for i, s := range observed.Segments {
		if n, ok := newName[s.Key()]; ok {
			s.Name = n
		}
		if s.Folder != "" {
			s.Folder = movedPath(move, s.Parent, s.Folder)
		}
		if len(segs) > 0 && referencesAny(&s, s.Parent, newName) {
			s.Rule = s.Rule.Clone()
			for j := range s.Rule.Conditions {
				for k := range s.Rule.Conditions[j].Conditions {
					cd := &s.Rule.Conditions[j].Conditions[k]
					if n, ok := newName[segment.Key{Parent: s.Parent, Name: cd.Segment}]; ok && cd.Type == segment.ReferenceCondition {
						cd.Segment = n
					}
				}
			}
		}
		out.Segments[i] = s
	}
	// Drift compares fingerprints of what Treasure holds, before the
	// rewrite (a segment's fingerprint covers its folder and references).
	c.written = map[*segment.Segment]*segment.Segment{}
	for i := range out.Segments {
		c.written[&out.Segments[i]] = &observed.Segments[i]
	}
	return out, folders, segs
}

// asWritten returns the observed segment as Treasure holds it, before
// renames rewrote it.
func (c *computer) asWritten(o *segment.Segment) *segment.Segment {
	if w, ok := c.written[o]; ok {
		return w
	}
	return o
}

// movedPath returns the path of an observed folder after the folder moves:
// its own rename, else that of its nearest renamed ancestor.
func movedPath(move map[segment.Key]string, parent, path string) string {
	if len(move) == 0 {
		return path
	}
	for p := path; ; {
		if n, ok := move[segment.Key{Parent: parent, Name: p}]; ok {
			return n + path[len(p):]
		}
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			return path
		}
		p = p[:i]
	}
}

func referencesAny(s *segment.Segment, parent string, names map[segment.Key]string) bool {
	for _, r := range references(s) {
		if _, ok := names[segment.Key{Parent: parent, Name: r}]; ok {
			return true
		}
	}
	return false
}

// renamable is a desired folder or segment as renames see it: its key and
// its earlier names.
type renamable struct {
	key  segment.Key
	from []string
}

// pickRenames picks, for each desired object with earlier names that is
// not observed under its own, the first earlier name under which an owned
// object is observed that the repository does not declare and no other
// object took. observed holds the meta of every observed object by key.
func (c *computer) pickRenames(desired []renamable, observed map[segment.Key]segment.Meta) renamed {
	var out renamed
	declared := map[segment.Key]bool{}
	for _, d := range desired {
		declared[d.key] = true
	}
	taken := map[segment.Key]bool{}
	for _, d := range desired {
		if _, seen := observed[d.key]; len(d.from) == 0 || seen {
			continue
		}
		for _, old := range d.from {
			k := segment.Key{Parent: d.key.Parent, Name: old}
			if m, ok := observed[k]; ok && !declared[k] && !taken[k] && c.owned(m) {
				if out == nil {
					out = renamed{}
				}
				out[d.key], taken[k] = old, true
				break
			}
		}
	}
	return out
}

// folderRenames picks the renames of folders (see pickRenames).
func (c *computer) folderRenames(desired, observed segment.State) renamed {
	if !slices.ContainsFunc(desired.Folders, func(d segment.Folder) bool { return len(d.RenamedFrom) > 0 }) {
		return nil // the common case: no map of every observed object
	}
	obs := make(map[segment.Key]segment.Meta, len(observed.Folders))
	for _, f := range observed.Folders {
		obs[f.Key()] = f.Meta
	}
	ds := make([]renamable, len(desired.Folders))
	for i, d := range desired.Folders {
		ds[i] = renamable{key: d.Key(), from: d.RenamedFrom}
	}
	return c.pickRenames(ds, obs)
}

// segmentRenames picks the renames of segments (see pickRenames).
func (c *computer) segmentRenames(desired, observed segment.State) renamed {
	if !slices.ContainsFunc(desired.Segments, func(d segment.Segment) bool { return len(d.RenamedFrom) > 0 }) {
		return nil // the common case: no map of every observed object
	}
	obs := make(map[segment.Key]segment.Meta, len(observed.Segments))
	for _, s := range observed.Segments {
		obs[s.Key()] = s.Meta
	}
	ds := make([]renamable, len(desired.Segments))
	for i, d := range desired.Segments {
		ds[i] = renamable{key: d.Key(), from: d.RenamedFrom}
	}
	return c.pickRenames(ds, obs)
}

// renameDiff returns the name (or path) difference of a renamed object.
func renameDiff(field, before, after string) []FieldDiff {
	return []FieldDiff{{Path: field, Before: before, After: after}}
}

// hintRenames marks each delete of a segment whose rule equals that of a
// created segment of the same parent: it looks like a rename written
// without renamedFrom, which would lose the segment's id.
func (c *computer) hintRenames() {
	created := map[string][]*Change{} // parent + rule -> creates
	for i := range c.plan.Changes {
		ch := &c.plan.Changes[i]
		if ch.Kind == KindSegment && ch.Action == Create {
			s := ch.After.(*segment.Segment)
			k := s.Parent + "\x00" + canonicalRule(&s.Rule)
			created[k] = append(created[k], ch)
		}
	}
	if len(created) == 0 {
		return
	}
	for i := range c.plan.Changes {
		del := &c.plan.Changes[i]
		if del.Kind != KindSegment || del.Action != Delete {
			continue
		}
		o := del.Before.(*segment.Segment)
		k := o.Parent + "\x00" + canonicalRule(&o.Rule)
		if len(created[k]) == 0 {
			continue
		}
		cr := created[k][0]
		created[k] = created[k][1:]
		cr.LooksRenamedFrom, del.LooksRenamedTo = o.Name, cr.Key.Name
		cr.Reason = "looks like a rename of " + strconv.Quote(o.Name) + ": add renamedFrom: [" + strconv.Quote(o.Name) +
			"] to keep its id, references and activations"
		if del.Reason == "" {
			del.Reason = "looks like a rename to " + strconv.Quote(cr.Key.Name) + " (same rule): see renamedFrom"
		}
	}
}
