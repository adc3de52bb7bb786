package plan

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// Action is what a change does.
type Action int

// Actions. NoOp changes are kept in the plan so that renderers can count
// unchanged objects and apply can resolve their ids.
const (
	NoOp Action = iota
	Create
	Update
	// Replace is a parent segment update, which Treasure performs as a
	// destructive full replace of attributes and behaviors.
	Replace
	Delete
	// Conflict is an object with a desired name that the reconciler does not
	// own; it is left alone.
	Conflict
)

var actionNames = [...]string{"no-op", "create", "update", "replace", "delete", "conflict"}

// String returns the lowercase action name used in metrics and JSON.
func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// MarshalText encodes the action name.
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// Kind is the kind of object a change is about.
type Kind string

// Kinds.
const (
	KindParent  Kind = "parent"
	KindFolder  Kind = "folder"
	KindSegment Kind = "segment"
	// KindActivation is an activation of a segment; its key's Name is
	// "<segment> → <activation>".
	KindActivation Kind = "activation"
)

// DriftMode says what to do with drift.
type DriftMode string

// Drift modes.
const (
	// DriftCorrect reverts drift (the default).
	DriftCorrect DriftMode = "correct"
	// DriftReport only reports drift; the change is held.
	DriftReport DriftMode = "report"
)

// PruneOptions bound deletes.
type PruneOptions struct {
	// Enabled allows deletes at all.
	Enabled bool
	// MaxDeletes caps deletes per run; 0 means no count cap.
	MaxDeletes int
	// MaxDeletePercent caps deletes per run as a percentage of the owned
	// objects observed; 0 means no percentage cap.
	MaxDeletePercent int
	// AllowEmpty allows deleting every segment of a parent segment whose
	// repository declares none.
	AllowEmpty bool
	// AllowParentDelete allows deleting parent segments.
	AllowParentDelete bool
	// AllowParentReplace allows replacing parent segments. Every parent
	// update is a full replace (PUT with master): Treasure recreates the
	// attributes and behaviors with new ids.
	AllowParentReplace bool
}

// Options are the inputs of Compute besides the two states.
type Options struct {
	// Owner is this reconciler's source name. Objects owned by another
	// source are conflicts. Empty accepts any owner.
	Owner string
	Prune PruneOptions
	// Protect lists objects that are never deleted (folder keys use the
	// path as Name; parent keys have an empty Name). The kind is part of the
	// identity: a top-level folder and a segment of the same name are
	// different objects.
	Protect []Object
	// InhibitDeletes, when not empty, blocks every delete with this reason
	// (an earlier stage failed).
	InhibitDeletes string
	Drift          DriftMode
	// LastApplied is the time of the last successful apply; zero if unknown.
	LastApplied time.Time
	// SameRevision reports that the desired state comes from the revision
	// that was last applied successfully.
	SameRevision bool
	// Principal is the user name Treasure Data records as UpdatedBy for the
	// reconciler's own writes (the owner of its API key). When set, an owned
	// object that differs and was last updated by someone else is drift,
	// and one last updated by the reconciler itself never is. Empty leaves
	// drift to SameRevision and LastApplied alone.
	Principal string
}

// FieldDiff is one changed field, values rendered for people.
type FieldDiff struct {
	Path   string `json:"path"`
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
}

