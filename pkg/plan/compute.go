package plan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// adoptedReason explains an adopted object that already matches: nothing is
// written, and the ownership marker is recorded with its next change. Until
// then the object is never pruned.
const adoptedReason = "adopted (lifecycle.adopt); it matches the repository, so ownership is recorded with its next change"

// Levels. Folder and segment levels add a depth to their base.
const (
	levelParent        = 0
	levelFolder        = 10
	levelSegment       = 1000
	levelDeleteSegment = 5000
	levelDeleteFolder  = 8000
	levelDeleteParent  = 9900
)

// Compute returns the plan that turns observed into desired. Observed must
// hold everything Treasure has under the parent segments concerned.
func Compute(desired, observed segment.State, opts Options) *Plan {
	c := computer{opts: opts, plan: &Plan{}}
	// Most objects are both desired and observed: one change each, in one
	// allocation rather than the doublings of append.
	c.plan.Changes = make([]Change, 0, len(desired.Parents)+len(desired.Folders)+len(desired.Segments)+8)
	observed, folderRenames, segmentRenames := c.resolveRenames(desired, observed)
	c.index(observed)
	c.parents(desired, observed)
	c.folders(desired, observed, folderRenames)
	c.segments(desired, observed, segmentRenames)
	c.activations(desired, observed)
	c.guardDeletes(desired, observed)
	c.hintRenames()
	sortChanges(c.plan.Changes)
	c.plan.Errors = check(desired, observed)
	c.plan.Errored = len(c.plan.Errors) > 0
	c.plan.Applyable = !c.plan.Errored && c.plan.HasChanges()
	return c.plan
}

type computer struct {
	opts Options
	plan *Plan
	// written maps observed segments rewritten by renames to the
	// originals.
	written map[*segment.Segment]*segment.Segment
}

func (c *computer) add(ch Change) { c.plan.Changes = append(c.plan.Changes, ch) }

func (c *computer) index(o segment.State) {
	ids := IDs{
		Parents:     map[string]string{},
		RootFolders: map[string]string{},
		Folders:     map[string]map[string]string{},
		Segments:    map[string]map[string]string{},
		Connections: map[string]string{},
	}
	for _, p := range o.Parents {
		ids.Parents[p.Name] = p.Meta.ID
		ids.RootFolders[p.Name] = p.RootFolderID
		ids.Connections[p.Name] = p.ConnectionID
	}
	for _, f := range o.Folders {
		if ids.Folders[f.Parent] == nil {
			ids.Folders[f.Parent] = map[string]string{}
		}
		ids.Folders[f.Parent][f.Path] = f.Meta.ID
	}
	perParent := map[string]int{}
	for i := range o.Segments {
		perParent[o.Segments[i].Parent]++
	}
	for i := range o.Segments {
		s := &o.Segments[i]
		if ids.Segments[s.Parent] == nil {
			ids.Segments[s.Parent] = make(map[string]string, perParent[s.Parent])
		}
		ids.Segments[s.Parent][s.Name] = s.Meta.ID
	}
	c.plan.IDs = ids
}

// ownership classifies an observed object against a desired one: ok to
// manage, adopt, or a conflict with its reason. An unowned object is
// adopted with lifecycle.adopt; an object of another source only with
// lifecycle.adopt.from naming that source.
func (c *computer) ownership(m segment.Meta, lc segment.Lifecycle) (adopt bool, conflict ConflictReason, text string) {
	switch {
	case c.owned(m):
		return false, "", ""
	case !m.Owned && lc.Adopt:
		return true, "", ""
	case !m.Owned:
		return false, ConflictUnowned, "exists in Treasure Data and is not managed by the reconciler; set lifecycle.adopt to take it over"
	case lc.AdoptFrom != "" && lc.AdoptFrom == m.OwnerSource:
		return true, "", ""
	case lc.AdoptFrom != "":
		return false, ConflictAdoptFromMismatch, fmt.Sprintf("owned by source %q, not by %q that lifecycle.adopt.from names; it is not taken over", m.OwnerSource, lc.AdoptFrom)
	default:
		return false, ConflictOtherOwner, fmt.Sprintf("owned by source %q; lifecycle.adopt takes only unowned objects: set lifecycle.adopt: {from: %q} to take it over", m.OwnerSource, m.OwnerSource)
	}
}

// takeover returns the owner diff of an object adopted from another source
// (lifecycle.adopt.from): it is written even when it matches, so that its
// marker names this source at once and the other source no longer manages
// or prunes it.
func (c *computer) takeover(m segment.Meta, adopt bool) []FieldDiff {
	if !adopt || !m.Owned || m.OwnerSource == "" || m.OwnerSource == c.opts.Owner {
		return nil
	}
	return []FieldDiff{{Path: "owner", Before: m.OwnerSource, After: c.opts.Owner}}
}

