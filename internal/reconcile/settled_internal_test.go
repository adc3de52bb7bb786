package reconcile

import (
	"context"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/cas-reconciler/reconciler/pkg/plan"
	"github.com/cas-reconciler/reconciler/pkg/segment"
	"github.com/cas-reconciler/reconciler/pkg/spec"
)

type stateLoader struct{ st segment.State }

func (l stateLoader) Load(context.Context, fs.FS) (*spec.Result, error) {
	return &spec.Result{State: l.st}, nil
}

// settledRemote observes a fixed state and records whether the
// reconciler still held the last run's observation when it was asked.
type settledRemote struct {
	Remote // nil: a run that writes would panic
	r      *Reconciler
	st     segment.State
	held   []bool
}

func (m *settledRemote) Observe(context.Context, []string) (segment.State, error) {
	m.r.mu.Lock()
	m.held = append(m.held, m.r.settled != nil)
	m.r.mu.Unlock()
	return m.st, nil
}

func (m *settledRemote) ObserveActivations(context.Context, *segment.State, func(*segment.Segment) bool) error {
	return nil
}

// TestObserveForgetsTheSettledObservation: a run that is not written first
// (a scheduled run) drops the last run's observation before it observes,
// so the daemon holds one observation at the observe's peak, not two; the
// run that wrote nothing keeps its own for the next.
func TestObserveForgetsTheSettledObservation(t *testing.T) {
	desired, observed := settledRepo()
	m := &settledRemote{st: observed}
	r := &Reconciler{Loader: stateLoader{desired}, Remote: m, Plan: plan.Options{Owner: "git"}}
	m.r = r
	for i, rev := range []string{"r1", "r2"} {
		res, err := r.Run(context.Background(), Snapshot{Revision: rev, FS: fstest.MapFS{}}, Mode{})
		if err != nil || res.Plan == nil || res.Plan.HasChanges() {
			t.Fatalf("run %d: err %v, plan %+v", i, err, res.Plan)
		}
		if r.settled == nil {
			t.Fatalf("run %d wrote nothing but kept no observation", i)
		}
	}
	if len(m.held) != 2 || m.held[1] {
		t.Errorf("observations held while observing: %v, want [false false]", m.held)
	}
}

func (m *settledRemote) ResolveConnection(context.Context, string) (string, error) { return "c1", nil }
