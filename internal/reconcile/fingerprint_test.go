//go:build cgo

package reconcile_test

import (
	"context"
	"io/fs"
	"strings"
	"testing"

	"github.com/cas-reconciler/reconciler/internal/reconcile"
	"github.com/cas-reconciler/reconciler/internal/standin/tdstandin"
	"github.com/cas-reconciler/reconciler/pkg/plan"
)

// TestFingerprintsSurviveTheWire: every object apply writes carries the
// fingerprint of what was written, and observing it gives the same
// fingerprint back, also from a Treasure that returns only its documented
// fields.
func TestFingerprintsSurviveTheWire(t *testing.T) {
	for _, documented := range []bool{false, true} {
		t.Run(map[bool]string{false: "full", true: "documented"}[documented], func(t *testing.T) {
			fingerprintsSurvive(t, newEnvWith(t, tdstandin.Options{DocumentedOnly: documented}))
		})
	}
}

func fingerprintsSurvive(t *testing.T, e *env) {
	ctx := context.Background()
	if _, err := e.r.Run(ctx, snap(retail, "r1"), reconcile.Mode{}); err != nil {
		t.Fatal(err)
	}
	st, err := newClient(t, e.td).Observe(ctx, []string{"Retail Customers"})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	check := func(what, recorded string, obj any) {
		n++
		if recorded == "" || plan.Fingerprint(obj) != recorded {
			t.Errorf("%s: recorded fingerprint %q, observed %q", what, recorded, plan.Fingerprint(obj))
		}
	}
	for i := range st.Parents {
		check("parent "+st.Parents[i].Name, st.Parents[i].Meta.Fingerprint, &st.Parents[i])
	}
	for i := range st.Folders {
		check("folder "+st.Folders[i].Path, st.Folders[i].Meta.Fingerprint, &st.Folders[i])
	}
	for i := range st.Segments {
		check("segment "+st.Segments[i].Name, st.Segments[i].Meta.Fingerprint, &st.Segments[i])
	}
	if n < 30 {
		t.Errorf("only %d objects observed", n)
	}
}

// TestDriftWithoutAPrincipal: a reconciler that knows neither its
// principal nor an earlier apply (the CLI) tells a hand edit from a change
// of the repository by the fingerprint in the marker: under drift: report
// the hand edit is held, the repository's change applied.
func TestDriftWithoutAPrincipal(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.r.Run(ctx, snap(retail, "r1"), reconcile.Mode{}); err != nil {
		t.Fatal(err)
	}
	var edited string
	for _, s := range e.td.Segments() {
		if s.Name == "Top Spenders" {
			edited = s.ID
		}
	}
	// A hand edit that keeps the marker, as the UI does.
	if err := e.td.ModifySegment(edited, "alice", func(s *tdstandin.Segment) {
		s.Description = strings.Replace(s.Description, "Largest", "Biggest", 1)
	}); err != nil {
		t.Fatal(err)
	}
	cli := newEnvReconciler(e)
	cli.Plan.Drift = plan.DriftReport
	cli.Plan.Principal = ""
	repo := reconcile.Snapshot{Revision: "r2", FS: edited2(t)}
	res, err := cli.Run(ctx, repo, reconcile.Mode{})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	for i := range res.Plan.Changes {
		c := &res.Plan.Changes[i]
		switch c.Key.Name {
		case "Top Spenders":
			if c.Drift == nil || c.BlockedBy != plan.BlockDriftReport {
				t.Errorf("hand edit: %+v, want drift held by drift: report", c)
			}
		case "Gold and Platinum":
			if c.Action != plan.Update || c.Drift != nil || !c.Applies() {
				t.Errorf("repository change: %+v, want an applied update without drift", c)
			}
		}
	}
	for _, s := range e.td.Segments() {
		switch s.Name {
		case "Top Spenders":
			if !strings.HasPrefix(s.Description, "Biggest") {
				t.Errorf("the hand edit was reverted: %q", s.Description)
			}
		case "Gold and Platinum":
			if !strings.HasPrefix(s.Description, "Our best tiers") {
				t.Errorf("the repository's change was not applied: %q", s.Description)
			}
		}
	}
}

