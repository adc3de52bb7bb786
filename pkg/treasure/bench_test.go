package treasure

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/cas-reconciler/reconciler/pkg/tdstandin"
)

// seedLarge stores folders × perFolder segments directly in the stand-in,
// as a console user would have made them (no ownership marker).
func seedLarge(b testing.TB, e *env, folders, perFolder int) []string {
	b.Helper()
	p := e.mustParent(b, "Retail")
	var ids []string
	for i := range folders {
		f, err := e.srv.AddFolder(p.RootFolderID, fmt.Sprintf("F%03d", i), "", "seed")
		if err != nil {
			b.Fatal(err)
		}
		for j := range perFolder {
			rule := json.RawMessage(fmt.Sprintf(`{"type":"And","conditions":[{"type":"And","conditions":[{"type":"Value","leftValue":{"name":"country"},"operator":{"type":"Equal","not":false,"rightValue":"C%d"},"arrayMatching":null,"exclude":false}]}]}`, j))
			s, err := e.srv.AddSegment(f.ID, fmt.Sprintf("S%03d-%03d", i, j), "", rule, "seed")
			if err != nil {
				b.Fatal(err)
			}
			ids = append(ids, s.ID)
		}
	}
	return ids
}

// BenchmarkObserveUnchanged observes 10,000 unchanged segments in 200
// folders with a warm client and reports the requests per observe.
func BenchmarkObserveUnchanged(b *testing.B) {
	e := newEnv(b, noLimit)
	seedLarge(b, e, 200, 50)
	ctx := context.Background()
	if _, err := e.c.Observe(ctx, []string{"Retail"}); err != nil { // warm the rule cache
		b.Fatal(err)
	}
	e.srv.ResetLog()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		st, err := e.c.Observe(ctx, []string{"Retail"})
		if err != nil {
			b.Fatal(err)
		}
		if len(st.Segments) != 10000 {
			b.Fatalf("%d segments", len(st.Segments))
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(len(e.srv.Requests()))/float64(b.N), "requests/op")
}

// BenchmarkObserveOneChanged changes one segment by hand before every
// observe and reports the requests per observe.
func BenchmarkObserveOneChanged(b *testing.B) {
	e := newEnv(b, noLimit)
	ids := seedLarge(b, e, 200, 50)
	ctx := context.Background()
	if _, err := e.c.Observe(ctx, []string{"Retail"}); err != nil {
		b.Fatal(err)
	}
	e.srv.ResetLog()
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		if err := e.srv.ModifySegment(ids[i%len(ids)], "alice", func(s *tdstandin.Segment) { s.Description = fmt.Sprint(i) }); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := e.c.Observe(ctx, []string{"Retail"}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(len(e.srv.Requests()))/float64(b.N), "requests/op")
}

// BenchmarkObserveCold observes 10,000 segments with an empty cache (every
// rule read from its detail endpoint).
func BenchmarkObserveCold(b *testing.B) {
	e := newEnv(b, noLimit)
	seedLarge(b, e, 200, 50)
	ctx := context.Background()
	e.srv.ResetLog()
	b.ResetTimer()
	for b.Loop() {
		c := e.client(b, func(o *Options) {})
		if _, err := c.Observe(ctx, []string{"Retail"}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(len(e.srv.Requests()))/float64(b.N), "requests/op")
}
