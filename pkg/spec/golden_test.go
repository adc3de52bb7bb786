package spec

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cas-reconciler/reconciler/pkg/diag"
)

var update = flag.Bool("update", false, "rewrite the expected.txt files of the broken repositories")

// render writes diagnostics the way `reconciler validate` does by default.
func render(ds diag.Diagnostics) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.String())
		b.WriteByte('\n')
		if d.Detail != "" {
			b.WriteString("    " + d.Detail + "\n")
		}
	}
	return b.String()
}

func load(t testing.TB, dir string) *Result {
	t.Helper()
	r, err := Load(context.Background(), os.DirFS(dir), Options{})
	if err != nil {
		t.Fatalf("Load(%s): %v", dir, err)
	}
	return r
}

// TestBrokenRepos compares the diagnostics of each broken repository with
// its expected.txt (go test -run TestBrokenRepos -update rewrites them).
func TestBrokenRepos(t *testing.T) {
	dirs, err := filepath.Glob("../../testdata/repos/broken-*")
	if err != nil || len(dirs) < 10 {
		t.Fatalf("want at least 10 broken repositories, found %d (%v)", len(dirs), err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			r := load(t, dir)
			if !r.Diagnostics.HasErrors() {
				t.Fatalf("no errors reported")
			}
			got := render(r.Diagnostics)
			golden := filepath.Join(dir, "expected.txt")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("diagnostics differ from %s\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

// TestSyntaxErrorIsolated checks that a file that does not parse hides
// neither the other files' segments nor their errors.
func TestSyntaxErrorIsolated(t *testing.T) {
	r := load(t, "../../testdata/repos/broken-syntax")
	var names []string
	for _, s := range r.State.Segments {
		names = append(names, s.Name)
	}
	if strings.Join(names, ",") != "Gold,Big Spenders" && strings.Join(names, ",") != "Big Spenders,Gold" {
		t.Errorf("segments = %v, want Big Spenders and Gold from the files that parse", names)
	}
	if n, _ := r.Diagnostics.Count(); n != 1 || r.Diagnostics[0].Code != "syntax" || r.Diagnostics[0].Pos.File != "bad.cue" {
		t.Errorf("diagnostics = %v, want one syntax error in bad.cue", r.Diagnostics)
	}
	if r.Files != 4 {
		t.Errorf("Files = %d, want 4", r.Files)
	}
}

func TestRenderHasPositions(t *testing.T) {
	r := load(t, "../../testdata/repos/broken-unknown-attribute")
	if !bytes.Contains([]byte(render(r.Diagnostics)), []byte("segments.cue:4:30: error: unknown attribute \"loyalty_teir\"")) {
		t.Errorf("rendered diagnostics lack the position of the unknown attribute:\n%s", render(r.Diagnostics))
	}
}

// TestEveryProblemReported checks that a segment that fails the schema
// still gets the semantic checks of its other parts, and that the schema's
// errors do not hide each other: every problem of every segment is
// reported, with its position, in one load.
func TestEveryProblemReported(t *testing.T) {
	r := load(t, "../../testdata/repos/broken-several-problems")
	want := []struct{ pos, code string }{
		// vip.cue: one segment with several different problems
		{"vip.cue:5:2", "unknown-field"},       // descripton
		{"vip.cue:6:14", "schema"},             // folder: 3
		{"vip.cue:8:33", "regexp"},             // "(["
		{"vip.cue:9:11", "unknown-segment"},    // notIn: "Nowhere"
		{"vip.cue:10:43", "unknown-field"},     // within.weeks
		{"vip.cue:11:15", "unknown-attribute"}, // loyalty_teir
		{"vip.cue:12:34", "unknown-column"},    // amont
		// rules.cue: a second broken segment, in full v5 form
		{"rules.cue:5:8", "schema"},            // kind "realtime"
		{"rules.cue:11:62", "schema"},          // operator GreaterThan
		{"rules.cue:12:86", "regexp"},          // "a{2,1}"
		{"rules.cue:13:34", "unknown-segment"}, // "Lost"
		{"rules.cue:14:55", "operator-type"},   // Greater on a boolean
	}
	got := map[string]bool{}
	for _, d := range r.Diagnostics {
		got[d.Pos.String()+" "+d.Code] = true
	}
	for _, w := range want {
		if !got[w.pos+" "+w.code] {
			t.Errorf("no %s error at %s", w.code, w.pos)
		}
	}
	if n, _ := r.Diagnostics.Count(); n != len(want) {
		t.Errorf("%d errors, want %d:\n%s", n, len(want), render(r.Diagnostics))
	}
	for _, s := range r.State.Segments {
		if s.Name != "Fine" {
			t.Errorf("segment %q that failed the schema is in the state", s.Name)
		}
	}
	if len(r.State.Segments) != 1 {
		t.Errorf("state has %d segments, want the one valid segment", len(r.State.Segments))
	}
}