// edited2 is the retail repository with a description added to "Gold and
// Platinum".
func edited2(t *testing.T) fs.FS {
	return edited(t, retail, "segments/marketing.cue", func(s string) string {
		return strings.Replace(s, `"Gold and Platinum": {`, `"Gold and Platinum": {
		description: "Our best tiers"`, 1)
	})
}

// TestMarkerWithoutFingerprintStillWorks: an object whose marker was
// written before fingerprints is still owned, a change of the repository
// to it is an ordinary update, and the write records a fingerprint.
func TestMarkerWithoutFingerprintStillWorks(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.r.Run(ctx, snap(retail, "r1"), reconcile.Mode{}); err != nil {
		t.Fatal(err)
	}
	var id string
	for _, s := range e.td.Segments() {
		if s.Name == "Gold and Platinum" {
			id = s.ID
		}
	}
	if err := e.td.ModifySegment(id, "reconciler", func(s *tdstandin.Segment) {
		s.Description = "[managed-by: cas-reconciler source=retail]"
	}); err != nil {
		t.Fatal(err)
	}
	cli := newEnvReconciler(e)
	cli.Plan.Drift = plan.DriftReport
	res, err := cli.Run(ctx, reconcile.Snapshot{Revision: "r2", FS: edited2(t)}, reconcile.Mode{})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	for i := range res.Plan.Changes {
		if c := &res.Plan.Changes[i]; c.Key.Name == "Gold and Platinum" && (c.Action != plan.Update || c.Drift != nil || !c.Applies()) {
			t.Errorf("change %+v, want an applied update without drift", c)
		}
	}
	for _, s := range e.td.Segments() {
		if s.ID == id && (!strings.HasPrefix(s.Description, "Our best tiers") || !strings.Contains(s.Description, " hash=")) {
			t.Errorf("description after the update: %q", s.Description)
		}
	}
}

// TestParentChangeOnADocumentedOnlyTreasure: against a Treasure that
// returns only its documented fields, a parent segment with a display name
// and attribute groups (fields Treasure does not give back) is not drift
// when the repository changes it: under drift: report and without a
// principal, the repository's change is applied.
func TestParentChangeOnADocumentedOnlyTreasure(t *testing.T) {
	e := newEnvWith(t, tdstandin.Options{DocumentedOnly: true})
	e.r.Plan.Prune.AllowParentReplace = true
	ctx := context.Background()
	rich := func(s string) string {
		s = strings.Replace(s, `key:     "customer_id"`, `key:     "customer_id"
		name:    "Shop customers"`, 1)
		return strings.Replace(s, `email: {}`, `email: group: "Contact"`, 1)
	}
	if _, err := e.r.Run(ctx, reconcile.Snapshot{Revision: "r1", FS: edited(t, retail, "parent.cue", rich)}, reconcile.Mode{}); err != nil {
		t.Fatal(err)
	}
	cli := newEnvReconciler(e)
	cli.Plan.Drift = plan.DriftReport
	cli.Plan.Principal = ""
	moved := edited(t, retail, "parent.cue", func(s string) string {
		return strings.Replace(rich(s), "Every customer of the online shop", "Every customer of the web shop", 1)
	})
	res, err := cli.Run(ctx, reconcile.Snapshot{Revision: "r2", FS: moved}, reconcile.Mode{})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	var seen bool
	for i := range res.Plan.Changes {
		if c := &res.Plan.Changes[i]; c.Kind == plan.KindParent {
			seen = true
			if c.Drift != nil || !c.Applies() {
				t.Errorf("repository change of the parent: %+v, want applied without drift", c)
			}
		}
	}
	if !seen {
		t.Fatalf("no parent change planned: %s", plan.SummaryLine(res.Plan))
	}
	if got := e.td.Parents()[0].Description; !strings.HasPrefix(got, "Every customer of the web shop") {
		t.Errorf("Treasure's description %q, the change was not applied", got)
	}
}
