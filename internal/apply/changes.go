package apply

import (
	"context"
	"fmt"

	"github.com/cas-reconciler/reconciler/pkg/plan"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// apply executes one change and returns the object's id afterwards.
func (r *runner) apply(ctx context.Context, c *plan.Change) (string, error) {
	switch c.Kind {
	case plan.KindParent:
		return r.applyParent(ctx, c)
	case plan.KindFolder:
		return r.applyFolder(ctx, c)
	case plan.KindSegment:
		return r.applySegment(ctx, c)
	case plan.KindActivation:
		return r.applyActivation(ctx, c)
	}
	return "", fmt.Errorf("unknown kind %q", c.Kind)
}

func (r *runner) connection(ctx context.Context, name string) (string, error) {
	r.mu.Lock()
	id, ok := r.conn[name]
	r.mu.Unlock()
	if ok {
		return id, nil
	}
	id, err := r.t.ResolveConnection(ctx, name)
	if err != nil {
		return "", fmt.Errorf("resolve connection %q: %w", name, err)
	}
	r.mu.Lock()
	r.conn[name] = id
	r.mu.Unlock()
	return id, nil
}

func (r *runner) applyParent(ctx context.Context, c *plan.Change) (string, error) {
	if c.Action == plan.Delete {
		if err := r.t.DeleteParent(ctx, c.ID); err != nil {
			return "", err
		}
		r.ids.setParent(c.Key.Parent, "", "")
		return "", nil
	}
	want := *c.After.(*segment.Parent)
	id, err := r.connection(ctx, want.Connection)
	if err != nil {
		return "", err
	}
	want.ConnectionID = id
	want.Meta.Fingerprint = plan.Fingerprint(&want)
	var got *segment.Parent
	if c.Action == plan.Create {
		got, err = r.t.CreateParent(ctx, &want)
	} else {
		got, err = r.t.UpdateParent(ctx, c.ID, &want)
	}
	if err != nil {
		return "", err
	}
	r.ids.setParent(want.Name, got.Meta.ID, got.RootFolderID)
	return got.Meta.ID, nil
}

func (r *runner) applyFolder(ctx context.Context, c *plan.Change) (string, error) {
	if c.Action == plan.Delete {
		if err := r.t.DeleteFolder(ctx, c.ID); err != nil {
			return "", err
		}
		r.ids.set(r.ids.folders, c.Key.Parent, c.Key.Name, "")
		return "", nil
	}
	want := *c.After.(*segment.Folder)
	parentID, _ := r.ids.parent(want.Parent)
	container := r.ids.folder(want.Parent, want.ParentPath())
	if parentID == "" || container == "" {
		return "", fmt.Errorf("folder %q: the parent segment or containing folder has no id", want.Path)
	}
	want.ParentFolderID = container
	want.Meta.Fingerprint = plan.Fingerprint(&want)
	var got *segment.Folder
	var err error
	if c.Action == plan.Create {
		got, err = r.t.CreateFolder(ctx, parentID, container, &want)
	} else {
		got, err = r.t.UpdateFolder(ctx, c.ID, &want)
	}
	if err != nil {
		return "", err
	}
	r.ids.set(r.ids.folders, want.Parent, want.Path, got.Meta.ID)
	return got.Meta.ID, nil
}

func (r *runner) applySegment(ctx context.Context, c *plan.Change) (string, error) {
	if c.Action == plan.Delete {
		if err := r.t.DeleteSegment(ctx, c.ID); err != nil {
			return "", err
		}
		r.ids.set(r.ids.segments, c.Key.Parent, c.Key.Name, "")
		return "", nil
	}
	want := *c.After.(*segment.Segment)
	parentID, _ := r.ids.parent(want.Parent)
	folderID := r.ids.folder(want.Parent, want.Folder)
	if parentID == "" || folderID == "" {
		return "", fmt.Errorf("segment %q: the parent segment or folder %q has no id", want.Name, want.Folder)
	}
	rule, err := r.resolveReferences(want.Parent, want.Rule)
	if err != nil {
		return "", err
	}
	want.Rule = rule
	want.Meta.Fingerprint = plan.Fingerprint(&want)
	var got *segment.Segment
	if c.Action == plan.Create {
		got, err = r.t.CreateSegment(ctx, parentID, folderID, &want)
	} else {
		got, err = r.t.UpdateSegment(ctx, c.ID, folderID, &want)
	}
	if err != nil {
		return "", err
	}
	r.ids.set(r.ids.segments, want.Parent, want.Name, got.Meta.ID)
	return got.Meta.ID, nil
}

// resolveReferences returns a copy of rule whose Reference conditions carry
// the ids of the segments they name. The input is not modified: its
// condition slices may be shared with a loader cache.
func (r *runner) resolveReferences(parent string, rule segment.Rule) (segment.Rule, error) {
	sets := make([]segment.ConditionSet, len(rule.Conditions))
	for i, cs := range rule.Conditions {
		conds := make([]segment.Condition, len(cs.Conditions))
		copy(conds, cs.Conditions)
		for j := range conds {
			cd := &conds[j]
			if cd.Type != segment.ReferenceCondition || cd.Segment == "" {
				continue
			}
			id := r.ids.segment(parent, cd.Segment)
			if id == "" {
				return rule, fmt.Errorf("referenced segment %q has no id", cd.Segment)
			}
			cd.ID = id
		}
		cs.Conditions = conds
		sets[i] = cs
	}
	rule.Conditions = sets
	return rule, nil
}

// applyActivation writes an activation of a segment that has an id by now
// (its segment's change is applied first): the connection is resolved to
// its id and the fingerprint recorded.
func (r *runner) applyActivation(ctx context.Context, c *plan.Change) (string, error) {
	if c.Action == plan.Delete {
		before, _ := c.Activations()
		segID := before.SegmentID
		if segID == "" {
			segID = r.ids.segment(before.Parent, before.Segment)
		}
		return "", r.t.DeleteActivation(ctx, segID, c.ID)
	}
	want := *c.After.(*segment.Activation)
	segID := r.ids.segment(want.Parent, want.Segment)
	if segID == "" {
		return "", fmt.Errorf("activation %q: segment %q has no id", want.Name, want.Segment)
	}
	id, err := r.connection(ctx, want.Connection)
	if err != nil {
		return "", err
	}
	want.ConnectionID = id
	want.Meta.Fingerprint = plan.Fingerprint(&want)
	var got *segment.Activation
	if c.Action == plan.Create {
		got, err = r.t.CreateActivation(ctx, segID, &want)
	} else {
		got, err = r.t.UpdateActivation(ctx, segID, c.ID, &want)
	}
	if err != nil {
		return "", err
	}
	return got.Meta.ID, nil
}
