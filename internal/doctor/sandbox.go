package doctor

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/cas-reconciler/reconciler/pkg/plan"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// Writer is what the sandbox uses of Treasure Data: a client whose
// ownership markers name Owner.
type Writer interface {
	Owner() string
	Observe(ctx context.Context, parentNames []string) (segment.State, error)
	CreateFolder(ctx context.Context, parentID, parentFolderID string, f *segment.Folder) (*segment.Folder, error)
	DeleteFolder(ctx context.Context, id string) error
	CreateSegment(ctx context.Context, parentID, folderID string, s *segment.Segment) (*segment.Segment, error)
	UpdateSegment(ctx context.Context, id, folderID string, s *segment.Segment) (*segment.Segment, error)
	DeleteSegment(ctx context.Context, id string) error
}

// SandboxOptions configure Sandbox.
type SandboxOptions struct {
	// Folder is the name of the folder made under the parent's root folder.
	Folder string
	// CleanupTimeout bounds the cleanup, which runs on a fresh context so
	// that an interrupted round trip still cleans up (default 1m).
	CleanupTimeout time.Duration
	// Progress receives a line per step (nil discards them).
	Progress io.Writer
}

// sandboxSegment is the segment the round trip writes.
const sandboxSegment = "reconciler doctor"

// Sandbox does a round trip of writes in parent p: it removes what an
// earlier interrupted sandbox left (recognised by Owner's ownership
// marker), creates folder o.Folder under the root folder and a segment in
// it, observes them again and plans (the plan must be "No changes."),
// updates the segment, and deletes segment and folder. Whatever it created
// is deleted also when ctx ends or a step fails.
func Sandbox(ctx context.Context, w Writer, p *segment.Parent, o SandboxOptions, r *Report) {
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	step := func(format string, args ...any) { fmt.Fprintf(progress, "sandbox: "+format+"\n", args...) }
	timeout := o.CleanupTimeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	name := "sandbox:" + o.Folder

	// Leftovers first, so that a rerun after an interruption starts clean.
	step("looking for leftovers of an earlier run in %q", p.Name)
	n, err := removeLeftovers(ctx, w, p)
	switch {
	case err != nil:
		r.add(withName(fromError(name+":leftovers", err), "removing leftovers: "))
		return
	case n > 0:
		r.add(Check{Name: name + ":leftovers", Status: Warn, Reason: ReasonLeftovers,
			Detail: fmt.Sprintf("removed %d objects an earlier interrupted run left", n)})
	default:
		r.add(Check{Name: name + ":leftovers", Status: OK, Detail: "none"})
	}

	var folderID, segmentID string
	defer func() {
		// A fresh context: ctx may be the one that ended.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		step("cleaning up")
		var problems []string
		if segmentID != "" {
			if err := w.DeleteSegment(cctx, segmentID); err != nil {
				problems = append(problems, "segment "+segmentID+": "+err.Error())
			}
		}
		if folderID != "" {
			if err := w.DeleteFolder(cctx, folderID); err != nil {
				problems = append(problems, "folder "+folderID+": "+err.Error())
			}
		}
		if len(problems) > 0 {
			r.add(Check{Name: name + ":cleanup", Status: Fail, Reason: ReasonCleanupFailed,
				Detail: strings.Join(problems, "; ") + " (the next run removes them)"})
			return
		}
		r.add(Check{Name: name + ":cleanup", Status: OK, Detail: "nothing left"})
	}()

	desired := segment.State{Parents: []segment.Parent{*p}}
	folder := segment.Folder{Parent: p.Name, Path: o.Folder, Description: "Made by reconciler doctor; removed when it ends."}
	step("creating folder %q", o.Folder)
	f, err := w.CreateFolder(ctx, p.Meta.ID, p.RootFolderID, &folder)
	if err != nil {
		r.add(withName(fromError(name+":create", err), "create folder: "))
		return
	}
	folderID = f.Meta.ID
	desired.Folders = append(desired.Folders, folder)

	seg := segment.Segment{Name: sandboxSegment, Description: "Round trip of reconciler doctor.", Parent: p.Name,
		Folder: o.Folder, Kind: segment.Batch, Rule: segment.Rule{Type: "And", Conditions: []segment.ConditionSet{}}}
	step("creating segment %q", seg.Name)
	s, err := w.CreateSegment(ctx, p.Meta.ID, folderID, &seg)
	if err != nil {
		r.add(withName(fromError(name+":create", err), "create segment: "))
		return
	}
	segmentID = s.Meta.ID
	desired.Segments = append(desired.Segments, seg)
	r.add(Check{Name: name + ":create", Status: OK, Detail: fmt.Sprintf("folder %s and segment %s created", folderID, segmentID)})

	step("observing and planning")
	if !planEmpty(ctx, w, p, desired, name+":plan", r) {
		return
	}

	seg.Description = "Round trip of reconciler doctor (updated)."
	step("updating segment %q", seg.Name)
	if _, err := w.UpdateSegment(ctx, segmentID, "", &seg); err != nil {
		r.add(withName(fromError(name+":update", err), "update segment: "))
		return
	}
	desired.Segments[0] = seg
	if !planEmpty(ctx, w, p, desired, name+":update", r) {
		return
	}

	step("deleting segment and folder")
	if err := w.DeleteSegment(ctx, segmentID); err != nil {
		r.add(withName(fromError(name+":delete", err), "delete segment: "))
		return
	}
	segmentID = ""
	if err := w.DeleteFolder(ctx, folderID); err != nil {
		r.add(withName(fromError(name+":delete", err), "delete folder: "))
		return
	}
	folderID = ""
	r.add(Check{Name: name + ":delete", Status: OK, Detail: "segment and folder deleted"})
}

