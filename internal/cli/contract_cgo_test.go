//go:build cgo

package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cas-reconciler/reconciler/internal/standin/tdstandin"
)

// copyTree copies the files below src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPipelineOnEitherContract runs apply, plan, drift, prune and import
// against a Treasure stand-in that answers everything the client reads and
// against one that answers only the documented fields: both reach "No
// changes." after apply, revert a hand edit, delete exactly the segment
// removed from the repository, and never touch the parent segment again.
func TestPipelineOnEitherContract(t *testing.T) {
	for name, documented := range map[string]bool{"full": false, "documented": true} {
		t.Run(name, func(t *testing.T) {
			cfg, td := cliEnvWith(t, tdstandin.Options{DocumentedOnly: documented})
			dir := t.TempDir()
			copyTree(t, "../../examples/retail", dir)
			// An attribute group: written to Treasure, but not a field of
			// the documented response.
			parentFile := filepath.Join(dir, "parent.cue")
			pb, err := os.ReadFile(parentFile)
			if err != nil {
				t.Fatal(err)
			}
			grouped := strings.Replace(string(pb), `country: type: "string"`, `country: {type: "string", group: "Profile"}`, 1)
			if grouped == string(pb) {
				t.Fatal("examples/retail/parent.cue changed: no country attribute")
			}
			if err := os.WriteFile(parentFile, []byte(grouped), 0o644); err != nil {
				t.Fatal(err)
			}

			code, out, errOut := run(t, "", "apply", "--config", cfg, "--auto-approve", dir)
			if code != exitOK || !strings.Contains(out, "Apply complete! 37 succeeded, 0 failed, 0 skipped.") {
				t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
			}
			var b []byte
			parentAt := td.Parents()[0].UpdatedAt
			noChanges := func(step string) {
				t.Helper()
				code, out, errOut := run(t, "", "plan", "--config", cfg, "--detailed-exitcode", dir)
				if code != exitOK || !strings.Contains(out, "No changes.") {
					t.Fatalf("plan %s: exit %d\n%s\n%s", step, code, out, errOut)
				}
			}
			noChanges("after apply")

			// A hand edit of a segment is planned back and reverted.
			var id string
			for _, sg := range td.Segments() {
				if sg.Name == "A Names" {
					id = sg.ID
				}
			}
			err = td.ModifySegment(id, "alice", func(sg *tdstandin.Segment) {
				// Keep the ownership marker, the description's last line.
				sg.Description = "edited by hand\n\n" + sg.Description[strings.LastIndex(sg.Description, "[managed-by"):]
			})
			if err != nil {
				t.Fatal(err)
			}
			code, out, errOut = run(t, "", "plan", "--config", cfg, "--detailed-exitcode", dir)
			if code != exitChanges || !strings.Contains(out, `~ segment "A Names"`) || !strings.Contains(out, "0 to add, 1 to change, 0 to replace, 0 to destroy") {
				t.Fatalf("plan after a hand edit: exit %d\n%s\n%s", code, out, errOut)
			}
			if code, out, errOut = run(t, "", "apply", "--config", cfg, "--auto-approve", dir); code != exitOK {
				t.Fatalf("apply of the reverted edit: exit %d\n%s\n%s", code, out, errOut)
			}
			noChanges("after reverting the edit")

			// A segment removed from the repository is pruned, nothing else.
			stores := filepath.Join(dir, "segments", "stores.cue")
			b, err = os.ReadFile(stores)
			if err != nil {
				t.Fatal(err)
			}
			src := string(b)
			i := strings.Index(src, "\t\"A Names\": {")
			j := strings.Index(src, "\t\"Not Subscribed Web Shoppers\"")
			if i < 0 || j < i {
				t.Fatal("examples/retail/segments/stores.cue changed: A Names not found before Not Subscribed Web Shoppers")
			}
			if err := os.WriteFile(stores, []byte(src[:i]+src[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, errOut = run(t, "", "apply", "--config", cfg, "--auto-approve", dir)
			if code != exitOK || !strings.Contains(out, "Apply complete! 1 succeeded, 0 failed, 0 skipped.") {
				t.Fatalf("apply of the removal: exit %d\n%s\n%s", code, out, errOut)
			}
			if n := len(td.Segments()); n != 27 {
				t.Errorf("Treasure holds %d segments after the prune, want 27", n)
			}
			noChanges("after the prune")
			if got := td.Parents()[0].UpdatedAt; !got.Equal(parentAt) {
				t.Errorf("the parent segment was written again (updated %v, created %v)", got, parentAt)
			}

			// Import what exists and plan it: nothing to do.
			out2 := t.TempDir()
			code, out, errOut = run(t, "", "import", "--config", cfg, "--parent", "Retail Customers", "--connection", "databricks-retail", "--activation-connections", "s3-retail-exports", "--out", out2)
			if code != exitOK {
				t.Fatalf("import: exit %d\n%s\n%s", code, out, errOut)
			}
			code, out, errOut = run(t, "", "plan", "--config", cfg, "--detailed-exitcode", out2)
			if code != exitOK || !strings.Contains(out, "No changes.") {
				t.Fatalf("plan of the imported files: exit %d\n%s\n%s", code, out, errOut)
			}
		})
	}
}
