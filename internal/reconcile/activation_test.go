//go:build cgo

package reconcile_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cas-reconciler/reconciler/internal/reconcile"
	"github.com/cas-reconciler/reconciler/internal/standin/tdstandin"
	"github.com/cas-reconciler/reconciler/pkg/plan"
)

func syndicationNamed(td *tdstandin.Server, name string) *tdstandin.Syndication {
	for _, s := range td.Syndications() {
		if s.Name == name {
			return &s
		}
	}
	return nil
}

func changeOf(p *plan.Plan, kind plan.Kind, name string) *plan.Change {
	for i := range p.Changes {
		if p.Changes[i].Kind == kind && p.Changes[i].Key.Name == name {
			return &p.Changes[i]
		}
	}
	return nil
}

// TestActivationLifecycle: the retail repository's activation is created
// through the syndication endpoints after its segment, the next plan has
// no changes, an edit is one update of the same id, a removed activation
// is pruned, and a prune beyond the delete cap is held.
func TestActivationLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	res, err := e.r.Run(ctx, snap(retail, "r1"), reconcile.Mode{})
	if err != nil || res.Report.Failed() {
		t.Fatalf("first run: %v %v", err, res.Report.Err())
	}
	vip := segmentNamed(e.td, "VIP Customers")
	sy := syndicationNamed(e.td, "S3 daily")
	if vip == nil || sy == nil {
		t.Fatal("segment or activation not created")
	}
	if sy.SegmentID != vip.ID || sy.ConnectionID != "341090" || sy.RepeatUnit != "day" ||
		!strings.Contains(string(sy.Columns), `"column":"loyalty_tier"`) || !strings.Contains(sy.Description, "[managed-by: cas-reconciler source=retail") {
		t.Errorf("activation as stored: %+v", sy)
	}
	ch := changeOf(res.Plan, plan.KindActivation, "VIP Customers → S3 daily")
	sc := changeOf(res.Plan, plan.KindSegment, "VIP Customers")
	if ch == nil || ch.Action != plan.Create || sc == nil || ch.Level <= sc.Level {
		t.Fatalf("activation change %+v, want a create after its segment (%+v)", ch, sc)
	}
	var text strings.Builder
	_ = plan.WriteText(&text, res.Plan, plan.TextOptions{})
	if !strings.Contains(text.String(), `+ activation "VIP Customers → S3 daily"`) {
		t.Errorf("text plan lacks the activation:\n%s", text.String())
	}

	res, err = e.r.Run(ctx, snap(retail, "r1"), reconcile.Mode{DryRun: true})
	if err != nil || res.Plan.HasChanges() {
		t.Fatalf("second plan: %v %s", err, plan.SummaryLine(res.Plan))
	}

	// Update: a new schedule and column list, same id.
	edited := editedFiles(t, retail, map[string]func(string) string{
		"segments/marketing.cue": func(s string) string {
			s = strings.Replace(s, `schedule: {repeat: "day",`, `schedule: {repeat: "week", weekdays: [1, 4],`, 1)
			return strings.Replace(s, `"first_name", "ltv", "loyalty_tier"]`, `"ltv"]`, 1)
		},
	})
	before := e.writes()
	res, err = e.r.Run(ctx, reconcile.Snapshot{Revision: "r2", FS: edited}, reconcile.Mode{})
	if err != nil || res.Report.Failed() {
		t.Fatalf("update: %v %v", err, res.Report.Err())
	}
	if s := res.Plan.Summary(); s.Change != 1 || s.Add != 0 || s.Destroy != 0 || e.writes()-before != 1 {
		t.Errorf("update plan %s, %d writes; want one update", plan.SummaryLine(res.Plan), e.writes()-before)
	}
	if got := syndicationNamed(e.td, "S3 daily"); got == nil || got.ID != sy.ID || got.RepeatUnit != "week" ||
		len(got.RepeatSubFrequency) != 2 || strings.Contains(string(got.Columns), "first_name") {
		t.Errorf("updated activation %+v", got)
	}
	if res, err = e.r.Run(ctx, reconcile.Snapshot{Revision: "r2", FS: edited}, reconcile.Mode{DryRun: true}); err != nil || res.Plan.HasChanges() {
		t.Fatalf("plan after the update: %v %s", err, plan.SummaryLine(res.Plan))
	}

	// A second activation, then both removed: with a cap of one delete
	// the prune is held; without the cap it goes through.
	two := editedFiles(t, retail, map[string]func(string) string{
		"segments/marketing.cue": func(s string) string {
			return strings.Replace(s, `activations: "S3 daily": {`, `activations: "S3 weekly": {
			connection: "s3-retail-exports"
			allColumns: true
			schedule: repeat: "none"
		}
		activations: "S3 daily": {`, 1)
		},
	})
	if res, err = e.r.Run(ctx, reconcile.Snapshot{Revision: "r3", FS: two}, reconcile.Mode{}); err != nil || res.Report.Failed() || len(e.td.Syndications()) != 2 {
		t.Fatalf("second activation: %v, %d activations", err, len(e.td.Syndications()))
	}
	none := editedFiles(t, retail, map[string]func(string) string{
		"segments/marketing.cue": func(s string) string {
			i := strings.Index(s, "activations:")
			j := strings.Index(s, `"Top Spenders"`)
			return s[:i] + "activations: {}\n\t}\n\t" + s[j:]
		},
	})
	e.r.Plan.Prune.MaxDeletes = 1
	res, err = e.r.Run(ctx, reconcile.Snapshot{Revision: "r4", FS: none}, reconcile.Mode{})
	if err != nil && res.Plan == nil {
		t.Fatal(err)
	}
	if s := res.Plan.Summary(); s.Blocked != 2 || len(e.td.Syndications()) != 2 {
		t.Errorf("capped prune: %s, %d activations left; want both deletes held", plan.SummaryLine(res.Plan), len(e.td.Syndications()))
	}
	e.r.Plan.Prune.MaxDeletes = 0
	res, err = e.r.Run(ctx, reconcile.Snapshot{Revision: "r4", FS: none}, reconcile.Mode{})
	if err != nil || res.Report.Failed() || res.Plan.Summary().Destroy != 2 || len(e.td.Syndications()) != 0 {
		t.Fatalf("prune: %v %s, %d activations left", err, plan.SummaryLine(res.Plan), len(e.td.Syndications()))
	}
	for _, c := range res.Plan.Changes {
		if c.Action == plan.Delete && c.Kind != plan.KindActivation {
			t.Errorf("unexpected delete %s", c.Ref())
		}
	}
}

