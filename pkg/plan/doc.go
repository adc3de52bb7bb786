// Package plan computes what must change in Treasure Data so that it matches
// a repository: a pure diff of desired state against observed state, with
// ownership, normalization, prune safety and drift. It does no I/O and reads
// no clock; everything time-dependent comes in through Options.
//
// # Order
//
// Changes come in the order they must be applied: parent segments, then
// folders top-down, then segments so that a segment comes after every segment
// it references, then deletes in reverse: segments (referencing ones first),
// folders (deepest first), parent segments last. Each change carries a Level;
// changes with the same Level are independent and may run concurrently.
//
// # Ownership
//
// Treasure has no labels, so the treasure adapter records ownership in the
// object itself and reports it as segment.Meta.Owned. The plan updates or
// deletes only owned objects. An existing object with a desired name that is
// not owned (or owned by another source) is a Conflict and left alone, unless
// the author set lifecycle.adopt, which turns it into an update that takes
// ownership. An adopted object that already matches is left as it is (a
// no-op, so that `reconciler import` round-trips to "No changes"); the marker
// is written with its next change, and until then it is never pruned.
//
// Folders are the exception: an unowned folder at a desired path is used as
// it is (segments go into it) but never changed or deleted. Likewise folders
// and segments are managed inside a parent segment that is itself a
// conflict: the parent segment is left alone, what the repository declares
// in it is created and owned.
//
// # Drift
//
// Without a state file, drift is defined as: an owned object whose observed
// content differs from the desired content, and that was not last written
// by the reconciler's own principal (Options.Principal, when known), while
// one of these holds: the desired content did not change since the last
// successful apply (Options.SameRevision); another user wrote the object
// last (its UpdatedBy is known and is not Options.Principal); or its
// UpdatedAt is after Options.LastApplied. Such a change carries Drift (who
// and when). With DriftReport it is shown but held back from apply; with
// DriftCorrect it is reverted.
//
// # Errors
//
// A plan whose inputs cannot be applied as a whole (two desired objects
// with one identity, a parent segment, folder or referenced segment that
// exists neither in the repository nor in Treasure Data, a reference cycle)
// is Errored: it lists the Errors, is not Applyable, and package apply
// refuses it.
//
// # Prune safety
//
// Deletes are blocked, with the reason recorded on the change and on the
// plan, when: Options.InhibitDeletes says an earlier stage failed; pruning is
// disabled; the object is protected (Options.Protect, or a
// Lifecycle.PreventDestroy reported on the observed object); its parent
// segment is no longer in the repository and AllowParentDelete is off; a
// parent segment in the
// repository declares no segment at all while Treasure holds owned ones (an
// empty or truncated repository) and AllowEmpty is off; the number of deletes
// exceeds MaxDeletes or MaxDeletePercent of the owned objects (then every
// delete of the run is blocked); or a parent segment would be deleted without
// AllowParentDelete. An object removed from the repository cannot carry its
// own lifecycle.preventDestroy, so per-object protection of removed objects
// is the Protect list, an orphan protection list the caller takes from its
// configuration.
//
// A blocked change carries its reason twice: as text for people (Blocked)
// and as a closed value for code (BlockedBy: metric labels, readiness).
// Summary.Unresolved counts what a plan leaves for a person although apply
// has nothing to do: conflicts and blocked changes, except the protected
// objects, which are kept on purpose. While it is not zero the summary line
// says that Treasure Data does not match the repository, never "No changes".
package plan