// Drift describes a change made outside the reconciler.
type Drift struct {
	UpdatedBy string    `json:"updated_by,omitempty"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// Change is one planned change.
type Change struct {
	Action Action
	Kind   Kind
	Key    segment.Key
	// ID is Treasure's id of the observed object, if any.
	ID string
	// Before is the observed object (*segment.Parent, *segment.Folder or
	// *segment.Segment); nil for creates.
	Before any
	// After is the desired object; nil for deletes.
	After any
	// Diff lists changed fields of updates and replaces.
	Diff []FieldDiff
	// Recreated lists, for a Replace, the attributes and behaviors that
	// Treasure deletes and recreates (with new ids).
	Recreated []string
	// Adopt is set when an update takes ownership of an unowned object.
	Adopt bool
	// RenamedFrom is, for an update of a folder or segment found under an
	// earlier name (renamedFrom), that name or path.
	RenamedFrom string
	// LooksRenamedFrom, on a create, names the segment deleted in the same
	// plan with the same rule; LooksRenamedTo, on that delete, names the
	// create. Such a pair is most likely a rename written without
	// renamedFrom.
	LooksRenamedFrom, LooksRenamedTo string
	// Drift is set when the object was changed outside the reconciler.
	Drift *Drift
	// Blocked, when not empty, is why this change will not be applied
	// (a blocked delete, held drift), for people; BlockedBy is the same
	// reason as a closed value, for code.
	Blocked   string
	BlockedBy Block
	// Reason explains a conflict or a no-op on an unowned object, for
	// people; ConflictBy is why a conflict is one, for code.
	Reason     string
	ConflictBy ConflictReason
	// Level orders application: lower levels first; changes of one level are
	// independent of each other.
	Level int
	// DependsOn lists the keys (as "kind:parent/name") this change needs.
	DependsOn []string
	// Population is, for a created or updated segment, how many profiles
	// it matches; nil when not counted.
	Population *Population
}

// Block says why a change is not applied. The set is closed; its values
// are snake_case, fit for metric labels.
type Block string

// Blocks.
const (
	// BlockProtected: a delete of an object kept on purpose (prune.protect,
	// or lifecycle.preventDestroy recorded on the object). It needs no
	// action.
	BlockProtected Block = "protected"
	// BlockDriftReport: a change made outside the reconciler, held because
	// the drift mode is report.
	BlockDriftReport Block = "drift_report"
	// BlockDisabled: a delete while pruning is disabled.
	BlockDisabled Block = "disabled"
	// BlockInhibited: a delete in a run in which an earlier stage failed.
	BlockInhibited Block = "inhibited"
	// BlockParentDelete: a delete of a parent segment, or of an object of a
	// parent segment no longer in the repository, without
	// prune.allowParentDelete.
	BlockParentDelete Block = "parent_delete"
	// BlockParentReplace: a replace of a parent segment without
	// prune.allowParentReplace.
	BlockParentReplace Block = "parent_replace"
	// BlockEmpty: a delete of every segment of a parent segment that the
	// repository declares with none, without prune.allowEmpty.
	BlockEmpty Block = "empty"
	// BlockMaxDeletes and BlockMaxPercent: the deletes of a run that
	// exceed prune.maxDeletes or prune.maxDeletePercent.
	BlockMaxDeletes Block = "max_deletes"
	BlockMaxPercent Block = "max_percent"
	// BlockPopulationChange: a segment create or update whose population
	// moves by more than population.maxChangePercent, without
	// lifecycle.allowPopulationChange.
	BlockPopulationChange Block = "population_change"
)

// Blocks lists every Block.
var Blocks = []Block{BlockProtected, BlockDriftReport, BlockDisabled, BlockInhibited, BlockParentDelete,
	BlockParentReplace, BlockEmpty, BlockMaxDeletes, BlockMaxPercent, BlockPopulationChange}

func (b Block) String() string { return string(b) }

// Unresolved reports whether a change blocked by b needs a person: every
// block but BlockProtected (an object kept on purpose).
func (b Block) Unresolved() bool { return b != "" && b != BlockProtected }

// Prune reports whether b is a prune rule holding a delete that a person
// must lift (not BlockProtected), as opposed to a block of other changes
// (BlockDriftReport, BlockParentReplace, BlockPopulationChange).
func (b Block) Prune() bool {
	switch b {
	case BlockDisabled, BlockInhibited, BlockParentDelete, BlockEmpty, BlockMaxDeletes, BlockMaxPercent:
		return true
	}
	return false
}

// ConflictReason says why an observed object is not taken over. The set is
// closed; its values are snake_case, fit for metric labels.
type ConflictReason string

// Conflict reasons.
const (
	// ConflictUnowned: the object carries no ownership marker and the
	// repository does not set lifecycle.adopt.
	ConflictUnowned ConflictReason = "unowned"
	// ConflictOtherOwner: another source owns the object and the
	// repository does not name it in lifecycle.adopt.from (adopt: true
	// takes only unowned objects).
	ConflictOtherOwner ConflictReason = "other_owner"
	// ConflictAdoptFromMismatch: lifecycle.adopt.from names a source other
	// than the one that owns the object.
	ConflictAdoptFromMismatch ConflictReason = "adopt_from_mismatch"
)

// ConflictReasons lists every ConflictReason.
var ConflictReasons = []ConflictReason{ConflictUnowned, ConflictOtherOwner, ConflictAdoptFromMismatch}

func (c *Change) block(b Block, text string) { c.BlockedBy, c.Blocked = b, text }

// Parents returns Before and After of a parent segment change, nil where
// absent or of another kind.
func (c *Change) Parents() (before, after *segment.Parent) {
	before, _ = c.Before.(*segment.Parent)
	after, _ = c.After.(*segment.Parent)
	return before, after
}

// Folders returns Before and After of a folder change, nil where absent or
// of another kind.
func (c *Change) Folders() (before, after *segment.Folder) {
	before, _ = c.Before.(*segment.Folder)
	after, _ = c.After.(*segment.Folder)
	return before, after
}

// Segments returns Before and After of a segment change, nil where absent
// or of another kind.
func (c *Change) Segments() (before, after *segment.Segment) {
	before, _ = c.Before.(*segment.Segment)
	after, _ = c.After.(*segment.Segment)
	return before, after
}

// Ref returns the change's identity as "kind:parent/name".
func (c *Change) Ref() string { return Ref(c.Kind, c.Key) }

// Object identifies one object: its kind and key.
type Object struct {
	Kind Kind
	Key  segment.Key
}

// String renders the object as Ref does.
func (o Object) String() string { return Ref(o.Kind, o.Key) }

// Ref renders an object identity.
func Ref(k Kind, key segment.Key) string { return string(k) + ":" + key.String() }

// Applies reports whether apply will execute the change.
func (c *Change) Applies() bool {
	return c.Blocked == "" && c.Action != NoOp && c.Action != Conflict
}

// IDs are the observed ids apply needs to resolve names.
type IDs struct {
	Parents     map[string]string
	RootFolders map[string]string
	// Folders maps parent → path → id.
	Folders map[string]map[string]string
	// Segments maps parent → name → id.
	Segments map[string]map[string]string
	// Connections maps parent name → connection id, as observed.
	Connections map[string]string
}

// Plan is the result of Compute.
type Plan struct {
	Changes []Change
	IDs     IDs
	// PruneBlocked, when not empty, says why deletes were blocked as a whole.
	PruneBlocked string
	// Errors are problems that make the plan impossible to apply as a
	// whole: two desired objects with one identity, a reference to a
	// segment that exists nowhere, a reference cycle, an object whose parent
	// segment or folder exists nowhere. Package spec reports these for a
	// repository; the plan checks them again because it is the last stage
	// before writes.
	Errors []string
	// Errored is set when Errors is not empty. An errored plan is shown but
	// never applied.
	Errored bool
	// Applyable reports that the plan has changes to apply and no errors.
	Applyable bool
}

// Summary counts changes by action (blocked changes are not counted as
// their action but as Blocked). Protected counts the blocked deletes of
// objects kept on purpose (BlockProtected), a part of Blocked.
type Summary struct {
	Add, Change, Replace, Destroy, Conflict, Blocked, Protected, Unchanged, Drift int
}

// Unresolved counts what the plan leaves for a person to resolve although
// apply has nothing (more) to do: conflicts and blocked changes, except
// the protected objects, which are kept on purpose. Treasure Data does not
// match the repository while it is not zero.
func (s Summary) Unresolved() int { return s.Conflict + s.Blocked - s.Protected }

// Summary counts the plan's changes.
func (p *Plan) Summary() Summary {
	var s Summary
	for i := range p.Changes {
		c := &p.Changes[i]
		if c.Drift != nil {
			s.Drift++
		}
		if c.Blocked != "" {
			s.Blocked++
			if c.BlockedBy == BlockProtected {
				s.Protected++
			}
			continue
		}
		switch c.Action {
		case Create:
			s.Add++
		case Update:
			s.Change++
		case Replace:
			s.Replace++
		case Delete:
			s.Destroy++
		case Conflict:
			s.Conflict++
		case NoOp:
			s.Unchanged++
		}
	}
	return s
}

// HasChanges reports whether apply would change anything.
func (p *Plan) HasChanges() bool {
	for i := range p.Changes {
		if p.Changes[i].Applies() {
			return true
		}
	}
	return false
}

// Counts returns the number of applicable changes per action name, for
// metrics; blocked and held changes are not counted, conflicts are.
func (p *Plan) Counts() map[string]int {
	m := map[string]int{}
	for i := range p.Changes {
		c := &p.Changes[i]
		if c.Applies() || c.Action == Conflict {
			m[c.Action.String()]++
		}
	}
	return m
}

func sortChanges(cs []Change) {
	slices.SortStableFunc(cs, func(a, b Change) int {
		if c := cmp.Compare(a.Level, b.Level); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Key.Parent, b.Key.Parent); c != 0 {
			return c
		}
		return cmp.Compare(a.Key.Name, b.Key.Name)
	})
}
