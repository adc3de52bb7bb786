//go:build cgo

package reconcile_test

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/cas-reconciler/reconciler/internal/reconcile"
	"github.com/cas-reconciler/reconciler/pkg/plan"
)

// edited returns the files of dir with edit applied to the named file.
func edited(t *testing.T, dir, name string, edit func(string) string) fs.FS {
	t.Helper()
	return editedFiles(t, dir, map[string]func(string) string{name: edit})
}

func withConnection(conn string) func(string) string {
	return func(s string) string {
		return strings.Replace(s, `connection:  "`+connName+`"`, `connection:  "`+conn+`"`, 1)
	}
}

// TestChangedConnectionIsReplaced: naming another existing connection is a
// planned replace of the parent segment, held without
// prune.allowParentReplace, and with it apply moves the parent there.
func TestChangedConnectionIsReplaced(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.r.Run(ctx, snap(retail, "r1"), reconcile.Mode{}); err != nil {
		t.Fatal(err)
	}
	// A fresh client, as in the CLI: it has never resolved a name.
	e.r.Remote = newClient(t, e.td)
	moved := reconcile.Snapshot{Revision: "r2", FS: edited(t, retail, "parent.cue", withConnection(otherConn))}
	res, err := e.r.Run(ctx, moved, reconcile.Mode{DryRun: true})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	var found *plan.Change
	for i := range res.Plan.Changes {
		if c := &res.Plan.Changes[i]; c.Kind == plan.KindParent {
			found = c
		}
	}
	if found == nil || found.Action != plan.Replace || len(found.Diff) == 0 || found.Diff[0].Path != "connection" ||
		!strings.Contains(found.Diff[0].After, otherConn) {
		t.Fatalf("parent change = %+v; want a replace of the connection (%s)", found, plan.SummaryLine(res.Plan))
	}
	if found.BlockedBy != plan.BlockParentReplace {
		t.Errorf("replace without prune.allowParentReplace is blocked by %q, want %q", found.BlockedBy, plan.BlockParentReplace)
	}
	if _, err := e.r.Run(ctx, moved, reconcile.Mode{}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if got := e.td.Parents()[0].ConnectionID; got != "341079" {
		t.Fatalf("a blocked replace moved the parent segment to connection %s", got)
	}
	e.r.Plan.Prune.AllowParentReplace = true
	if _, err := e.r.Run(ctx, moved, reconcile.Mode{}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if got := e.td.Parents()[0].ConnectionID; got != "341080" {
		t.Errorf("Treasure's parent segment uses connection %s after apply, want 341080", got)
	}
	res, err = e.r.Run(ctx, moved, reconcile.Mode{DryRun: true})
	if err != nil || res.Plan.HasChanges() {
		t.Errorf("plan after apply: %v, %s", err, plan.SummaryLine(res.Plan))
	}
}

// TestUnknownConnectionStalls: a connection Treasure does not have is an
// error naming it, the parent segment and the file position; nothing is
// planned or written, and the revision is not marked applied.
func TestUnknownConnectionStalls(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.r.Run(ctx, snap(retail, "r1"), reconcile.Mode{}); err != nil {
		t.Fatal(err)
	}
	before := e.writes()
	bad := reconcile.Snapshot{Revision: "r2", FS: edited(t, retail, "parent.cue", withConnection("no-such-connection"))}
	res, err := e.r.Run(ctx, bad, reconcile.Mode{})
	var st *reconcile.Stalled
	if !errors.As(err, &st) || st.Reason != reconcile.ReasonUnknownConnection {
		t.Fatalf("err = %v, want a stall %s", err, reconcile.ReasonUnknownConnection)
	}
	if res.Plan != nil {
		t.Errorf("a plan was computed: %s", plan.SummaryLine(res.Plan))
	}
	var msg string
	for _, d := range res.Diagnostics {
		if d.Code == reconcile.CodeUnknownConnection {
			msg = d.String()
		}
	}
	for _, want := range []string{"no-such-connection", "Retail Customers", "parent.cue:"} {
		if !strings.Contains(msg, want) {
			t.Errorf("diagnostic %q lacks %q", msg, want)
		}
	}
	if e.writes() != before {
		t.Errorf("%d writes", e.writes()-before)
	}
	if _, rev := e.r.LastApplied(); rev != "r1" {
		t.Errorf("LastApplied revision = %q, want r1", rev)
	}
}