// match settles a desired object against its observed counterpart: a
// create when there is none, a conflict when it is not ownable; both are
// added and settled is true. Otherwise the change records the observed
// object and adopt says whether it takes ownership.
func (c *computer) match(ch *Change, found bool, before any, m segment.Meta, lc segment.Lifecycle) (adopt, settled bool) {
	if !found {
		ch.Action = Create
		c.add(*ch)
		return false, true
	}
	ch.ID, ch.Before = m.ID, before
	adopt, conflict, text := c.ownership(m, lc)
	if conflict != "" {
		ch.Action, ch.Reason, ch.ConflictBy = Conflict, text, conflict
		c.add(*ch)
		return false, true
	}
	return adopt, false
}

func (c *computer) owned(m segment.Meta) bool {
	return m.Owned && (c.opts.Owner == "" || m.OwnerSource == "" || m.OwnerSource == c.opts.Owner)
}

// drift returns drift information for an owned object that differs, or
// nil when the difference is a change of the repository. An object last
// written by the reconciler's own principal is never drift. Otherwise,
// when its ownership marker records the fingerprint of what the reconciler
// last wrote, it is drift exactly when the observed object's fingerprint
// differs, whoever changed it. Without a fingerprint (markers written by
// older versions) it is drift when the repository did not move since the
// last apply, when another user wrote it last, or when it changed after the
// last apply.
func (c *computer) drift(m segment.Meta, observed any) *Drift {
	p := c.opts.Principal
	if p != "" && m.UpdatedBy == p {
		return nil
	}
	if m.Fingerprint != "" {
		if Fingerprint(observed) == m.Fingerprint {
			return nil
		}
		return &Drift{UpdatedBy: m.UpdatedBy, UpdatedAt: m.UpdatedAt}
	}
	byOther := p != "" && m.UpdatedBy != ""
	after := !c.opts.LastApplied.IsZero() && m.UpdatedAt.After(c.opts.LastApplied)
	if c.opts.SameRevision || byOther || after {
		return &Drift{UpdatedBy: m.UpdatedBy, UpdatedAt: m.UpdatedAt}
	}
	return nil
}

// updateOrNoOp settles a matched change by its diff: nothing to do (an
// adopted object that matches says so), or an update of what Treasure holds,
// checked for drift against observed.
func (c *computer) updateOrNoOp(ch *Change, adopt bool, m segment.Meta, observed any) {
	if len(ch.Diff) == 0 {
		ch.Action = NoOp
		if adopt {
			ch.Reason = adoptedReason
		}
		return
	}
	ch.Action, ch.Adopt = Update, adopt
	c.markDrift(ch, m, observed)
}

func (c *computer) markDrift(ch *Change, m segment.Meta, observed any) {
	if ch.Adopt {
		return
	}
	if d := c.drift(m, observed); d != nil {
		ch.Drift = d
		if c.opts.Drift == DriftReport {
			ch.block(BlockDriftReport, "drift mode is report: changed outside the reconciler, not reverted")
		}
	}
}

func (c *computer) parents(desired, observed segment.State) {
	obs := map[string]*segment.Parent{}
	for i := range observed.Parents {
		obs[observed.Parents[i].Name] = &observed.Parents[i]
	}
	want := map[string]bool{}
	for i := range desired.Parents {
		d := &desired.Parents[i]
		want[d.Name] = true
		ch := Change{Kind: KindParent, Key: d.Key(), After: d, Level: levelParent}
		o, ok := obs[d.Name]
		var meta segment.Meta
		if ok {
			meta = o.Meta
		}
		adopt, settled := c.match(&ch, ok, o, meta, d.Lifecycle)
		if settled {
			continue
		}
		ch.Adopt = adopt
		ch.Diff = diffFields(parentFields(knownParent(o, d), d), parentFields(d, nil))
		if cd := connectionDiff(d, o); cd != nil {
			ch.Diff = append([]FieldDiff{*cd}, ch.Diff...)
		}
		ch.Diff = append(ch.Diff, c.takeover(o.Meta, adopt)...)
		switch {
		case len(ch.Diff) == 0:
			ch.Action = NoOp
			if adopt {
				ch.Reason = adoptedReason
			}
		default:
			// Every parent update is a PUT with `master`: a full replace.
			ch.Action = Replace
			for _, a := range d.Attributes {
				ch.Recreated = append(ch.Recreated, "attribute "+a.Name)
			}
			for _, b := range d.Behaviors {
				ch.Recreated = append(ch.Recreated, "behavior "+b.Name)
			}
			c.markDrift(&ch, o.Meta, o)
			if ch.Blocked == "" && !c.opts.Prune.AllowParentReplace {
				ch.block(BlockParentReplace, "replacing a parent segment recreates its attributes and behaviors with new ids: it needs prune.allowParentReplace")
			}
		}
		c.add(ch)
	}
	for i := range observed.Parents {
		o := &observed.Parents[i]
		if want[o.Name] || !c.owned(o.Meta) {
			continue
		}
		ch := Change{Action: Delete, Kind: KindParent, Key: o.Key(), ID: o.Meta.ID, Before: o, Level: levelDeleteParent}
		if !c.opts.Prune.AllowParentDelete {
			ch.block(BlockParentDelete, "deleting a parent segment needs prune.allowParentDelete")
		}
		c.add(ch)
	}
}

