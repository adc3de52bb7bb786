package apply_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cas-reconciler/reconciler/internal/apply"
	"github.com/cas-reconciler/reconciler/pkg/plan"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// memTarget is an in-memory Target for unit tests of the runner itself
// (ordering, name resolution, failure handling, cancellation). The
// end-to-end tests run against the Treasure stand-in.
type memTarget struct {
	mu     sync.Mutex
	next   int
	calls  []string
	conns  int
	fail   map[string]error // by object name
	block  func(ctx context.Context, name string) error
	seen   map[string]*segment.Segment
	folder map[string]string // folder id → name
}

func newMem() *memTarget {
	return &memTarget{fail: map[string]error{}, seen: map[string]*segment.Segment{}, folder: map[string]string{}}
}

func (m *memTarget) id() string { m.next++; return fmt.Sprint(100 + m.next) }

func (m *memTarget) record(call, name string) error {
	m.mu.Lock()
	m.calls = append(m.calls, call+" "+name)
	err := m.fail[name]
	m.mu.Unlock()
	return err
}

func (m *memTarget) ResolveConnection(ctx context.Context, name string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.conns++
	return "77", nil
}

func (m *memTarget) CreateParent(ctx context.Context, p *segment.Parent) (*segment.Parent, error) {
	if err := m.record("create-parent", p.Name); err != nil {
		return nil, err
	}
	if p.ConnectionID != "77" {
		return nil, fmt.Errorf("connection id %q", p.ConnectionID)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := *p
	out.Meta.ID, out.RootFolderID = m.id(), m.id()
	return &out, nil
}

func (m *memTarget) UpdateParent(ctx context.Context, id string, p *segment.Parent) (*segment.Parent, error) {
	if err := m.record("update-parent", p.Name); err != nil {
		return nil, err
	}
	out := *p
	out.Meta.ID = id
	return &out, nil
}

func (m *memTarget) DeleteParent(ctx context.Context, id string) error {
	return m.record("delete-parent", id)
}

func (m *memTarget) CreateFolder(ctx context.Context, parentID, parentFolderID string, f *segment.Folder) (*segment.Folder, error) {
	if err := m.record("create-folder", f.Path); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := *f
	out.Meta.ID = m.id()
	m.folder[out.Meta.ID] = f.Path
	return &out, nil
}

func (m *memTarget) UpdateFolder(ctx context.Context, id string, f *segment.Folder) (*segment.Folder, error) {
	if err := m.record("update-folder", f.Path); err != nil {
		return nil, err
	}
	out := *f
	out.Meta.ID = id
	return &out, nil
}

func (m *memTarget) DeleteFolder(ctx context.Context, id string) error {
	return m.record("delete-folder", id)
}

func (m *memTarget) CreateSegment(ctx context.Context, parentID, folderID string, s *segment.Segment) (*segment.Segment, error) {
	if m.block != nil {
		if err := m.block(ctx, s.Name); err != nil {
			return nil, err
		}
	}
	if err := m.record("create-segment", s.Name); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := *s
	out.Meta.ID = m.id()
	out.FolderID = folderID
	m.seen[s.Name] = &out
	return &out, nil
}

func (m *memTarget) UpdateSegment(ctx context.Context, id, folderID string, s *segment.Segment) (*segment.Segment, error) {
	if err := m.record("update-segment", s.Name); err != nil {
		return nil, err
	}
	out := *s
	out.Meta.ID = id
	return &out, nil
}

func (m *memTarget) DeleteSegment(ctx context.Context, id string) error {
	return m.record("delete-segment", id)
}

func (m *memTarget) CreateActivation(ctx context.Context, segmentID string, a *segment.Activation) (*segment.Activation, error) {
	if err := m.record("create-activation", a.Name); err != nil {
		return nil, err
	}
	out := *a
	out.Meta.ID = "a-" + a.Name
	return &out, nil
}

func (m *memTarget) UpdateActivation(ctx context.Context, segmentID, id string, a *segment.Activation) (*segment.Activation, error) {
	if err := m.record("update-activation", a.Name); err != nil {
		return nil, err
	}
	out := *a
	out.Meta.ID = id
	return &out, nil
}

func (m *memTarget) DeleteActivation(ctx context.Context, segmentID, id string) error {
	return m.record("delete-activation", id)
}

func unitParent() segment.Parent {
	return segment.Parent{Name: "Retail", Timezone: "UTC", Connection: connName,
		Customers: segment.KeyedTable{Table: segment.Table{Catalog: "c", Schema: "s", Table: "customers"}, Key: "id"}}
}

func unitSeg(name, folder string, refs ...string) segment.Segment {
	v := segment.NumberOf(1)
	conds := []segment.Condition{{Type: "Value", LeftValue: &segment.LeftValue{Name: "ltv"},
		Operator: &segment.Operator{Type: segment.GreaterEqual, RightValue: &v}}}
	for _, r := range refs {
		conds = append(conds, segment.Condition{Type: "Reference", Segment: r})
	}
	return segment.Segment{Name: name, Parent: "Retail", Folder: folder, Kind: segment.Batch,
		Rule: segment.Rule{Type: "And", Conditions: []segment.ConditionSet{{Type: "And", Conditions: conds}}}}
}

func ownedMeta(id string) segment.Meta { return segment.Meta{ID: id, Owned: true, OwnerSource: owner} }

func outcomes(rep *apply.Report) map[string]apply.Outcome {
	m := map[string]apply.Outcome{}
	for _, r := range rep.Results {
		m[r.Change.Ref()] = r.Outcome
	}
	return m
}

func TestRunResolvesNewIDsInOrder(t *testing.T) {
	m := newMem()
	desired := segment.State{Parents: []segment.Parent{unitParent()},
		Folders:  []segment.Folder{{Parent: "Retail", Path: "A"}, {Parent: "Retail", Path: "A/B"}},
		Segments: []segment.Segment{unitSeg("Top", "A/B", "Base"), unitSeg("Base", "A")}}
	p := plan.Compute(desired, segment.State{}, opts())
	rep, err := apply.Run(context.Background(), m, p, apply.Options{Concurrency: 3})
	if err != nil || rep.Failed() {
		t.Fatalf("err %v, report %v", err, rep.Err())
	}
	want := []string{"create-parent Retail", "create-folder A", "create-folder A/B", "create-segment Base", "create-segment Top"}
	if fmt.Sprint(m.calls) != fmt.Sprint(want) {
		t.Errorf("calls %v, want %v", m.calls, want)
	}
	if m.conns != 1 {
		t.Errorf("connection resolved %d times", m.conns)
	}
	top, base := m.seen["Top"], m.seen["Base"]
	if m.folder[top.FolderID] != "A/B" || m.folder[base.FolderID] != "A" {
		t.Errorf("folders: Top in %q, Base in %q", m.folder[top.FolderID], m.folder[base.FolderID])
	}
	ref := top.Rule.Conditions[0].Conditions[1]
	if ref.ID != base.Meta.ID || ref.ID == "" {
		t.Errorf("reference id %q, Base has id %q", ref.ID, base.Meta.ID)
	}
	if desired.Segments[0].Rule.Conditions[0].Conditions[1].ID != "" {
		t.Error("apply wrote the id into the desired state")
	}
}

func TestFailureSkipsDependantsOnly(t *testing.T) {
	m := newMem()
	m.fail["A"] = errors.New("boom")
	op := unitParent()
	op.Meta, op.RootFolderID = ownedMeta("1"), "2"
	desired := segment.State{Parents: []segment.Parent{unitParent()}, Folders: []segment.Folder{{Parent: "Retail", Path: "A"}},
		Segments: []segment.Segment{unitSeg("InA", "A"), unitSeg("Root", ""), unitSeg("RefInA", "", "InA")}}
	old := unitSeg("Old", "")
	old.Meta = ownedMeta("9")
	p := plan.Compute(desired, segment.State{Parents: []segment.Parent{op}, Segments: []segment.Segment{old}}, opts())
	rep, err := apply.Run(context.Background(), m, p, apply.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := outcomes(rep)
	want := map[string]apply.Outcome{
		"folder:Retail/A":       apply.Failed,
		"segment:Retail/InA":    apply.Skipped,
		"segment:Retail/RefInA": apply.Skipped,
		"segment:Retail/Root":   apply.Succeeded,
		"segment:Retail/Old":    apply.Skipped,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("outcomes %v, want %v", got, want)
	}
	for _, r := range rep.Results {
		switch r.Change.Ref() {
		case "segment:Retail/InA", "segment:Retail/RefInA":
			if !errors.Is(r.Err, apply.ErrDependency) {
				t.Errorf("%s: %v", r.Change.Ref(), r.Err)
			}
		case "segment:Retail/Old":
			if !errors.Is(r.Err, apply.ErrDeletesSkipped) {
				t.Errorf("delete: %v", r.Err)
			}
		}
	}
	if err := rep.Err(); err == nil || !errors.Is(err, m.fail["A"]) {
		t.Errorf("report error %v", err)
	}
}

func TestErroredPlanWritesNothing(t *testing.T) {
	m := newMem()
	p := plan.Compute(segment.State{Parents: []segment.Parent{unitParent()}, Segments: []segment.Segment{unitSeg("A", "", "Ghost")}},
		segment.State{}, opts())
	if !p.Errored {
		t.Fatal("plan is not errored")
	}
	_, err := apply.Run(context.Background(), m, p, apply.Options{})
	if !errors.Is(err, apply.ErrNotApplyable) {
		t.Errorf("err = %v", err)
	}
	if len(m.calls) != 0 {
		t.Errorf("calls %v", m.calls)
	}
}

// cancelPlan is three independent segment creates under an existing parent.
func cancelPlan() *plan.Plan {
	op := unitParent()
	op.Meta, op.RootFolderID = ownedMeta("1"), "2"
	return plan.Compute(segment.State{Parents: []segment.Parent{unitParent()},
		Segments: []segment.Segment{unitSeg("S1", ""), unitSeg("S2", ""), unitSeg("S3", "")}},
		segment.State{Parents: []segment.Parent{op}}, opts())
}

func TestCancelLetsTheChangeInFlightFinish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMem()
		entered, release := make(chan struct{}), make(chan struct{})
		var inFlightCtx context.Context
		m.block = func(ctx context.Context, name string) error {
			if name == "S1" {
				inFlightCtx = ctx
				close(entered)
				<-release
			}
			return nil
		}
		ctx, cancel := context.WithCancel(context.Background())
		var rep *apply.Report
		var err error
		done := make(chan struct{})
		go func() {
			rep, err = apply.Run(ctx, m, cancelPlan(), apply.Options{Concurrency: 1})
			close(done)
		}()
		<-entered
		cancel()
		synctest.Wait()
		if inFlightCtx.Err() != nil {
			t.Error("the change in flight was canceled at once")
		}
		close(release)
		<-done
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v", err)
		}
		got := outcomes(rep)
		want := map[string]apply.Outcome{"segment:Retail/S1": apply.Succeeded, "segment:Retail/S2": apply.Skipped, "segment:Retail/S3": apply.Skipped}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("outcomes %v", got)
		}
	})
}

func TestCancelGivesUpAfterGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMem()
		entered := make(chan struct{})
		m.block = func(ctx context.Context, name string) error {
			if name == "S1" {
				close(entered)
				<-ctx.Done() // a change that never finishes by itself
				return ctx.Err()
			}
			return nil
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		var rep *apply.Report
		start := time.Now()
		go func() {
			rep, _ = apply.Run(ctx, m, cancelPlan(), apply.Options{Concurrency: 1, Grace: 5 * time.Second})
			close(done)
		}()
		<-entered
		cancel()
		<-done
		if waited := time.Since(start); waited != 5*time.Second {
			t.Errorf("gave up after %v, want the 5s grace", waited)
		}
		if got := outcomes(rep); got["segment:Retail/S1"] != apply.Failed || got["segment:Retail/S2"] != apply.Skipped {
			t.Errorf("outcomes %v", got)
		}
	})
}
