package treasure

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/standin/tdstandin"
	"github.com/cas-reconciler/reconciler/pkg/segment"
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

// BenchmarkObserveRestart observes 10,000 segments in 200 folders with a
// new client each time (a restart) at the default rate limit (2 requests/s,
// burst 2) on fake time: "cold" without a saved rule cache, "saved" with
// Options.RuleCacheFile written by an earlier client. It reports the
// requests and the seconds the rate limit alone costs per observe
// (s-at-2rps); ns/op is the CPU and stand-in time.
func BenchmarkObserveRestart(b *testing.B) {
	for _, saved := range []bool{false, true} {
		name := "cold"
		if saved {
			name = "saved"
		}
		b.Run(name, func(b *testing.B) {
			e := newEnv(b, noLimit)
			seedLarge(b, e, 200, 50)
			ctx := context.Background()
			file := filepath.Join(b.TempDir(), "rules.json")
			limited := func(o *Options) { o.RateLimit, o.Burst = 2, 2 }
			if saved {
				warm := e.client(b, func(o *Options) { o.RuleCacheFile = file })
				if _, err := warm.Observe(ctx, []string{"Retail"}); err != nil {
					b.Fatal(err)
				}
			}
			e.srv.ResetLog()
			var waited time.Duration
			b.ResetTimer()
			for b.Loop() {
				c := e.client(b, func(o *Options) {
					limited(o)
					if saved {
						o.RuleCacheFile = file
					}
				})
				t0 := e.clock.Now()
				st, err := c.Observe(ctx, []string{"Retail"})
				if err != nil {
					b.Fatal(err)
				}
				waited += e.clock.Now().Sub(t0)
				if len(st.Segments) != 10000 {
					b.Fatalf("%d segments", len(st.Segments))
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(len(e.srv.Requests()))/float64(b.N), "requests/op")
			b.ReportMetric(waited.Seconds()/float64(b.N), "s-at-2rps/op")
		})
	}
}

// BenchmarkOneChangeRun is the Treasure part of a run that applies one
// changed segment, at the default rate limit (2 requests/s, burst 2) on
// real time against the stand-in holding 1,000 segments in 20 folders:
// Observe, ResolveConnection, UpdateSegment, with a warm client that was
// idle for a second before (as between webhook deliveries; the idle time
// is not measured). It reports the median (p50-ms) besides the mean.
func BenchmarkOneChangeRun(b *testing.B) {
	e := newEnv(b, noLimit)
	seedLarge(b, e, 20, 50)
	ctx := context.Background()
	c := e.client(b, func(o *Options) {
		o.RateLimit, o.Burst = 2, 2
		o.Now, o.Sleep = time.Now, sleepCtx
	})
	st, err := c.Observe(ctx, []string{"Retail"})
	if err != nil {
		b.Fatal(err)
	}
	e.srv.ResetLog()
	var ds []time.Duration
	i := 0
	for b.Loop() {
		b.StopTimer()
		time.Sleep(time.Second)
		i++
		s := st.Segments[i%len(st.Segments)]
		s.Rule = valueRule("country", fmt.Sprint("X", i))
		b.StartTimer()
		t0 := time.Now()
		if _, err := c.Observe(ctx, []string{"Retail"}); err != nil {
			b.Fatal(err)
		}
		if _, err := c.ResolveConnection(ctx, connName); err != nil {
			b.Fatal(err)
		}
		if _, err := c.UpdateSegment(ctx, s.Meta.ID, "", &s); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(len(e.srv.Requests()))/float64(b.N), "requests/op")
}

// BenchmarkRuleCacheSave: saving the rule cache of N segments
// (RULE_BENCH_N, default 100,000) after one rule changed: appended as a
// record (what a save does) against the file rewritten whole (what it did
// before records, and still does when they grow), in turn.
func BenchmarkRuleCacheSave(b *testing.B) {
	n := 100000
	if v, err := strconv.Atoi(os.Getenv("RULE_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	var rule segment.Rule
	if err := json.Unmarshal([]byte(`{"type":"And","conditions":[{"type":"And","conditions":[{"type":"Value","leftValue":{"name":"country"},"operator":{"type":"Equal","not":false,"rightValue":"JP"},"arrayMatching":null,"exclude":false},{"type":"Value","leftValue":{"name":"ltv"},"operator":{"type":"Greater","not":false,"rightValue":1000},"arrayMatching":null,"exclude":false}]}]}`), &rule); err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"append", "rewrite"} {
		b.Run(mode, func(b *testing.B) {
			e := newEnv(b, noLimit)
			c := e.client(b, func(o *Options) { o.RuleCacheFile = filepath.Join(b.TempDir(), "rules.json") })
			<-c.rulesLoaded
			for i := range n {
				c.remember(strconv.Itoa(i), "2026-12-01T00:00:00Z", &rule)
			}
			c.saveRuleCache()
			i := 0
			for b.Loop() {
				i++
				c.remember(strconv.Itoa(i%n), "2026-12-02T00:00:"+strconv.Itoa(i%60)+"Z", &rule)
				if mode == "rewrite" {
					c.mu.Lock()
					c.ruleFile.appendable = false
					c.mu.Unlock()
				}
				c.saveRuleCache()
			}
			fi, err := os.Stat(c.o.RuleCacheFile)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(fi.Size())/(1<<20), "file-MiB")
		})
	}
}
