package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/cas-reconciler/reconciler/internal/reconcile"
	"github.com/cas-reconciler/reconciler/pkg/catalog"
	"github.com/cas-reconciler/reconciler/pkg/diag"
	"github.com/cas-reconciler/reconciler/pkg/plan"
	"github.com/cas-reconciler/reconciler/pkg/segment"
	"github.com/cas-reconciler/reconciler/pkg/spec"
)

// These tests run the pipeline on in-memory fakes of its own interfaces
// (no cgo, no network); the end-to-end tests on both stand-ins are in
// reconcile_test.go.

// fixedLoader returns a copy of one state, or diagnostics.
type fixedLoader struct {
	state segment.State
	diags diag.Diagnostics
}

func (l *fixedLoader) Load(ctx context.Context, fsys fs.FS) (*spec.Result, error) {
	st := segment.State{Parents: slices.Clone(l.state.Parents), Folders: slices.Clone(l.state.Folders),
		Segments: slices.Clone(l.state.Segments)}
	return &spec.Result{State: st, Diagnostics: l.diags}, nil
}

type downCatalog struct{ err error }

func (c downCatalog) Read(ctx context.Context, req catalog.Request) (*catalog.Catalog, error) {
	return nil, c.err
}

// tempErr is a Treasure failure that passes by itself.
type tempErr struct{ after time.Duration }

func (e tempErr) Error() string                    { return "treasure: 429 too many requests" }
func (e tempErr) Temporary() bool                  { return true }
func (e tempErr) RetryDelay() time.Duration        { return e.after }
func (e permErr) Error() string                    { return "treasure: 400 " + string(e) }
func (e permErr) Temporary() bool                  { return false }
func (e permErr) RetryDelay() time.Duration        { return 0 }
func (m *memRemote) failOn(name string, err error) { m.mu.Lock(); m.fail[name] = err; m.mu.Unlock() }

type permErr string

// memRemote is an in-memory Treasure: every object it creates is owned.
type memRemote struct {
	mu       sync.Mutex
	next     int
	st       segment.State
	writes   int
	observed [][]string
	obsErr   error
	fail     map[string]error
}

func newRemote() *memRemote { return &memRemote{fail: map[string]error{}} }

func (m *memRemote) id() string { m.next++; return fmt.Sprint(m.next) }

func (m *memRemote) meta() segment.Meta {
	return segment.Meta{ID: m.id(), Owned: true, OwnerSource: "git", UpdatedBy: "reconciler"}
}

func (m *memRemote) Observe(ctx context.Context, names []string) (segment.State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.observed = append(m.observed, names)
	if m.obsErr != nil {
		return segment.State{}, m.obsErr
	}
	var out segment.State
	// As Treasure: the named parent segments and those marked as owned
	// by this source.
	for _, p := range m.st.Parents {
		if slices.Contains(names, p.Name) || p.Meta.OwnerSource == "git" {
			out.Parents = append(out.Parents, p)
		}
	}
	seen := func(parent string) bool {
		return slices.ContainsFunc(out.Parents, func(p segment.Parent) bool { return p.Name == parent })
	}
	for _, f := range m.st.Folders {
		if seen(f.Parent) {
			out.Folders = append(out.Folders, f)
		}
	}
	for _, s := range m.st.Segments {
		if seen(s.Parent) {
			out.Segments = append(out.Segments, s)
		}
	}
	return out, nil
}

func (m *memRemote) write(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.writes++
	return m.fail[name]
}

func (m *memRemote) ResolveConnection(ctx context.Context, name string) (string, error) {
	return "77", nil
}

func (m *memRemote) CreateParent(ctx context.Context, p *segment.Parent) (*segment.Parent, error) {
	if err := m.write(p.Name); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := *p
	out.Meta, out.RootFolderID = m.meta(), m.id()
	m.st.Parents = append(m.st.Parents, out)
	return &out, nil
}

func (m *memRemote) UpdateParent(ctx context.Context, id string, p *segment.Parent) (*segment.Parent, error) {
	return nil, errors.New("not used")
}