// TestActivationUnownedIsLeftAlone: an activation the reconciler did not
// create, on a segment that manages its activations, is neither changed nor
// pruned; one of the same name as a declared one is a conflict.
func TestActivationUnownedIsLeftAlone(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.r.Run(ctx, snap(retail, "r1"), reconcile.Mode{}); err != nil {
		t.Fatal(err)
	}
	sy := syndicationNamed(e.td, "S3 daily")
	if err := e.td.EditSyndication(sy.ID, "alice", func(s *tdstandin.Syndication) { s.Description = "hand made" }); err != nil {
		t.Fatal(err)
	}
	res, err := e.r.Run(ctx, snap(retail, "r2"), reconcile.Mode{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if ch := changeOf(res.Plan, plan.KindActivation, "VIP Customers → S3 daily"); ch == nil || ch.Action != plan.Conflict {
		t.Errorf("unowned activation of a declared name: %+v, want a conflict", ch)
	}
	none := editedFiles(t, retail, map[string]func(string) string{
		"segments/marketing.cue": func(s string) string {
			i := strings.Index(s, "activations:")
			j := strings.Index(s, `"Top Spenders"`)
			return s[:i] + "activations: {}\n\t}\n\t" + s[j:]
		},
	})
	res, err = e.r.Run(ctx, reconcile.Snapshot{Revision: "r3", FS: none}, reconcile.Mode{})
	if err != nil || res.Plan.HasChanges() || len(e.td.Syndications()) != 1 {
		t.Errorf("unowned activation: %v %s, %d left; want it kept", err, plan.SummaryLine(res.Plan), len(e.td.Syndications()))
	}
}

// TestRenameKeepsActivation: a segment renamed with renamedFrom keeps its
// id, the reference to it and its activation (same id, still attached).
func TestRenameKeepsActivation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.r.Run(ctx, snap(retail, "r1"), reconcile.Mode{}); err != nil {
		t.Fatal(err)
	}
	vip, sy := segmentNamed(e.td, "VIP Customers"), syndicationNamed(e.td, "S3 daily")
	renamed := editedFiles(t, retail, map[string]func(string) string{
		"segments/marketing.cue": func(s string) string {
			return strings.Replace(s, `"VIP Customers": {`, `"Top Customers": {
		renamedFrom: ["VIP Customers"]`, 1)
		},
		"segments/engagement.cue": func(s string) string {
			return strings.ReplaceAll(s, `segment: "VIP Customers"`, `segment: "Top Customers"`)
		},
	})
	res, err := e.r.Run(ctx, reconcile.Snapshot{Revision: "r2", FS: renamed}, reconcile.Mode{})
	if err != nil || res.Report.Failed() {
		t.Fatalf("rename: %v %v", err, res.Report.Err())
	}
	if s := res.Plan.Summary(); s.Add != 0 || s.Destroy != 0 || s.Change != 1 {
		t.Errorf("rename plan %s, want one update", plan.SummaryLine(res.Plan))
	}
	top := segmentNamed(e.td, "Top Customers")
	if top == nil || top.ID != vip.ID {
		t.Fatalf("renamed segment %+v, want id %s", top, vip.ID)
	}
	referenced := false
	for _, s := range e.td.Segments() {
		referenced = referenced || strings.Contains(string(s.Rule), `"`+vip.ID+`"`)
	}
	if !referenced {
		t.Error("no segment references the renamed segment's id any more")
	}
	if got := syndicationNamed(e.td, "S3 daily"); got == nil || got.ID != sy.ID || got.SegmentID != vip.ID || len(e.td.Syndications()) != 1 {
		t.Errorf("activation after the rename %+v, want id %s on segment %s", got, sy.ID, vip.ID)
	}
	if ch := changeOf(res.Plan, plan.KindActivation, "Top Customers → S3 daily"); ch == nil || ch.Action != plan.NoOp {
		t.Errorf("activation change after the rename: %+v, want no-op", ch)
	}
	if res, err = e.r.Run(ctx, reconcile.Snapshot{Revision: "r3", FS: renamed}, reconcile.Mode{DryRun: true}); err != nil || res.Plan.HasChanges() {
		t.Errorf("plan after the rename: %v %s", err, plan.SummaryLine(res.Plan))
	}
}

// TestActivationDriftIsReverted: a hand edit of an owned activation is
// drift (its fingerprint no longer matches the marker's); it is held in
// report mode and reverted with one update of the same id otherwise.
func TestActivationDriftIsReverted(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.r.Run(ctx, snap(retail, "r1"), reconcile.Mode{}); err != nil {
		t.Fatal(err)
	}
	sy := syndicationNamed(e.td, "S3 daily")
	if err := e.td.EditSyndication(sy.ID, "alice", func(s *tdstandin.Syndication) { s.RepeatUnit = "hour" }); err != nil {
		t.Fatal(err)
	}
	e.r.Plan.Drift = plan.DriftReport
	res, err := e.r.Run(ctx, snap(retail, "r1"), reconcile.Mode{})
	if err != nil && res.Plan == nil {
		t.Fatal(err)
	}
	ch := changeOf(res.Plan, plan.KindActivation, "VIP Customers → S3 daily")
	if ch == nil || ch.Action != plan.Update || ch.Drift == nil || ch.BlockedBy != plan.BlockDriftReport {
		t.Fatalf("drifted activation in report mode: %+v", ch)
	}
	if got := syndicationNamed(e.td, "S3 daily"); got.RepeatUnit != "hour" {
		t.Errorf("report mode reverted the drift: %+v", got)
	}
	e.r.Plan.Drift = plan.DriftCorrect
	if res, err = e.r.Run(ctx, snap(retail, "r1"), reconcile.Mode{}); err != nil || res.Report.Failed() {
		t.Fatalf("correct: %v", err)
	}
	if got := syndicationNamed(e.td, "S3 daily"); got == nil || got.ID != sy.ID || got.RepeatUnit != "day" {
		t.Errorf("drift not reverted in place: %+v", got)
	}
}
