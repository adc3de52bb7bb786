package plan

import (
	"fmt"
	"testing"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// BenchmarkCompute10000 plans 10,000 segments in 200 folders against an
// observed state that matches except for one changed segment.
func BenchmarkCompute10000(b *testing.B) {
	p := parent()
	op := parent()
	op.Meta = owned("1")
	desired := segment.State{Parents: []segment.Parent{p}}
	observed := segment.State{Parents: []segment.Parent{op}}
	for f := range 200 {
		path := fmt.Sprintf("F%03d", f)
		desired.Folders = append(desired.Folders, segment.Folder{Parent: parentName, Path: path})
		observed.Folders = append(observed.Folders, segment.Folder{Parent: parentName, Path: path, Meta: owned(fmt.Sprint(100 + f))})
	}
	for i := range 10000 {
		s := seg(fmt.Sprintf("S%05d", i), fmt.Sprintf("F%03d", i%200), valueRule("ltv", float64(i)))
		if i > 0 && i%10 == 0 {
			s.Rule.Conditions[0].Conditions = append(s.Rule.Conditions[0].Conditions,
				segment.Condition{Type: "Reference", Segment: fmt.Sprintf("S%05d", i-1)})
		}
		desired.Segments = append(desired.Segments, s)
		o := s
		o.Meta = owned(fmt.Sprint(10000 + i))
		if i == 5000 {
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
