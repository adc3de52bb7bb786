package treasure

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/standin/tdstandin"
	"github.com/cas-reconciler/reconciler/pkg/segment"
	"github.com/google/go-cmp/cmp"
)

// TestRuleCacheFileSurvivesRestart observes 200 segments with a client
// that saves its rule cache, then with new clients (restarts) on the same
// file: intact, a restart costs the listings only; with one segment changed
// by hand meanwhile, one detail read more and the new rule; with the file
// corrupt, truncated, or written for another owner, every rule is read
// again and the result is the same.
func TestRuleCacheFileSurvivesRestart(t *testing.T) {
	e := newEnv(t, noLimit)
	ctx := context.Background()
	p := e.mustParent(t, "Retail")
	populate(t, e, p, 20, 10)
	file := filepath.Join(t.TempDir(), "cache", "rules.json")
	withFile := func(o *Options) { o.RuleCacheFile = file }

	observe := func(c *Client) (segment.State, int) {
		t.Helper()
		e.srv.ResetLog()
		st, err := c.Observe(ctx, []string{"Retail"})
		if err != nil {
			t.Fatal(err)
		}
		return st, len(e.srv.Requests())
	}
	// Listings: GET /audiences, GET /audiences/{id}, one by-folder.
	const listings = 3
	want, n := observe(e.client(t, withFile))
	if n != listings+200 {
		t.Fatalf("cold observe without a file: %d requests, want %d", n, listings+200)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("cache not saved: %v", err)
	}

	got, n := observe(e.client(t, withFile))
	if n != listings {
		t.Errorf("restart with the saved cache: %d requests, want %d", n, listings)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("restart with the saved cache observed otherwise (-before +after):\n%s", d)
	}

	// A stale entry: changed by hand after the file was saved.
	e.clock.Advance(time.Second)
	changed := want.Segments[7]
	if err := e.srv.ModifySegment(changed.Meta.ID, "alice", func(s *tdstandin.Segment) {
		s.Rule = []byte(`{"type":"And","conditions":[{"type":"And","conditions":[{"type":"Value","leftValue":{"name":"country"},"operator":{"type":"Equal","not":false,"rightValue":"XX"},"arrayMatching":null,"exclude":false}]}]}`)
	}); err != nil {
		t.Fatal(err)
	}
	got, n = observe(e.client(t, withFile))
	if n != listings+1 {
		t.Errorf("restart after a hand edit: %d requests, want %d", n, listings+1)
	}
	rule := ""
	for _, s := range got.Segments {
		if s.Meta.ID == changed.Meta.ID {
			rule = s.Rule.Conditions[0].Conditions[0].Operator.RightValue.String()
		}
	}
	if rule != `"XX"` {
		t.Errorf("hand-edited segment observed with right value %q, want XX", rule)
	}
	want, _ = observe(e.client(t, func(o *Options) {})) // the truth, without any file

	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	flip := append([]byte(nil), good...)
	// Change a rule's value inside the file without breaking its JSON.
	for i := len(flip) - 1; i > 0; i-- {
		if flip[i] == 'C' && flip[i-1] == '"' {
			flip[i] = 'D'
			break
		}
	}
	for name, content := range map[string][]byte{
		"truncated":   good[:len(good)/2],
		"edited":      flip,
		"empty":       {},
		"not json":    []byte("garbage"),
		"other owner": []byte(`{"version":1,"cdpURL":"` + e.c.o.CDPURL + `","owner":"someone-else"}`),
		"old version": []byte(`{"version":0}`),
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(file, content, 0o600); err != nil {
				t.Fatal(err)
			}
			got, n := observe(e.client(t, withFile))
			if n != listings+200 {
				t.Errorf("%d requests, want every rule read again (%d)", n, listings+200)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("observed otherwise than without a file (-want +got):\n%s", d)
			}
			// And the file is good again.
			if _, n := observe(e.client(t, withFile)); n != listings {
				t.Errorf("next restart: %d requests, want %d", n, listings)
			}
		})
	}
	// A file for another owner's client is not used even when intact.
	other := e.client(t, func(o *Options) { o.RuleCacheFile = file; o.Owner = "other" })
	e.srv.ResetLog()
	if _, err := other.Observe(ctx, []string{"Retail"}); err != nil {
		t.Fatal(err)
	}
	if n := len(e.srv.Requests()); n != listings+200 {
		t.Errorf("another owner's client: %d requests, want %d", n, listings+200)
	}
}

