package apply_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/apply"
	"github.com/cas-reconciler/reconciler/internal/standin/tdstandin"
	"github.com/cas-reconciler/reconciler/pkg/plan"
	"github.com/cas-reconciler/reconciler/pkg/segment"
	"github.com/cas-reconciler/reconciler/pkg/spec"
	"github.com/cas-reconciler/reconciler/pkg/treasure"
)

var _ apply.Target = (*treasure.Client)(nil)

const (
	apiKey   = "1/0123456789abcdef0123456789abcdef"
	connName = "databricks-retail"
	owner    = "retail-repo"
)

type env struct {
	srv *tdstandin.Server
	c   *treasure.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv, err := tdstandin.New(tdstandin.Options{MasterKeys: []string{apiKey}, Connections: map[string]string{connName: "341079", "s3-retail-exports": "341090"}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c, err := treasure.New(treasure.Options{APIKey: apiKey, Owner: owner, CDPURL: srv.URL(), CASURL: srv.URL(),
		ClassicURL: srv.URL(), RateLimit: -1, Timeout: 5 * time.Second, MaxRetries: 2,
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, c: c}
}

func opts() plan.Options {
	return plan.Options{Owner: owner, Prune: plan.PruneOptions{Enabled: true, AllowEmpty: true}}
}

func parentNames(st segment.State) []string {
	var n []string
	for _, p := range st.Parents {
		n = append(n, p.Name)
	}
	return n
}

// reconcile observes, plans and applies once.
func (e *env) reconcile(t *testing.T, desired segment.State) (*plan.Plan, *apply.Report) {
	t.Helper()
	ctx := context.Background()
	observed, err := e.c.Observe(ctx, parentNames(desired))
	if err == nil {
		err = e.c.ObserveActivations(ctx, &observed, desired.ActivationsWanted())
	}
	if err != nil {
		t.Fatalf("observe: %v", err)
	}
	p := plan.Compute(desired, observed, opts())
	rep, err := apply.Run(ctx, e.c, p, apply.Options{})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return p, rep
}

// assertConverged checks that a fresh plan has no changes.
func (e *env) assertConverged(t *testing.T, desired segment.State) {
	t.Helper()
	observed, err := e.c.Observe(context.Background(), parentNames(desired))
	if err == nil {
		err = e.c.ObserveActivations(context.Background(), &observed, desired.ActivationsWanted())
	}
	if err != nil {
		t.Fatalf("observe: %v", err)
	}
	p := plan.Compute(desired, observed, opts())
	if p.HasChanges() {
		var b strings.Builder
		_ = plan.WriteText(&b, p, plan.TextOptions{})
		t.Fatalf("not converged:\n%s", b.String())
	}
}

func retail(t *testing.T) segment.State {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "examples", "retail")
	res, err := spec.Load(context.Background(), os.DirFS(dir), spec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Diagnostics.HasErrors() {
		t.Fatalf("retail example invalid: %v", res.Diagnostics)
	}
	return res.State
}

func TestApplyRetailExampleConverges(t *testing.T) {
	e := newEnv(t)
	desired := retail(t)
	p, rep := e.reconcile(t, desired)
	if rep.Failed() {
		t.Fatalf("apply failed: %v", rep.Err())
	}
	if got, want := rep.Counts()[apply.Succeeded], p.Summary().Add; got != want || want < 20 {
		t.Errorf("succeeded %d changes, plan had %d creates", got, want)
	}
	e.assertConverged(t, desired)
	if n := len(e.srv.Segments()); n != len(desired.Segments) {
		t.Errorf("stand-in holds %d segments, repository declares %d", n, len(desired.Segments))
	}
	// Drop one segment from the repository: the next run deletes exactly it.
	smaller := desired
	smaller.Segments = desired.Segments[1:]
	dropped := desired.Segments[0].Name
	p2, rep2 := e.reconcile(t, smaller)
	if s := p2.Summary(); s.Destroy != 1 {
		t.Errorf("plan after dropping %q: %+v", dropped, s)
	}
	if rep2.Failed() {
		// A segment other segments reference cannot be deleted (409): that is
		// reported, not hidden.
		t.Logf("delete reported: %v", rep2.Err())
	}
	e.assertConverged(t, smaller)
}

// randomState builds a parent with random folders and segments, some of
// which reference others (never in a cycle: only earlier segments).
func randomState(r *rand.Rand, base segment.Parent) segment.State {
	st := segment.State{Parents: []segment.Parent{base}}
	folders := []string{""}
	for i := range r.IntN(4) {
		top := fmt.Sprintf("F%d", i)
		folders = append(folders, top)
		st.Folders = append(st.Folders, segment.Folder{Parent: base.Name, Path: top, Description: fmt.Sprintf("folder %d", r.IntN(3))})
		if r.IntN(2) == 0 {
			sub := top + "/Sub"
			folders = append(folders, sub)
			st.Folders = append(st.Folders, segment.Folder{Parent: base.Name, Path: sub})
		}
	}
	n := 1 + r.IntN(8)
	for i := range n {
		v := segment.NumberOf(float64(r.IntN(5) * 100))
		conds := []segment.Condition{{Type: "Value", LeftValue: &segment.LeftValue{Name: "ltv"},
			Operator: &segment.Operator{Type: segment.GreaterEqual, RightValue: &v}}}
		if i > 0 && r.IntN(3) == 0 {
			conds = append(conds, segment.Condition{Type: "Reference", Segment: fmt.Sprintf("S%d", r.IntN(i)), Exclude: r.IntN(2) == 0})
		}
		st.Segments = append(st.Segments, segment.Segment{Name: fmt.Sprintf("S%d", i), Parent: base.Name,
			Folder: folders[r.IntN(len(folders))], Kind: segment.Batch, Description: fmt.Sprintf("d%d", r.IntN(3)),
			Rule: segment.Rule{Type: "And", Conditions: []segment.ConditionSet{{Type: "And", Conditions: conds}}}})
	}
	return st
}

func TestRandomizedConvergence(t *testing.T) {
	base := retail(t).Parents[0]
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 7))
	rounds := 6
	if testing.Short() {
		rounds = 2
	}
	for round := range rounds {
		e := newEnv(t)
		first := randomState(r, base)
		if _, rep := e.reconcile(t, first); rep.Failed() {
			t.Fatalf("round %d: first apply: %v", round, rep.Err())
		}
		e.assertConverged(t, first)
		second := randomState(r, base)
		handMade := e.handEdits(t, r, &second)
		_, rep := e.reconcile(t, second)
		if rep.Failed() {
			// A referenced segment may have to go before its referrer is
			// rewritten; the next run finishes the job.
			_, rep = e.reconcile(t, second)
			if rep.Failed() {
				t.Fatalf("round %d: second apply did not recover: %v", round, rep.Err())
			}
		}
		e.assertConverged(t, second)
		// Hand-made objects the repository does not adopt are never
		// touched.
		for _, sg := range e.srv.Segments() {
			if want, ok := handMade[sg.Name]; ok && want != "" && sg.Description != want {
				t.Errorf("round %d: hand-made segment %q was changed: %q", round, sg.Name, sg.Description)
			}
			delete(handMade, sg.Name)
		}
		for name, want := range handMade {
			if want != "" {
				t.Errorf("round %d: hand-made segment %q was deleted", round, name)
			}
		}
	}
}

// handEdits changes Treasure by hand between two applies: some owned
// segments are edited by another user (drift, reverted by the next apply),
// and unowned segments appear, some of which the next desired state
// declares, with lifecycle.adopt or without (a conflict, left alone). It
// returns the hand-made segments by name, with the description each must
// still have ("" for adopted ones).
func (e *env) handEdits(t *testing.T, r *rand.Rand, next *segment.State) map[string]string {
	t.Helper()
	for _, sg := range e.srv.Segments() {
		if r.IntN(3) == 0 {
			if err := e.srv.ModifySegment(sg.ID, "alice", func(s *tdstandin.Segment) { s.Description = "by hand " + s.Description }); err != nil {
				t.Fatal(err)
			}
		}
	}
	var root string
	for _, f := range e.srv.Folders() {
		if f.ParentFolderID == "" {
			root = f.ID
		}
	}
	rule, err := json.Marshal(next.Segments[0].Rule)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for i := range r.IntN(3) {
		name, desc := fmt.Sprintf("Hand%d", i), fmt.Sprintf("made by hand %d", i)
		if _, err := e.srv.AddSegment(root, name, desc, rule, "alice"); err != nil {
			t.Fatal(err)
		}
		out[name] = desc
		switch r.IntN(3) {
		case 0: // declared with adopt: taken over
			next.Segments = append(next.Segments, segment.Segment{Name: name, Parent: next.Parents[0].Name, Kind: segment.Batch,
				Rule: next.Segments[0].Rule, Lifecycle: segment.Lifecycle{Adopt: true}})
			out[name] = ""
		case 1: // declared without adopt: a conflict
			next.Segments = append(next.Segments, segment.Segment{Name: name, Parent: next.Parents[0].Name, Kind: segment.Batch,
				Rule: next.Segments[0].Rule, Description: "wanted"})
		}
	}
	return out
}

func TestFaultHalfwayThenConverges(t *testing.T) {
	e := newEnv(t)
	desired := retail(t)
	// The first segment create is handled but its answer is lost (the client
	// finds it by name), the next ones answer 500 (a POST is not repeated
	// blindly) and then 400: apply fails halfway.
	e.srv.Inject(tdstandin.Fault{Method: "POST", Path: "/entities/segments", Times: 1, Drop: true, Process: true})
	e.srv.Inject(tdstandin.Fault{Method: "POST", Path: "/entities/segments", Times: 2, Status: 500})
	e.srv.Inject(tdstandin.Fault{Method: "POST", Path: "/entities/segments", Times: 3, Status: 400})
	_, rep := e.reconcile(t, desired)
	counts := rep.Counts()
	if counts[apply.Failed] == 0 {
		t.Fatalf("expected failures from injected faults, got %v", counts)
	}
	t.Logf("first run: %v", counts)
	e.srv.ClearFaults()
	_, rep = e.reconcile(t, desired)
	if rep.Failed() {
		t.Fatalf("second run failed: %v", rep.Err())
	}
	e.assertConverged(t, desired)
	names := map[string]int{}
	for _, s := range e.srv.Segments() {
		names[s.Name]++
	}
	for n, k := range names {
		if k > 1 {
			t.Errorf("segment %q exists %d times", n, k)
		}
	}
	if len(names) != len(desired.Segments) {
		t.Errorf("%d segments in Treasure, %d desired", len(names), len(desired.Segments))
	}
}

func TestFailureSkipsDependantsAndDeletes(t *testing.T) {
	e := newEnv(t)
	desired := retail(t)
	if _, rep := e.reconcile(t, desired); rep.Failed() {
		t.Fatal(rep.Err())
	}
	// Change every rule and drop one segment; make every PATCH fail.
	changed := desired
	changed.Segments = nil
	for _, s := range desired.Segments[1:] {
		s.Description += " (v2)"
		changed.Segments = append(changed.Segments, s)
	}
	e.srv.Inject(tdstandin.Fault{Method: "PATCH", Times: 1000, Status: 400})
	p, rep := e.reconcile(t, changed)
	if p.Summary().Destroy != 1 {
		t.Fatalf("plan should delete one segment: %+v", p.Summary())
	}
	var deletes int
	for _, r := range rep.Results {
		if r.Change.Action == plan.Delete {
			deletes++
			if r.Outcome != apply.Skipped {
				t.Errorf("delete %s ran after failures: %s", r.Change.Ref(), r.Outcome)
			}
		}
	}
	if deletes != 1 {
		t.Errorf("%d delete results, want 1", deletes)
	}
	if len(e.srv.Segments()) != len(desired.Segments) {
		t.Errorf("segments were deleted after a failure")
	}
}

func TestCanceledContextSkipsTheRest(t *testing.T) {
	e := newEnv(t)
	desired := retail(t)
	observed, err := e.c.Observe(context.Background(), parentNames(desired))
	if err == nil {
		err = e.c.ObserveActivations(context.Background(), &observed, desired.ActivationsWanted())
	}
	if err != nil {
		t.Fatal(err)
	}
	p := plan.Compute(desired, observed, opts())
	ctx, cancel := context.WithCancel(context.Background())
	done := 0
	rep, err := apply.Run(ctx, e.c, p, apply.Options{Concurrency: 1, OnChange: func(r apply.Result) {
		if r.Outcome == apply.Succeeded {
			done++
			if done == 3 {
				cancel()
			}
		}
	}})
	if err == nil {
		t.Fatal("Run returned no error after cancel")
	}
	c := rep.Counts()
	if c[apply.Succeeded] < 3 || c[apply.Skipped] == 0 {
		t.Errorf("counts after cancel: %v", c)
	}
	// The next run converges.
	if _, rep := e.reconcile(t, desired); rep.Failed() {
		t.Fatal(rep.Err())
	}
	e.assertConverged(t, desired)
}
