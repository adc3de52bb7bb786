package spec

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

// FuzzLoad feeds arbitrary bytes to Load as one file beside a valid parent
// segment: Load must not panic and must either succeed or report
// diagnostics with positions in that file.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("../../testdata/repos/*/*.cue")
	more, _ := filepath.Glob("../../testdata/repos/*/segments/*.cue")
	examples, _ := filepath.Glob("../../examples/*/*.cue")
	exampleSegments, _ := filepath.Glob("../../examples/*/segments/*.cue")
	for _, name := range append(append(files, more...), append(examples, exampleSegments...)...) {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("segments: a: where: [{attribute: \"ltv\", atLeast: 1}]"))
	f.Add([]byte("segments: a: rule: {type: \"Composite\", expr: \"(\", conditions: []}"))
	f.Fuzz(func(t *testing.T, src []byte) {
		r, err := Load(context.Background(), fstest.MapFS{
			"parent.cue": {Data: []byte(shopParent)},
			"fuzz.cue":   {Data: src},
		}, Options{Workers: 1})
		if err != nil {
			t.Fatalf("Load returned an internal error: %v", err)
		}
		for _, d := range r.Diagnostics {
			if !d.Pos.IsValid() {
				t.Errorf("diagnostic without a file: %v", d)
			}
		}
	})
}