func (m *memRemote) DeleteParent(ctx context.Context, id string) error {
	if err := m.write(id); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.st.Parents = slices.DeleteFunc(m.st.Parents, func(p segment.Parent) bool { return p.Meta.ID == id })
	return nil
}

func (m *memRemote) CreateFolder(ctx context.Context, parentID, parentFolderID string, f *segment.Folder) (*segment.Folder, error) {
	return nil, errors.New("not used")
}

func (m *memRemote) UpdateFolder(ctx context.Context, id string, f *segment.Folder) (*segment.Folder, error) {
	return nil, errors.New("not used")
}

func (m *memRemote) DeleteFolder(ctx context.Context, id string) error { return errors.New("not used") }

func (m *memRemote) CreateSegment(ctx context.Context, parentID, folderID string, s *segment.Segment) (*segment.Segment, error) {
	if err := m.write(s.Name); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := *s
	out.Meta = m.meta()
	m.st.Segments = append(m.st.Segments, out)
	return &out, nil
}

func (m *memRemote) UpdateSegment(ctx context.Context, id, folderID string, s *segment.Segment) (*segment.Segment, error) {
	if err := m.write(s.Name); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.st.Segments {
		if m.st.Segments[i].Meta.ID == id {
			meta := m.st.Segments[i].Meta
			m.st.Segments[i] = *s
			m.st.Segments[i].Meta = meta
			return &m.st.Segments[i], nil
		}
	}
	return nil, permErr("no such segment")
}

func (m *memRemote) DeleteSegment(ctx context.Context, id string) error {
	if err := m.write(id); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.st.Segments = slices.DeleteFunc(m.st.Segments, func(s segment.Segment) bool { return s.Meta.ID == id })
	return nil
}

func unitState(parents ...string) segment.State {
	var st segment.State
	for _, p := range parents {
		st.Parents = append(st.Parents, segment.Parent{Name: p, Timezone: "UTC", Connection: "dbx",
			Customers: segment.KeyedTable{Table: segment.Table{Catalog: "c", Schema: "s", Table: "customers"}, Key: "id"}})
		v := segment.NumberOf(1)
		st.Segments = append(st.Segments, segment.Segment{Name: "S", Parent: p, Kind: segment.Batch,
			Rule: segment.Rule{Type: "And", Conditions: []segment.ConditionSet{{Type: "And", Conditions: []segment.Condition{{
				Type: "Value", LeftValue: &segment.LeftValue{Name: "ltv"}, Operator: &segment.Operator{Type: segment.GreaterEqual, RightValue: &v}}}}}}})
	}
	return st
}

func unitReconciler(l reconcile.Loader, m *memRemote) *reconcile.Reconciler {
	return &reconcile.Reconciler{Loader: l, Remote: m,
		Plan: plan.Options{Owner: "git", Prune: plan.PruneOptions{Enabled: true}}}
}

var memFS = reconcile.Snapshot{Revision: "r1", FS: fstest.MapFS{}}

func TestUnitInvalidSpecStallsWithoutTreasure(t *testing.T) {
	m := newRemote()
	l := &fixedLoader{state: unitState("A"), diags: diag.Diagnostics{diag.Errorf(diag.Pos{File: "a.cue", Line: 1}, "x", "bad")}}
	res, err := unitReconciler(l, m).Run(context.Background(), memFS, reconcile.Mode{})
	var st *reconcile.Stalled
	if !errors.As(err, &st) || st.Reason != reconcile.ReasonInvalidSpec || res.Condition != reconcile.ConditionStalled {
		t.Fatalf("err = %v, condition %q", err, res.Condition)
	}
	if len(m.observed) != 0 || m.writes != 0 {
		t.Errorf("Treasure was called: %d observes, %d writes", len(m.observed), m.writes)
	}
}

