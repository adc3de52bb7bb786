package treasure

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"sync"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// Observe reads everything in Treasure Data under the named parent
// segments and under every parent segment whose ownership marker names
// this client's owner (so that one removed from the repository is still
// seen, whatever the caller remembers): the parents, their folders (Path
// computed from the tree) and their segments (Folder path, FolderID, Rule
// from the detail endpoint, Reference conditions with both ID and Segment
// name when the target is in the same parent). Names that do not exist are
// skipped. A marker that names no source (written by older versions) does
// not make a parent segment this owner's: it is observed only when named.
// The result is sorted: parents by name, folders by parent and path,
// segments by parent, folder and name.
//
// Cost: one GET /audiences, then per parent one GET /audiences/{id} (only
// when the listing's updatedAt differs from the one of the last read, see
// Options.ParentCache) and one by-folder listing (more only for trees deeper than Options.ByFolderDepth),
// plus one detail GET per segment whose updatedAt changed since this client
// last saw it. With Options.RuleCacheFile that memory survives a restart:
// the cache is loaded when New returns (in the background; Observe waits
// for it) and saved after an Observe that changed it.
//
// Segment rules come from the client's cache: their condition sets and
// conditions are the caller's to change, but what conditions point to
// (LeftValue, Operator, ArrayMatching, Limit) and Extra maps are shared with
// the cache and must be replaced, not changed in place (the contract of
// segment.Rule.CopyConditions, as for spec.Load).
func (c *Client) Observe(ctx context.Context, parentNames []string) (segment.State, error) {
	var st segment.State
	select {
	case <-c.rulesLoaded:
	case <-ctx.Done():
		// The listing below fails with the cancellation.
	}
	list, err := c.listParents(ctx)
	if err != nil {
		return st, err
	}
	want := map[string]bool{}
	for _, n := range parentNames {
		want[n] = true
	}
	for _, a := range list {
		if !want[a.Name] && !c.ownsSummary(&a) {
			continue
		}
		delete(want, a.Name)
		p, ok := c.cachedParent(string(a.ID), a.UpdatedAt)
		if !ok {
			if p, err = c.GetParent(ctx, string(a.ID)); err != nil {
				return segment.State{}, err
			}
			c.rememberParent(p, a.UpdatedAt)
		}
		folders, segs, err := c.observeTree(ctx, p)
		if err != nil {
			return segment.State{}, err
		}
		st.Parents = append(st.Parents, *p)
		st.Folders = append(st.Folders, folders...)
		st.Segments = append(st.Segments, segs...)
	}
	c.saveRuleCache()
	slices.SortFunc(st.Parents, func(a, b segment.Parent) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(st.Folders, func(a, b segment.Folder) int {
		return cmp.Or(cmp.Compare(a.Parent, b.Parent), cmp.Compare(a.Path, b.Path))
	})
	slices.SortFunc(st.Segments, func(a, b segment.Segment) int {
		return cmp.Or(cmp.Compare(a.Parent, b.Parent), cmp.Compare(a.Folder, b.Folder), cmp.Compare(a.Name, b.Name))
	})
	return st, nil
}

// ownsSummary reports whether a listed parent segment carries this
// client's ownership marker with its source.
func (c *Client) ownsSummary(a *audienceWire) bool {
	if a.Description == nil {
		return false
	}
	_, mk := splitMarker(*a.Description)
	return mk.owned && mk.owner == c.o.Owner
}

type treeNode struct {
	name, parent string
	folder       segment.Folder
}

// observeTree lists the folder tree of p and reads the segments in it.
func (c *Client) observeTree(ctx context.Context, p *segment.Parent) ([]segment.Folder, []segment.Segment, error) {
	root := p.RootFolderID
	if root == "" {
		return nil, nil, &APIError{Reason: ReasonServer, Method: http.MethodGet, Endpoint: "audiences",
			Message: "parent segment " + p.Name + " has no root folder id"}
	}
	t := &folderTree{root: root, nodes: map[string]*treeNode{}, segs: map[string]listedSegment{},
		paths: map[string]string{root: ""}}
	if err := c.listTree(ctx, t); err != nil {
		return nil, nil, err
	}
	var folders []segment.Folder
	for id, n := range t.nodes {
		path, ok := t.pathOf(id, 0)
		if !ok {
			continue
		}
		f := n.folder
		f.Parent, f.Path = p.Name, path
		folders = append(folders, f)
	}
	segs, err := c.readSegments(ctx, p, t)
	if err != nil {
		return nil, nil, err
	}
	return folders, segs, nil
}

// folderTree is the folder tree of one parent segment as listed: its
// folders by id, the segments found in them, and the folder paths worked
// out so far.
type folderTree struct {
	root  string
	nodes map[string]*treeNode
	segs  map[string]listedSegment
	paths map[string]string
}

// listedSegment is a segment of a listing with the users the listing
// included.
type listedSegment struct {
	res   resource
	users map[string]string
}

// listTree lists the folder tree from its root folder. Folders at a
// listing's full depth may have children the listing did not reach: they
// are listed again from there.
func (c *Client) listTree(ctx context.Context, t *folderTree) error {
	queue := []string{t.root}
	listed := map[string]bool{}
	for len(queue) > 0 {
		top := queue[0]
		queue = queue[1:]
		if listed[top] {
			continue
		}
		listed[top] = true
		deeper, err := c.listSubtree(ctx, t, top)
		if err != nil {
			return err
		}
		queue = append(queue, deeper...)
	}
	return nil
}

// listSubtree lists the folders and segments below folder top into t and
// returns the folders at the full depth of the listing.
func (c *Client) listSubtree(ctx context.Context, t *folderTree, top string) ([]string, error) {
	doc, err := c.listFolder(ctx, top, c.o.ByFolderDepth)
	if err != nil {
		return nil, err
	}
	us := users(doc.Included)
	var local []*resource
	for i := range doc.Data {
		r := &doc.Data[i]
		switch {
		case c.isFolder(r):
			if string(r.ID) == t.root {
				continue
			}
			f, a := toFolder(r, us)
			t.nodes[string(r.ID)] = &treeNode{name: a.Name, parent: r.parentFolder(), folder: f}
			local = append(local, r)
		case r.Type == c.o.SegmentType:
			t.segs[string(r.ID)] = listedSegment{res: *r, users: us}
		}
	}
	depth := map[string]int{top: 0}
	var level func(id string) int
	level = func(id string) int {
		if d, ok := depth[id]; ok {
			return d
		}
		n, ok := t.nodes[id]
		if !ok {
			return -1 << 20
		}
		depth[id] = -1 << 20 // cycle guard
		d := level(n.parent) + 1
		depth[id] = d
		return d
	}
	var deeper []string
	for _, r := range local {
		if level(string(r.ID)) >= c.o.ByFolderDepth {
			deeper = append(deeper, string(r.ID))
		}
	}
	return deeper, nil
}

// pathOf returns the path of folder id below the root folder, and false
// when it does not reach the root (an orphan, or a cycle).
func (t *folderTree) pathOf(id string, hops int) (string, bool) {
	if p, ok := t.paths[id]; ok {
		return p, true
	}
	n, ok := t.nodes[id]
	if !ok || hops > len(t.nodes) {
		return "", false
	}
	pp, ok := t.pathOf(n.parent, hops+1)
	if !ok {
		return "", false
	}
	full := n.name
	if pp != "" {
		full = pp + "/" + n.name
	}
	t.paths[id] = full
	return full, true
}

// readSegments returns the segments of the tree that are in a folder of it,
// with their rules: from the cache when updatedAt is unchanged, from the
// detail endpoint otherwise; references are resolved to names.
func (c *Client) readSegments(ctx context.Context, p *segment.Parent, t *folderTree) ([]segment.Segment, error) {
	out := make([]segment.Segment, 0, len(t.segs))
	var fetch []int
	for _, sr := range t.segs {
		r := sr.res
		s, a := toSegment(&r, sr.users)
		path, ok := t.pathOf(s.FolderID, 0)
		if !ok {
			continue
		}
		s.Parent, s.Folder = p.Name, path
		rule, hit := c.cached(s.Meta.ID, a.UpdatedAt)
		s.Rule = rule
		out = append(out, s)
		if !hit {
			fetch = append(fetch, len(out)-1)
		}
	}
	if err := c.fetchDetails(ctx, out, fetch); err != nil {
		return nil, err
	}
	names := map[string]string{}
	for i := range out {
		names[out[i].Meta.ID] = out[i].Name
	}
	for i := range out {
		resolveNames(&out[i].Rule, names)
	}
	return out, nil
}

// fetchDetails reads the detail of out[i] for every i in idx, in parallel
// (bounded by MaxConcurrent), setting out[i]'s rule and refreshing its Meta
// and description from the detail.
func (c *Client) fetchDetails(ctx context.Context, out []segment.Segment, idx []int) error {
	if len(idx) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	work := make(chan int)
	for w := 0; w < min(c.o.MaxConcurrent, len(idx)); w++ {
		wg.Go(func() {
			for i := range work {
				got, err := c.GetSegment(ctx, out[i].Meta.ID)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
						cancel()
					}
					mu.Unlock()
					continue
				}
				out[i].Rule = got.Rule
				out[i].Name, out[i].Description, out[i].Meta = got.Name, got.Description, got.Meta
			}
		})
	}
	for _, i := range idx {
		if ctx.Err() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	return first
}

// resolveNames fills Condition.Segment of Reference conditions from ids.
func resolveNames(r *segment.Rule, names map[string]string) {
	for i := range r.Conditions {
		for j := range r.Conditions[i].Conditions {
			cd := &r.Conditions[i].Conditions[j]
			if cd.Type == segment.ReferenceCondition && cd.ID != "" {
				cd.Segment = names[cd.ID]
			}
		}
	}
}
