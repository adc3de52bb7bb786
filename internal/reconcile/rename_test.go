//go:build cgo

package reconcile_test

import (
	"context"
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/cas-reconciler/reconciler/internal/reconcile"
	"github.com/cas-reconciler/reconciler/internal/standin/tdstandin"
	"github.com/cas-reconciler/reconciler/pkg/plan"
)

// editedFiles returns the files of dir with each named file edited.
func editedFiles(t *testing.T, dir string, edits map[string]func(string) string) fs.FS {
	t.Helper()
	out := fstest.MapFS{}
	err := fs.WalkDir(os.DirFS(dir), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(os.DirFS(dir), p)
		if err != nil {
			return err
		}
		if edit := edits[p]; edit != nil {
			b = []byte(edit(string(b)))
		}
		out[p] = &fstest.MapFile{Data: b, Mode: 0o644}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func segmentNamed(td *tdstandin.Server, name string) *tdstandin.Segment {
	for _, s := range td.Segments() {
		if s.Name == name {
			return &s
		}
	}
	return nil
}

func folderNamed(td *tdstandin.Server, name string) *tdstandin.Folder {
	for _, f := range td.Folders() {
		if f.Name == name {
			return &f
		}
	}
	return nil
}

// TestRenameKeepsIdentity: renaming a referenced segment and its folder
// with renamedFrom updates both in place through Treasure's API: the ids
// stay, the referencing segment still points at the same id, nothing is
// deleted or created, and the next plan has no changes.
func TestRenameKeepsIdentity(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.r.Run(ctx, snap(retail, "r1"), reconcile.Mode{}); err != nil {
		t.Fatal(err)
	}
	vip, folder := segmentNamed(e.td, "VIP Customers"), folderNamed(e.td, "VIP")
	if vip == nil || folder == nil {
		t.Fatal("the retail repository has no segment VIP Customers or folder VIP")
	}
	referrer := ""
	for _, s := range e.td.Segments() {
		if strings.Contains(string(s.Rule), `"`+vip.ID+`"`) {
			referrer = s.Name
		}
	}
	if referrer == "" {
		t.Fatal("no segment references VIP Customers by id")
	}
	renamed := editedFiles(t, retail, map[string]func(string) string{
		"segments/marketing.cue": func(s string) string {
			s = strings.ReplaceAll(s, `"Marketing/VIP"`, `"Marketing/Premium"`)
			s = strings.Replace(s, `"VIP Customers": {`, `"Top Customers": {
		renamedFrom: ["VIP Customers"]`, 1)
			return s
		},
		"parent.cue": func(s string) string {
			return strings.Replace(s, `"Marketing/VIP": description: "High-value customers"`,
				`"Marketing/Premium": {description: "High-value customers", renamedFrom: ["Marketing/VIP"]}`, 1)
		},
		"segments/engagement.cue": func(s string) string {
			return strings.ReplaceAll(s, `segment: "VIP Customers"`, `segment: "Top Customers"`)
		},
	})
	before := e.writes()
	res, err := e.r.Run(ctx, reconcile.Snapshot{Revision: "r2", FS: renamed}, reconcile.Mode{})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	s := res.Plan.Summary()
	if s.Add != 0 || s.Destroy != 0 || s.Change != 2 {
		t.Errorf("plan %s, want exactly the two renames", plan.SummaryLine(res.Plan))
	}
	if top := segmentNamed(e.td, "Top Customers"); top == nil || top.ID != vip.ID || top.FolderID != folder.ID {
		t.Errorf("renamed segment %+v, want id %s in folder %s", top, vip.ID, folder.ID)
	}
	if f := folderNamed(e.td, "Premium"); f == nil || f.ID != folder.ID {
		t.Errorf("renamed folder %+v, want id %s", f, folder.ID)
	}
	if r := segmentNamed(e.td, referrer); r == nil || !strings.Contains(string(r.Rule), `"`+vip.ID+`"`) {
		t.Errorf("%s no longer references id %s: %+v", referrer, vip.ID, r)
	}
	if segmentNamed(e.td, "VIP Customers") != nil || folderNamed(e.td, "VIP") != nil {
		t.Error("the old names are still in Treasure")
	}
	if got := e.writes() - before; got != 2 {
		t.Errorf("%d writes, want 2 (one per rename)", got)
	}
	res, err = e.r.Run(ctx, reconcile.Snapshot{Revision: "r3", FS: renamed}, reconcile.Mode{DryRun: true})
	if err != nil || res.Plan.HasChanges() {
		t.Errorf("plan after the renames: %v, %s", err, plan.SummaryLine(res.Plan))
	}
}