// connectionDiff compares the Databricks connection: by id when both sides
// know it (the desired id is resolved from the name before planning), by
// name when only the observed name is known. A connection Treasure did
// not report is unknown, never a difference.
func connectionDiff(d, o *segment.Parent) *FieldDiff {
	switch {
	case d.ConnectionID != "" && o.ConnectionID != "":
		if d.ConnectionID == o.ConnectionID {
			return nil
		}
		before := "id " + o.ConnectionID
		if o.Connection != "" && o.Connection != d.Connection {
			before = o.Connection + " (id " + o.ConnectionID + ")"
		}
		return &FieldDiff{Path: "connection", Before: before, After: d.Connection + " (id " + d.ConnectionID + ")"}
	case o.Connection != "" && o.Connection != d.Connection:
		return &FieldDiff{Path: "connection", Before: o.Connection, After: d.Connection}
	}
	return nil
}

func depth(path string) int { return strings.Count(path, "/") + 1 }

func (c *computer) folders(desired, observed segment.State, renames renamed) {
	obs := map[segment.Key]*segment.Folder{}
	for i := range observed.Folders {
		obs[observed.Folders[i].Key()] = &observed.Folders[i]
	}
	want := map[segment.Key]bool{}
	for i := range desired.Folders {
		d := &desired.Folders[i]
		want[d.Key()] = true
		ch := Change{Kind: KindFolder, Key: d.Key(), After: d, Level: levelFolder + depth(d.Path)}
		ch.DependsOn = []string{Ref(KindParent, segment.Key{Parent: d.Parent})}
		if pp := d.ParentPath(); pp != "" {
			ch.DependsOn = append(ch.DependsOn, Ref(KindFolder, segment.Key{Parent: d.Parent, Name: pp}))
		}
		o, ok := obs[d.Key()]
		if !ok {
			ch.Action = Create
			c.add(ch)
			continue
		}
		ch.ID, ch.Before = o.Meta.ID, o
		adopt, conflict, _ := c.ownership(o.Meta, d.Lifecycle)
		before := map[string]string{"description": normDescription(knownDescription(o.Description, d.Description, o.Meta))}
		after := map[string]string{"description": normDescription(d.Description)}
		ch.Diff = append(diffFields(before, after), c.takeover(o.Meta, adopt)...)
		if old, ok := renames[d.Key()]; ok {
			ch.RenamedFrom = old
			ch.Diff = append(renameDiff("path", old, d.Path), ch.Diff...)
		}
		if conflict != "" {
			// An unowned folder is used as it is, never changed.
			ch.Action = NoOp
			ch.Reason = "folder exists and is not managed by the reconciler; segments are placed in it as it is"
			ch.Diff = nil
		} else {
			c.updateOrNoOp(&ch, adopt, o.Meta, o)
		}
		c.add(ch)
	}
	for i := range observed.Folders {
		o := &observed.Folders[i]
		if want[o.Key()] || !c.owned(o.Meta) {
			continue
		}
		c.add(Change{Action: Delete, Kind: KindFolder, Key: o.Key(), ID: o.Meta.ID, Before: o,
			Level: levelDeleteFolder + 100 - depth(o.Path)})
	}
}

// referenceDepths returns, per segment name of one parent, 1 + the depth of
// the deepest segment it references (0 for none).
func referenceDepths(segs []*segment.Segment) map[string]int {
	byName := make(map[string]*segment.Segment, len(segs))
	for _, s := range segs {
		byName[s.Name] = s
	}
	memo := make(map[string]int, len(segs))
	var visit func(name string, seen map[string]bool) int
	visit = func(name string, seen map[string]bool) int {
		if d, ok := memo[name]; ok {
			return d
		}
		s, ok := byName[name]
		if !ok || seen[name] {
			return 0
		}
		seen[name] = true
		d := 0
		for _, ref := range references(s) {
			if _, ok := byName[ref]; ok {
				d = max(d, visit(ref, seen)+1)
			}
		}
		delete(seen, name)
		memo[name] = d
		return d
	}
	// visit leaves seen as it found it.
	seen := map[string]bool{}
	for _, s := range segs {
		visit(s.Name, seen)
	}
	return memo
}