// planEmpty observes p and plans desired against what Owner owns there; it
// adds a check and reports whether the plan is "No changes.".
func planEmpty(ctx context.Context, w Writer, p *segment.Parent, desired segment.State, name string, r *Report) bool {
	obs, err := w.Observe(ctx, []string{p.Name})
	if err != nil {
		r.add(withName(fromError(name, err), "observe: "))
		return false
	}
	observed := owned(obs, w.Owner())
	observed.Parents = obs.Parents
	if len(desired.Parents) == 1 && len(obs.Parents) == 1 {
		// The parent segment is not the sandbox's: plan it as observed.
		desired.Parents = obs.Parents
	}
	// The parent segment belongs to a source, not to the sandbox: the plan
	// accepts any owner, and observed holds only the sandbox's objects.
	pl := plan.Compute(desired, observed, plan.Options{})
	if pl.HasChanges() || pl.Errored || pl.Summary().Unresolved() > 0 {
		var refs []string
		for _, ch := range pl.Changes {
			if ch.Action != plan.NoOp {
				refs = append(refs, ch.Action.String()+" "+ch.Ref())
			}
		}
		r.add(Check{Name: name, Status: Fail, Reason: ReasonPlanNotEmpty,
			Detail: plan.SummaryLine(pl) + ": " + strings.Join(refs, ", ")})
		return false
	}
	r.add(Check{Name: name, Status: OK, Detail: "No changes."})
	return true
}

// owned keeps the folders and segments owned by owner.
func owned(st segment.State, owner string) segment.State {
	var out segment.State
	for _, f := range st.Folders {
		if f.Meta.Owned && f.Meta.OwnerSource == owner {
			out.Folders = append(out.Folders, f)
		}
	}
	for _, s := range st.Segments {
		if s.Meta.Owned && s.Meta.OwnerSource == owner {
			out.Segments = append(out.Segments, s)
		}
	}
	return out
}

// removeLeftovers deletes every segment, then every folder (deepest
// first), that Owner owns in parent p.
func removeLeftovers(ctx context.Context, w Writer, p *segment.Parent) (int, error) {
	obs, err := w.Observe(ctx, []string{p.Name})
	if err != nil {
		return 0, err
	}
	left := owned(obs, w.Owner())
	n := 0
	for _, s := range left.Segments {
		if err := w.DeleteSegment(ctx, s.Meta.ID); err != nil {
			return n, err
		}
		n++
	}
	sort.Slice(left.Folders, func(i, j int) bool {
		return strings.Count(left.Folders[i].Path, "/") > strings.Count(left.Folders[j].Path, "/")
	})
	for _, f := range left.Folders {
		if err := w.DeleteFolder(ctx, f.Meta.ID); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func withName(c Check, prefix string) Check {
	c.Detail = prefix + c.Detail
	return c
}
