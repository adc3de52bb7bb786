package validate

import (
	"fmt"
	"testing"

	"github.com/cas-reconciler/reconciler/pkg/catalog"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// BenchmarkCheck validates one parent segment with 49 behavior tables of
// 40 columns (2,000 columns in all) and 200 segments with behavior
// conditions.
func BenchmarkCheck(b *testing.B) {
	tables := map[string][]catalog.Column{}
	p := segment.Parent{Name: "P", Customers: segment.KeyedTable{Table: tbl("t00"), Key: "c000"}}
	for i := range 50 {
		name := fmt.Sprintf("t%02d", i)
		var cols []catalog.Column
		for j := range 40 {
			typ := []string{"STRING", "BIGINT", "DECIMAL(12,2)", "TIMESTAMP"}[j%4]
			cols = append(cols, col(fmt.Sprintf("c%03d", j), typ))
		}
		tables[name] = cols
		if i == 0 {
			for j := 1; j < 40; j++ {
				p.Attributes = append(p.Attributes, segment.Attribute{Name: fmt.Sprintf("a%03d", j), Column: fmt.Sprintf("c%03d", j)})
			}
			continue
		}
		beh := segment.Behavior{Name: name, Table: tbl(name), Key: "c000", Time: "c003"}
		for j := 1; j < 40; j++ {
			beh.Columns = append(beh.Columns, segment.Column{Name: fmt.Sprintf("c%03d", j)})
		}
		p.Behaviors = append(p.Behaviors, beh)
	}
	num := segment.NumberOf(10)
	var segs []segment.Segment
	for i := range 200 {
		segs = append(segs, segment.Segment{Name: fmt.Sprint(i), Parent: "P", Rule: segment.Rule{Type: segment.And,
			Conditions: []segment.ConditionSet{{Type: segment.And, Conditions: []segment.Condition{{Type: segment.ValueCondition,
				Operator: &segment.Operator{Type: segment.Greater, RightValue: &num},
				LeftValue: &segment.LeftValue{Source: &segment.SourceRef{Name: fmt.Sprintf("t%02d", 1+i%49)},
					Aggregation: &segment.Aggregation{Type: segment.Sum, Column: "c002"}}}}}}}})
	}
	st := segment.State{Parents: []segment.Parent{p}, Segments: segs}
	cat := newCatalog(tables)
	b.ReportAllocs()
	for b.Loop() {
		if _, ds := Check(st, cat, Options{}); len(ds) != 0 {
			b.Fatal(ds)
		}
	}
}