func TestUnitWarehouseDownWaits(t *testing.T) {
	m := newRemote()
	r := unitReconciler(&fixedLoader{state: unitState("A")}, m)
	r.Catalog = downCatalog{err: errors.New("dial tcp: connection refused")}
	res, err := r.Run(context.Background(), memFS, reconcile.Mode{})
	var w *reconcile.Waiting
	if !errors.As(err, &w) || w.Reason != reconcile.ReasonWarehouseDown || res.Condition != reconcile.ConditionWaiting {
		t.Fatalf("err = %v, condition %q", err, res.Condition)
	}
	if len(m.observed) != 0 {
		t.Error("Treasure observed while the warehouse is down")
	}
}

func TestUnitErroredPlanStalls(t *testing.T) {
	m := newRemote()
	st := unitState("A")
	st.Segments = append(st.Segments, st.Segments[0]) // declared twice
	res, err := unitReconciler(&fixedLoader{state: st}, m).Run(context.Background(), memFS, reconcile.Mode{})
	var s *reconcile.Stalled
	if !errors.As(err, &s) || s.Reason != reconcile.ReasonInvalidPlan {
		t.Fatalf("err = %v", err)
	}
	if !res.Diagnostics.HasErrors() || res.Diagnostics[len(res.Diagnostics)-1].Code != reconcile.CodePlanError {
		t.Errorf("diagnostics %v", res.Diagnostics)
	}
	if m.writes != 0 {
		t.Errorf("%d writes", m.writes)
	}
}

