package plan

import (
	"fmt"
	"testing"

	"github.com/cas-reconciler/reconciler/pkg/diag"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// BenchmarkCompute10000 plans 10,000 segments in 200 folders (every tenth
// referencing another) against an observed state that matches except for
// one changed segment.
func BenchmarkCompute10000(b *testing.B) { benchCompute(b, 10000) }

// BenchmarkCompute100000 is BenchmarkCompute10000 at 100,000 segments in
// 2,000 folders: the plan stage of a no-op daemon run at scale.
func BenchmarkCompute100000(b *testing.B) { benchCompute(b, 100000) }

func benchCompute(b *testing.B, n int) {
	folders := n / 50
	p := parent()
	op := parent()
	op.Meta = owned("1")
	desired := segment.State{Parents: []segment.Parent{p}}
	observed := segment.State{Parents: []segment.Parent{op}}
	for f := range folders {
		path := fmt.Sprintf("F%04d", f)
		desired.Folders = append(desired.Folders, segment.Folder{Parent: parentName, Path: path})
		observed.Folders = append(observed.Folders, segment.Folder{Parent: parentName, Path: path, Meta: owned(fmt.Sprint(100 + f))})
	}
	for i := range n {
		s := seg(fmt.Sprintf("S%06d", i), fmt.Sprintf("F%04d", i%folders), valueRule("ltv", float64(i)))
		if i > 0 && i%10 == 0 {
			s.Rule.Conditions[0].Conditions = append(s.Rule.Conditions[0].Conditions,
				segment.Condition{Type: "Reference", Segment: fmt.Sprintf("S%06d", i-1)})
		}
		s.Rule.Origin = segment.Origin{Pos: diag.Pos{File: "segments.cue", Line: i + 1, Col: 3}}
		desired.Segments = append(desired.Segments, s)
		// The observed side is decoded separately, as from the wire: its
		// own slices, positions absent, references carrying ids.
		o := seg(s.Name, s.Folder, valueRule("ltv", float64(i)))
		if i > 0 && i%10 == 0 {
			o.Rule.Conditions[0].Conditions = append(o.Rule.Conditions[0].Conditions,
				segment.Condition{Type: "Reference", Segment: fmt.Sprintf("S%06d", i-1), ID: fmt.Sprint(1000000 + i - 1)})
		}
		o.Meta = owned(fmt.Sprint(1000000 + i))
		if i == n/2 {
			o.Description = "changed by hand"
		}
		observed.Segments = append(observed.Segments, o)
	}
	opts := defaultOpts()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		pl := Compute(desired, observed, opts)
		if s := pl.Summary(); s.Change != 1 {
			b.Fatalf("summary %+v", s)
		}
	}
}
