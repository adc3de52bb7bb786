package treasure

import (
	"slices"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// cachedParent returns a copy of the parent segment id as last read with
// GET /audiences/{id}, when the listing's updatedAt is the one it was read
// under.
func (c *Client) cachedParent(id, updatedAt string) (*segment.Parent, bool) {
	if c.o.DisableParentCache || updatedAt == "" {
		return nil, false
	}
	c.mu.Lock()
	e, ok := c.parents[id]
	c.mu.Unlock()
	if !ok || e.updatedAt != updatedAt {
		return nil, false
	}
	p := cloneParent(&e.p)
	return &p, true
}

// rememberParent caches a copy of p, read while the listing said
// updatedAt.
func (c *Client) rememberParent(p *segment.Parent, updatedAt string) {
	if c.o.DisableParentCache || updatedAt == "" {
		return
	}
	cp := cloneParent(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.parents[p.Meta.ID] = cachedParent{updatedAt: updatedAt, p: cp}
}

// forgetParent drops the cached copy of parent segment id (after a write).
func (c *Client) forgetParent(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.parents, id)
}

func cloneParent(p *segment.Parent) segment.Parent {
	out := *p
	out.Attributes = slices.Clone(p.Attributes)
	for i := range out.Attributes {
		if j := out.Attributes[i].Join; j != nil {
			cp := *j
			out.Attributes[i].Join = &cp
		}
	}
	out.Behaviors = slices.Clone(p.Behaviors)
	for i := range out.Behaviors {
		out.Behaviors[i].Columns = slices.Clone(out.Behaviors[i].Columns)
	}
	out.Meta.Unknown = slices.Clone(p.Meta.Unknown)
	return out
}