func TestUnitApplyThenNothingAndDrift(t *testing.T) {
	m := newRemote()
	l := &fixedLoader{state: unitState("A")}
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	r := unitReconciler(l, m)
	r.Now = func() time.Time { return now }
	res, err := r.Run(context.Background(), memFS, reconcile.Mode{})
	if err != nil || !res.Applied || res.Plan.Summary().Add != 2 || res.Condition != reconcile.ConditionSucceeded {
		t.Fatalf("first run: %v, %+v", err, res.Plan.Summary())
	}
	if at, rev := r.LastApplied(); rev != "r1" || !at.Equal(now) {
		t.Errorf("LastApplied = %v %q", at, rev)
	}
	// Someone edits the segment by hand; the repository did not move.
	m.mu.Lock()
	m.st.Segments[0].Description = "edited"
	m.st.Segments[0].Meta.UpdatedBy = "alice"
	m.mu.Unlock()
	res, err = r.Run(context.Background(), memFS, reconcile.Mode{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Plan.Summary(); s.Drift != 1 || s.Change != 1 || res.Applied || res.Held != "dry run" {
		t.Errorf("drift run: %+v applied=%v held=%q", s, res.Applied, res.Held)
	}
	res, err = r.Run(context.Background(), memFS, reconcile.Mode{Frozen: true})
	if err != nil || res.Applied || res.Held != "freeze window" {
		t.Errorf("frozen run: %v applied=%v held=%q", err, res.Applied, res.Held)
	}
	if m.writes != 2 {
		t.Errorf("%d writes, want the 2 creates only", m.writes)
	}
}

func TestUnitRemovedParentIsObservedAndItsDeleteBlocked(t *testing.T) {
	m := newRemote()
	l := &fixedLoader{state: unitState("A", "B")}
	r := unitReconciler(l, m)
	if _, err := r.Run(context.Background(), memFS, reconcile.Mode{}); err != nil {
		t.Fatal(err)
	}
	l.state = unitState("A")
	// The same reconciler, and a new one (a restart, or the CLI): which
	// parent segments the source owns comes from Treasure.
	for _, r := range []*reconcile.Reconciler{r, unitReconciler(l, m)} {
		res, err := r.Run(context.Background(), reconcile.Snapshot{Revision: "r2", FS: fstest.MapFS{}}, reconcile.Mode{})
		if err != nil {
			t.Fatal(err)
		}
		blocked := 0
		for _, c := range res.Plan.Changes {
			if c.Action == plan.Delete && c.Key.Parent == "B" {
				if c.BlockedBy != plan.BlockParentDelete {
					t.Errorf("%s blocked by %q, want %q", c.Ref(), c.BlockedBy, plan.BlockParentDelete)
				}
				blocked++
			}
		}
		if blocked != 2 || len(m.st.Segments) != 2 {
			t.Errorf("%d blocked deletes, %d segments left", blocked, len(m.st.Segments))
		}
	}
	// Allowed, the parent segment goes with its segment, and is forgotten.
	r.Plan.Prune.AllowParentDelete = true
	if _, err := r.Run(context.Background(), reconcile.Snapshot{Revision: "r2", FS: fstest.MapFS{}}, reconcile.Mode{}); err != nil {
		t.Fatal(err)
	}
	if len(m.st.Parents) != 1 || len(m.st.Segments) != 1 {
		t.Errorf("after the allowed delete: %d parents, %d segments", len(m.st.Parents), len(m.st.Segments))
	}
	if _, err := r.Run(context.Background(), reconcile.Snapshot{Revision: "r2", FS: fstest.MapFS{}}, reconcile.Mode{}); err != nil {
		t.Fatal(err)
	}
	res, err := r.Run(context.Background(), reconcile.Snapshot{Revision: "r2", FS: fstest.MapFS{}}, reconcile.Mode{})
	if err != nil || res.Plan.HasChanges() || res.Plan.Summary().Unresolved() != 0 {
		t.Errorf("after the parent segment is gone: %v, %s", err, plan.SummaryLine(res.Plan))
	}
}

func TestUnitApplyOutcomes(t *testing.T) {
	tests := map[string]struct {
		err   error
		check func(t *testing.T, err error)
	}{
		"temporary failures wait, with the longest Retry-After": {
			err: tempErr{after: 9 * time.Second},
			check: func(t *testing.T, err error) {
				var w *reconcile.Waiting
				if !errors.As(err, &w) || w.Reason != reconcile.ReasonTreasureDown || w.RetryAfter != 9*time.Second {
					t.Errorf("err = %v", err)
				}
			},
		},
		"refused changes are an apply failure": {
			err: permErr("rule is invalid"),
			check: func(t *testing.T, err error) {
				var a *reconcile.ApplyError
				c, reason := reconcile.ConditionOf(err)
				if !errors.As(err, &a) || !errors.Is(err, permErr("rule is invalid")) || c != reconcile.ConditionFailed || reason != reconcile.ReasonApplyFailed {
					t.Errorf("err = %v (%s %s)", err, c, reason)
				}
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := newRemote()
			m.failOn("S", tc.err)
			r := unitReconciler(&fixedLoader{state: unitState("A")}, m)
			res, err := r.Run(context.Background(), memFS, reconcile.Mode{})
			tc.check(t, err)
			if !res.Applied || !res.Report.Failed() {
				t.Errorf("applied=%v", res.Applied)
			}
			if _, rev := r.LastApplied(); rev != "" {
				t.Errorf("a failed apply was recorded as applied (%q)", rev)
			}
		})
	}
}

func TestUnitObserveOutage(t *testing.T) {
	m := newRemote()
	m.obsErr = tempErr{after: 3 * time.Second}
	_, err := unitReconciler(&fixedLoader{state: unitState("A")}, m).Run(context.Background(), memFS, reconcile.Mode{})
	var w *reconcile.Waiting
	if !errors.As(err, &w) || w.RetryAfter != 3*time.Second || m.writes != 0 {
		t.Errorf("err = %v, writes %d", err, m.writes)
	}
}

// keyErr is a Treasure refusal of the API key: 401 or 403.
type keyErr struct{ status int }

func (e keyErr) Error() string      { return fmt.Sprintf("treasure: GET segments: %d", e.status) }
func (e keyErr) Temporary() bool    { return false }
func (e keyErr) Unauthorized() bool { return e.status == 401 }
func (e keyErr) Forbidden() bool    { return e.status == 403 }

// refusedErr is a warehouse refusal of the credentials.
type refusedErr struct{}

func (refusedErr) Error() string {
	return "warehouse dbc.invalid: token exchange: auth refused: http 401 invalid_client"
}
func (refusedErr) Temporary() bool    { return false }
func (refusedErr) Unauthorized() bool { return true }

// TestUnitRefusedCredentialsStall checks that a refused credential stalls
// the run (a retry cannot help) with a reason of its own and a message
// naming where the credential comes from, whether it is refused while
// observing, while applying or by the warehouse.
func TestUnitRefusedCredentialsStall(t *testing.T) {
	creds := reconcile.Credentials{Treasure: "treasure.apiKey (env:TD_API_KEY)",
		Warehouse: "databricks.oauth.clientSecret (file:/run/secrets/dbx)"}
	tests := map[string]struct {
		setup  func(r *reconcile.Reconciler, m *memRemote)
		reason reconcile.Reason
		name   string
		writes int
	}{
		"401 while observing": {
			setup:  func(_ *reconcile.Reconciler, m *memRemote) { m.obsErr = keyErr{401} },
			reason: reconcile.ReasonTreasureUnauthorized, name: creds.Treasure,
		},
		"403 while observing": {
			setup:  func(_ *reconcile.Reconciler, m *memRemote) { m.obsErr = keyErr{403} },
			reason: reconcile.ReasonTreasureForbidden, name: creds.Treasure,
		},
		"403 while applying": {
			setup:  func(_ *reconcile.Reconciler, m *memRemote) { m.failOn("S", keyErr{403}) },
			reason: reconcile.ReasonTreasureForbidden, name: creds.Treasure, writes: 2,
		},
		"refused warehouse secret": {
			setup:  func(r *reconcile.Reconciler, _ *memRemote) { r.Catalog = downCatalog{err: refusedErr{}} },
			reason: reconcile.ReasonWarehouseUnauthorized, name: creds.Warehouse,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := newRemote()
			r := unitReconciler(&fixedLoader{state: unitState("A")}, m)
			r.Credentials = creds
			tc.setup(r, m)
			res, err := r.Run(context.Background(), memFS, reconcile.Mode{})
			var st *reconcile.Stalled
			if !errors.As(err, &st) || st.Reason != tc.reason || res.Condition != reconcile.ConditionStalled {
				t.Fatalf("err = %v, condition %q; want stalled (%s)", err, res.Condition, tc.reason)
			}
			var ce *reconcile.CredentialError
			if !errors.As(err, &ce) || ce.Reason != tc.reason {
				t.Fatalf("err = %v, not a *CredentialError", err)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.name) || !strings.Contains(msg, "restart the reconciler") {
				t.Errorf("message %q does not name %s and what to do", msg, tc.name)
			}
			if m.writes != tc.writes {
				t.Errorf("%d writes, want %d", m.writes, tc.writes)
			}
		})
	}
}

// startErr is a warehouse error of a warehouse that is starting, or that
// did not start within its budget.
type startErr struct{ timedOut bool }

func (e startErr) Error() string       { return "warehouse h: starting" }
func (e startErr) IsStarting() bool    { return !e.timedOut }
func (e startErr) StartTimedOut() bool { return e.timedOut }

func TestUnitWarehouseStartingWaits(t *testing.T) {
	for _, tc := range []struct {
		err  startErr
		want reconcile.Reason
	}{{startErr{}, reconcile.ReasonWarehouseStarting}, {startErr{timedOut: true}, reconcile.ReasonWarehouseStartTimeout}} {
		m := newRemote()
		r := unitReconciler(&fixedLoader{state: unitState("A")}, m)
		r.Catalog = downCatalog{err: fmt.Errorf("snapshot: %w", tc.err)}
		res, err := r.Run(context.Background(), memFS, reconcile.Mode{})
		var w *reconcile.Waiting
		if !errors.As(err, &w) || w.Reason != tc.want || res.Condition != reconcile.ConditionWaiting {
			t.Errorf("err = %v, condition %q, want waiting %s", err, res.Condition, tc.want)
		}
	}
}

func (m *memRemote) ObserveActivations(context.Context, *segment.State, func(*segment.Segment) bool) error {
	return nil
}

func (m *memRemote) CreateActivation(context.Context, string, *segment.Activation) (*segment.Activation, error) {
	return nil, errors.New("not used")
}

func (m *memRemote) UpdateActivation(context.Context, string, string, *segment.Activation) (*segment.Activation, error) {
	return nil, errors.New("not used")
}

func (m *memRemote) DeleteActivation(context.Context, string, string) error {
	return errors.New("not used")
}

// fetchFunc is a Fetcher.
type fetchFunc func(context.Context) (reconcile.Snapshot, error)

func (f fetchFunc) Fetch(ctx context.Context) (reconcile.Snapshot, error) { return f(ctx) }

type gitDown struct{}

func (gitDown) Error() string   { return "git server unreachable" }
func (gitDown) Temporary() bool { return true }

// TestUnitFetchDecidesCondition checks that the fetch step decides the
// condition and reason of a run whose fetch fails, by the error's type
// (an unreachable server waits, anything else fails), and that nothing
// after it runs.
func TestUnitFetchDecidesCondition(t *testing.T) {
	for name, c := range map[string]struct {
		err       error
		condition reconcile.Condition
		reason    reconcile.Reason
	}{
		"unreachable": {gitDown{}, reconcile.ConditionWaiting, reconcile.ReasonGitUnavailable},
		"refused":     {errors.New("git: authentication required"), reconcile.ConditionFailed, reconcile.ReasonGitFetchFailed},
		// Only the type counts, not the text.
		"text that looks unreachable": {errors.New("git server unreachable: i/o timeout"), reconcile.ConditionFailed, reconcile.ReasonGitFetchFailed},
	} {
		m := newRemote()
		l := &fixedLoader{state: unitState("A")}
		r := unitReconciler(l, m)
		r.Source = fetchFunc(func(context.Context) (reconcile.Snapshot, error) { return reconcile.Snapshot{}, c.err })
		res, err := r.Reconcile(context.Background(), reconcile.Mode{})
		if !errors.Is(err, c.err) || res.Condition != c.condition || res.Reason != c.reason {
			t.Errorf("%s: %v, %s %s; want %s %s", name, err, res.Condition, res.Reason, c.condition, c.reason)
		}
		if len(res.Steps) != 1 || res.Steps[0].Step != reconcile.StepFetch || res.Revision != "" || len(m.observed) != 0 {
			t.Errorf("%s: steps %v, revision %q, %d observes; want the fetch only", name, res.Steps, res.Revision, len(m.observed))
		}
	}
}

// TestUnitReconcileRunsTheSteps checks that Reconcile fetches, then runs
// every step in order on the fetched revision.
func TestUnitReconcileRunsTheSteps(t *testing.T) {
	m := newRemote()
	r := unitReconciler(&fixedLoader{state: unitState("A")}, m)
	r.Catalog = &countingCatalog{}
	commit := reconcile.Commit{Branch: "main", Author: "Ann", Subject: "VIP segment"}
	r.Source = fetchFunc(func(context.Context) (reconcile.Snapshot, error) {
		return reconcile.Snapshot{Revision: "r7", FS: fstest.MapFS{}, Commit: commit}, nil
	})
	res, err := r.Reconcile(context.Background(), reconcile.Mode{})
	if err != nil || res.Condition != reconcile.ConditionSucceeded || res.Reason != "" {
		t.Fatalf("%v, %s %q", err, res.Condition, res.Reason)
	}
	var steps []string
	for _, s := range res.Steps {
		steps = append(steps, s.Step)
	}
	// write_first runs only for a triggered run after one that wrote
	// nothing (TestWritesFirstUpdatesBeforeObserving).
	want := slices.DeleteFunc(slices.Clone(reconcile.Steps), func(s string) bool { return s == reconcile.StepWriteFirst })
	if !slices.Equal(steps, want) {
		t.Errorf("steps %v, want %v", steps, want)
	}
	if res.Revision != "r7" || res.Commit != commit {
		t.Errorf("revision %q, commit %+v", res.Revision, res.Commit)
	}
	if _, rev := r.LastApplied(); rev != "r7" {
		t.Errorf("applied revision %q, want r7", rev)
	}
}