// references lists the names of the segments a segment's rule references.
func references(s *segment.Segment) []string {
	var out []string
	for i := range s.Rule.Conditions {
		for j := range s.Rule.Conditions[i].Conditions {
			cd := &s.Rule.Conditions[i].Conditions[j]
			if cd.Type == segment.ReferenceCondition && cd.Segment != "" {
				out = append(out, cd.Segment)
			}
		}
	}
	return out
}

func byParent(segs []segment.Segment) map[string][]*segment.Segment {
	m := map[string][]*segment.Segment{}
	for i := range segs {
		m[segs[i].Parent] = append(m[segs[i].Parent], &segs[i])
	}
	return m
}

func (c *computer) segments(desired, observed segment.State, renames renamed) {
	obs := make(map[segment.Key]*segment.Segment, len(observed.Segments))
	for i := range observed.Segments {
		obs[observed.Segments[i].Key()] = &observed.Segments[i]
	}
	want := make(map[segment.Key]bool, len(desired.Segments))
	for parent, segs := range byParent(desired.Segments) {
		depths := referenceDepths(segs)
		for _, d := range segs {
			want[d.Key()] = true
			ch := Change{Kind: KindSegment, Key: d.Key(), After: d, Level: levelSegment + depths[d.Name]}
			ch.DependsOn = []string{Ref(KindParent, segment.Key{Parent: parent})}
			if d.Folder != "" {
				ch.DependsOn = append(ch.DependsOn, Ref(KindFolder, segment.Key{Parent: parent, Name: d.Folder}))
			}
			for _, r := range references(d) {
				ch.DependsOn = append(ch.DependsOn, Ref(KindSegment, segment.Key{Parent: parent, Name: r}))
			}
			o, ok := obs[d.Key()]
			var meta segment.Meta
			if ok {
				meta = o.Meta
			}
			adopt, settled := c.match(&ch, ok, o, meta, d.Lifecycle)
			if settled {
				continue
			}
			ch.Diff = append(segmentDiff(o, d), c.takeover(o.Meta, adopt)...)
			if old, ok := renames[d.Key()]; ok {
				ch.RenamedFrom = old
				ch.Diff = append(renameDiff("name", old, d.Name), ch.Diff...)
			}
			c.updateOrNoOp(&ch, adopt, o.Meta, c.asWritten(o))
			c.add(ch)
		}
	}
	for _, segs := range byParent(observed.Segments) {
		// The depths, over every observed segment of the parent, are
		// needed only when one of them is deleted.
		var depths map[string]int
		for _, o := range segs {
			if want[o.Key()] || !c.owned(o.Meta) {
				continue
			}
			if depths == nil {
				depths = referenceDepths(segs)
			}
			c.add(Change{Action: Delete, Kind: KindSegment, Key: o.Key(), ID: o.Meta.ID, Before: o,
				Level: levelDeleteSegment + 1000 - depths[o.Name]})
		}
	}
}

func segmentDiff(o, d *segment.Segment) []FieldDiff {
	var out []FieldDiff
	if a, b := normDescription(knownDescription(o.Description, d.Description, o.Meta)), normDescription(d.Description); a != b {
		out = append(out, FieldDiff{Path: "description", Before: a, After: b})
	}
	if o.Folder != d.Folder {
		out = append(out, FieldDiff{Path: "folder", Before: o.Folder, After: d.Folder})
	}
	if !rulesEqual(&o.Rule, &d.Rule) {
		before, after := ruleLines(&o.Rule), ruleLines(&d.Rule)
		for _, l := range before {
			if !slices.Contains(after, l) {
				out = append(out, FieldDiff{Path: "rule", Before: l})
			}
		}
		for _, l := range after {
			if !slices.Contains(before, l) {
				out = append(out, FieldDiff{Path: "rule", After: l})
			}
		}
		if len(out) == 0 || out[len(out)-1].Path != "rule" {
			out = append(out, FieldDiff{Path: "rule", Before: "(as before, with other details)", After: "(changed)"})
		}
	}
	return out
}