// TestRuleCacheFileAppendsChanges: a save after a few rules changed appends
// them as one record and leaves the rules saved before as they are on
// disk; restarts read the records (a removal included) and need only the
// listings; a record cut short is ignored from there (its rules read
// again) and the next save rewrites the file whole, as does a save of
// more changed rules than a quarter of the file's.
func TestRuleCacheFileAppendsChanges(t *testing.T) {
	e := newEnv(t, noLimit)
	ctx := context.Background()
	p := e.mustParent(t, "Retail")
	populate(t, e, p, 20, 10)
	file := filepath.Join(t.TempDir(), "rules.json")
	withFile := func(o *Options) { o.RuleCacheFile = file }
	const listings = 3
	observe := func(c *Client) (segment.State, int) {
		t.Helper()
		e.srv.ResetLog()
		st, err := c.Observe(ctx, []string{"Retail"})
		if err != nil {
			t.Fatal(err)
		}
		return st, len(e.srv.Requests())
	}
	lines := func() [][]byte {
		t.Helper()
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
	}
	edit := func(id, value string) {
		t.Helper()
		e.clock.Advance(time.Second)
		if err := e.srv.ModifySegment(id, "alice", func(s *tdstandin.Segment) {
			s.Rule = []byte(`{"type":"And","conditions":[{"type":"And","conditions":[{"type":"Value","leftValue":{"name":"country"},"operator":{"type":"Equal","not":false,"rightValue":"` + value + `"},"arrayMatching":null,"exclude":false}]}]}`)
		}); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := observe(e.client(t, withFile))
	base := lines()
	if len(base) != 1 {
		t.Fatalf("first save: %d lines, want 1", len(base))
	}

	edit(st.Segments[3].Meta.ID, "XA")
	c := e.client(t, withFile)
	if _, n := observe(c); n != listings+1 {
		t.Errorf("restart after a hand edit: %d requests, want %d", n, listings+1)
	}
	after := lines()
	if len(after) != 2 || !bytes.Equal(after[0], base[0]) || len(after[1]) > len(base[0])/20 {
		t.Fatalf("save of one changed rule: %d lines (first unchanged: %v), want the first as it was and one short record",
			len(after), len(after) > 0 && bytes.Equal(after[0], base[0]))
	}
	gone := st.Segments[5].Meta.ID
	if err := c.DeleteSegment(ctx, gone); err != nil {
		t.Fatal(err)
	}
	observe(c)
	edit(st.Segments[8].Meta.ID, "XB")
	observe(e.client(t, withFile))
	if l := lines(); len(l) != 4 {
		t.Fatalf("after a delete and another edit: %d lines, want 4", len(l))
	}
	truth, _ := observe(e.client(t, func(*Options) {}))
	got, n := observe(e.client(t, withFile))
	if n != listings {
		t.Errorf("restart with records: %d requests, want %d", n, listings)
	}
	if d := cmp.Diff(truth, got); d != "" {
		t.Errorf("restart with records observed otherwise (-truth +got):\n%s", d)
	}

	// The last record cut short, as by a crash while appending.
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b[:len(b)-20], 0o600); err != nil {
		t.Fatal(err)
	}
	got, n = observe(e.client(t, withFile))
	if n != listings+1 {
		t.Errorf("restart with a torn last record: %d requests, want %d (its one rule read again)", n, listings+1)
	}
	if d := cmp.Diff(truth, got); d != "" {
		t.Errorf("restart with a torn record observed otherwise (-truth +got):\n%s", d)
	}
	if l := lines(); len(l) != 1 {
		t.Errorf("save after a torn record: %d lines, want the file rewritten whole", len(l))
	}
	if _, n := observe(e.client(t, withFile)); n != listings {
		t.Errorf("restart after the rewrite: %d requests, want %d", n, listings)
	}

	// Many changes at once: rewritten whole, not appended.
	for i := range 120 {
		if s := st.Segments[i]; s.Meta.ID != gone {
			edit(s.Meta.ID, "XC")
		}
	}
	if _, n := observe(e.client(t, withFile)); n != listings+119 {
		t.Errorf("restart after 119 hand edits: %d requests, want %d", n, listings+119)
	}
	if l := lines(); len(l) != 1 {
		t.Errorf("save of 119 changed rules of 199: %d lines, want the file rewritten whole", len(l))
	}
}
