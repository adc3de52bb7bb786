package apply

import (
	"sync"

	"github.com/cas-reconciler/reconciler/pkg/plan"
)

// ids resolves names to Treasure ids: observed ones from the plan, plus
// those of objects created during the run.
type ids struct {
	mu          sync.Mutex
	parents     map[string]string
	roots       map[string]string
	folders     map[string]map[string]string
	segments    map[string]map[string]string
	connections map[string]string
}

func newIDs(p plan.IDs) *ids {
	cp := func(m map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	cp2 := func(m map[string]map[string]string) map[string]map[string]string {
		out := map[string]map[string]string{}
		for k, v := range m {
			out[k] = cp(v)
		}
		return out
	}
	return &ids{parents: cp(p.Parents), roots: cp(p.RootFolders), folders: cp2(p.Folders),
		segments: cp2(p.Segments), connections: cp(p.Connections)}
}

func (x *ids) parent(name string) (id, root string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.parents[name], x.roots[name]
}

func (x *ids) setParent(name, id, root string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.parents[name], x.roots[name] = id, root
}

// folder returns the id of a folder path; "" is the parent's root folder.
func (x *ids) folder(parent, path string) string {
	x.mu.Lock()
	defer x.mu.Unlock()
	if path == "" {
		return x.roots[parent]
	}
	return x.folders[parent][path]
}

func (x *ids) set(m map[string]map[string]string, parent, name, id string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if m[parent] == nil {
		m[parent] = map[string]string{}
	}
	if id == "" {
		delete(m[parent], name)
		return
	}
	m[parent][name] = id
}

func (x *ids) segment(parent, name string) string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.segments[parent][name]
}
