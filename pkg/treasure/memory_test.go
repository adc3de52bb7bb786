package treasure

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"unsafe"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// benchWireRule is the rule (wire form) of the i-th segment of the daemon
// benchmark's generated repository (test/e2e): an attribute threshold and
// a behavior count within 30 days.
func benchWireRule(i int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"type":"And","conditions":[{"type":"And","conditions":[`+
		`{"type":"Value","leftValue":{"name":"ltv"},"operator":{"type":"GreaterEqual","not":false,"rightValue":%d},"arrayMatching":null,"exclude":false},`+
		`{"type":"Value","leftValue":{"source":{"name":"orders"},"aggregation":{"type":"Count"},"filter":{},"window":{"type":"TimeSliding","duration":{"day":30}}},"operator":{"type":"GreaterEqual","not":false,"rightValue":2},"arrayMatching":null,"exclude":false}]}]}`,
		100+i%1000))
}

// heapInUse returns the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// writeBenchRuleCache writes a saved rule cache of n rules for the client
// options o and returns the ids and updatedAt of each.
func writeBenchRuleCache(tb testing.TB, o Options, n int) (ids []string, updatedAt string) {
	tb.Helper()
	updatedAt = "2026-12-07T00:00:00Z"
	entries := make(map[string]ruleCacheEntry, n)
	for i := range n {
		id := strconv.Itoa(100000 + i)
		ids = append(ids, id)
		entries[id] = ruleCacheEntry{UpdatedAt: updatedAt, Rule: benchWireRule(i)}
	}
	if err := writeRuleCache(o.RuleCacheFile, o.CDPURL, o.Owner, entries); err != nil {
		tb.Fatal(err)
	}
	return ids, updatedAt
}

// BenchmarkHeldRules reports the live heap of a client's rule cache
// loaded from a saved file of BENCH_RULES rules (default 100,000:
// rules-MB) and of the rules of an observation taken from it
// (observed-MB), as the daemon holds them between runs.
func BenchmarkHeldRules(b *testing.B) {
	n := 100000
	if s := os.Getenv("BENCH_RULES"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	o := Options{CDPURL: "http://cdp.invalid", Owner: "bench", APIKey: "1/x", RuleCacheFile: filepath.Join(b.TempDir(), "rules.json")}
	ids, updatedAt := writeBenchRuleCache(b, o, n)
	var rules, observed float64
	for b.Loop() {
		before := heapInUse()
		c, err := New(o)
		if err != nil {
			b.Fatal(err)
		}
		<-c.rulesLoaded
		loaded := heapInUse()
		st := make([]segment.Segment, len(ids))
		for i, id := range ids {
			r, ok := c.cached(id, updatedAt)
			if !ok {
				b.Fatalf("rule %s not cached", id)
			}
			st[i].Rule = r
		}
		after := heapInUse()
		rules, observed = float64(loaded-before)/1e6, float64(after-loaded-uint64(cap(st))*uint64(sizeofSegment))/1e6
		runtime.KeepAlive(c)
		runtime.KeepAlive(st)
	}
	b.ReportMetric(rules, "rules-MB")
	b.ReportMetric(observed, "observed-rules-MB")
}

var sizeofSegment = func() uintptr { var s segment.Segment; return unsafe.Sizeof(s) }()

// TestCachedRuleSharesStorage: a rule without references that an
// observation takes from the cache is the cache's own (no copy per
// observation), while one with a reference by id has its own conditions,
// which resolveNames may set without changing the cache.
func TestCachedRuleSharesStorage(t *testing.T) {
	c := &Client{rules: map[string]cachedRule{}, changed: map[string]bool{}}
	var plain, ref segment.Rule
	if err := json.Unmarshal(benchWireRule(1), &plain); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(`{"type":"And","conditions":[{"type":"And","conditions":[{"type":"Reference","id":"7"}]}]}`), &ref); err != nil {
		t.Fatal(err)
	}
	c.remember("1", "t", &plain)
	c.remember("2", "t", &ref)
	got, ok := c.cached("1", "t")
	if !ok {
		t.Fatal("rule 1 not cached")
	}
	if &got.Conditions[0].Conditions[0] != &c.rules["1"].rule.Conditions[0].Conditions[0] {
		t.Error("the observed rule without references is a copy of the cached one")
	}
	got, ok = c.cached("2", "t")
	if !ok {
		t.Fatal("rule 2 not cached")
	}
	resolveNames(&got, map[string]string{"7": "Seven"})
	if s := c.rules["2"].rule.Conditions[0].Conditions[0].Segment; s != "" {
		t.Errorf("resolving the observed rule's names changed the cached rule: Segment %q", s)
	}
}