// guardDeletes applies the prune safety rules to the planned deletes.
func (c *computer) guardDeletes(desired, observed segment.State) {
	p := c.plan
	switch {
	case c.opts.InhibitDeletes != "":
		p.PruneBlocked = "no deletes in this run: " + c.opts.InhibitDeletes
		c.blockDeletes(BlockInhibited, p.PruneBlocked)
		return
	case !c.opts.Prune.Enabled:
		p.PruneBlocked = "pruning is disabled"
		c.blockDeletes(BlockDisabled, p.PruneBlocked)
		return
	}
	deletes := c.guardEachDelete(desired)
	owned := c.ownedObjects(observed)
	switch {
	case c.opts.Prune.MaxDeletes > 0 && deletes > c.opts.Prune.MaxDeletes:
		p.PruneBlocked = fmt.Sprintf("%d deletes exceed the cap of %d per run (prune.maxDeletes)", deletes, c.opts.Prune.MaxDeletes)
		c.blockDeletes(BlockMaxDeletes, p.PruneBlocked)
	case c.opts.Prune.MaxDeletePercent > 0 && owned > 0 && deletes*100 > c.opts.Prune.MaxDeletePercent*owned:
		p.PruneBlocked = fmt.Sprintf("%d deletes are more than %d%% of the %d owned objects (prune.maxDeletePercent)", deletes, c.opts.Prune.MaxDeletePercent, owned)
		c.blockDeletes(BlockMaxPercent, p.PruneBlocked)
	}
}

// blockDeletes holds every delete of the plan not yet held.
func (c *computer) blockDeletes(b Block, reason string) {
	p := c.plan
	for i := range p.Changes {
		if p.Changes[i].Action == Delete && p.Changes[i].Blocked == "" {
			p.Changes[i].block(b, reason)
		}
	}
}

// guardEachDelete holds the deletes that a rule about the object itself
// refuses (protected, its parent segment gone or declaring no segment) and
// returns how many deletes remain.
//
// Lifecycle.preventDestroy in the repository only concerns objects still
// in it, which are never deleted; an object removed from the repository
// cannot carry its own flag. Protect covers those, and so does an observed
// Lifecycle.PreventDestroy should the adapter ever report one.
func (c *computer) guardEachDelete(desired segment.State) int {
	p := c.plan
	protected := map[Object]bool{}
	for _, o := range c.opts.Protect {
		protected[o] = true
	}
	declares := map[string]int{}
	for _, d := range desired.Segments {
		declares[d.Parent]++
	}
	inRepo := map[string]bool{}
	for _, d := range desired.Parents {
		inRepo[d.Name] = true
	}
	deletes := 0
	for i := range p.Changes {
		ch := &p.Changes[i]
		if ch.Action != Delete || ch.Blocked != "" {
			continue
		}
		switch {
		case protected[Object{Kind: ch.Kind, Key: ch.Key}]:
			ch.block(BlockProtected, "protected by prune.protect")
		case observedPreventDestroy(ch.Before):
			ch.block(BlockProtected, "protected by lifecycle.preventDestroy recorded on the object")
		case ch.Kind != KindParent && !inRepo[ch.Key.Parent] && !c.opts.Prune.AllowParentDelete:
			ch.block(BlockParentDelete, fmt.Sprintf("parent segment %q is not in the repository: deleting it and its objects needs prune.allowParentDelete", ch.Key.Parent))
		case ch.Kind != KindParent && inRepo[ch.Key.Parent] && declares[ch.Key.Parent] == 0 && !c.opts.Prune.AllowEmpty:
			ch.block(BlockEmpty, fmt.Sprintf("the repository declares no segment for parent segment %q: refusing to delete everything it owns (prune.allowEmpty)", ch.Key.Parent))
			p.PruneBlocked = ch.Blocked
		default:
			deletes++
		}
	}
	return deletes
}

// ownedObjects counts the observed segments, folders and activations this
// source owns: the base of prune.maxDeletePercent.
func (c *computer) ownedObjects(observed segment.State) int {
	owned := 0
	for _, s := range observed.Segments {
		if c.owned(s.Meta) {
			owned++
		}
		for _, a := range s.Activations {
			if c.owned(a.Meta) {
				owned++
			}
		}
	}
	for _, f := range observed.Folders {
		if c.owned(f.Meta) {
			owned++
		}
	}
	return owned
}

func observedPreventDestroy(before any) bool {
	switch o := before.(type) {
	case *segment.Parent:
		return o.Lifecycle.PreventDestroy
	case *segment.Folder:
		return o.Lifecycle.PreventDestroy
	case *segment.Segment:
		return o.Lifecycle.PreventDestroy
	case *segment.Activation:
		return o.Lifecycle.PreventDestroy
	}
	return false
}
