//go:build cgo

package daemon

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cas-reconciler/reconciler/internal/standin/tdstandin"
)

var segmentFiles = []string{"segments/engagement.cue", "segments/lifecycle.cue", "segments/marketing.cue", "segments/stores.cue"}

// logLines returns the log records with message msg.
func (h *harness) logLines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(h.logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// TestDaemonSaysWhenTreasureDoesNotMatch pushes a commit that removes
// every segment file: the deletes are blocked (prune.allowEmpty), and the
// source must not read as healthy: not ready in /status and its gauge,
// the plan's summary says Treasure does not match, a metric counts the
// blocked changes by reason, and a log line at warn says so. A conflict
// does the same. A stalled revision then shows no plan at all, not the
// previous revision's.
func TestDaemonSaysWhenTreasureDoesNotMatch(t *testing.T) {
	h := newHarness(t)
	first := h.waitFor(t, "the first run", func(s SourceStatus) bool { return s.LastRun != nil && !s.Running })
	if !first.Ready || first.Plan == nil || first.Plan.Unresolved != 0 {
		t.Fatalf("first run: ready %v, plan %+v", first.Ready, first.Plan)
	}
	segments := len(h.td.Segments())

	// Every segment file removed.
	empty := h.repo.Remove(t, "remove every segment", segmentFiles...)
	h.push(t, empty)
	st := h.waitFor(t, "the run of the empty revision", func(s SourceStatus) bool { return s.Revision == empty && !s.Running })
	if st.LastRun.Result != "success" || st.Plan == nil {
		t.Fatalf("run of the empty revision: %+v, plan %+v", st.LastRun, st.Plan)
	}
	if st.Ready {
		t.Errorf("ready with %d blocked deletes (%s)", st.Plan.Blocked, st.Plan.Text)
	}
	if st.Plan.Revision != empty || st.Plan.Unresolved == 0 || st.Plan.Blocked != st.Plan.Unresolved {
		t.Errorf("plan of the empty revision: revision %s, %d unresolved, %d blocked", st.Plan.Revision, st.Plan.Unresolved, st.Plan.Blocked)
	}
	if strings.Contains(st.Plan.Text, "No changes") || !strings.Contains(st.Plan.Text, "does not match the repository") {
		t.Errorf("plan summary %q reads as if nothing were left", st.Plan.Text)
	}
	if !strings.HasPrefix(st.Summary, "not ready") || !strings.Contains(st.Summary, "prune.allowEmpty") {
		t.Errorf("source summary %q does not say it is not ready and why", st.Summary)
	}
	if n := len(h.td.Segments()); n != segments {
		t.Errorf("%d segments in Treasure, want all %d kept", n, segments)
	}
	m := h.metrics(t)
	for _, want := range []string{
		`reconciler_source_ready{source="retail"} 0`,
		`reconciler_prune_blocked{source="retail"} 1`,
		fmt.Sprintf(`reconciler_unresolved_changes{reason="empty",source="retail"} %d`, st.Plan.Unresolved),
		`reconciler_unresolved_changes{reason="conflict",source="retail"} 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grep(m, "reconciler_unresolved_changes"))
		}
	}
	warned := false
	for _, rec := range h.logLines(t, "run finished, not ready: changes left unresolved") {
		if rec["level"] == "WARN" && rec["revision"] == empty[:12] {
			warned = true
		}
	}
	if !warned {
		t.Error("no warning in the log for the revision that left deletes blocked")
	}
	checkStatusKeys(t, h)

	// The files back, and one segment made by hand in Treasure (no
	// ownership marker): a conflict.
	files := map[string]string{}
	for _, f := range segmentFiles {
		b, err := os.ReadFile(filepath.Join(retailDir, f))
		if err != nil {
			t.Fatal(err)
		}
		files[f] = string(b)
	}
	back := h.repo.Commit(t, "bring the segments back", files)
	h.push(t, back)
	h.waitFor(t, "the restored revision", func(s SourceStatus) bool { return s.Revision == back && !s.Running && s.Ready })
	victim := h.td.Segments()[0]
	if err := h.td.ModifySegment(victim.ID, "someone", func(seg *tdstandin.Segment) {
		if i := strings.Index(seg.Description, "[managed-by"); i >= 0 {
			seg.Description = strings.TrimSpace(seg.Description[:i])
		}
	}); err != nil {
		t.Fatal(err)
	}
	id := h.status(t).LastRun.ID
	resp, err := http.Post(h.base+"/api/v1/sources/retail/reconcile", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	st = h.waitFor(t, "the triggered run", func(s SourceStatus) bool { return s.LastRun.ID != id && !s.Running })
	if st.Ready || st.Plan == nil || st.Plan.Conflict != 1 || strings.Contains(st.Plan.Text, "No changes") {
		t.Errorf("with a conflict: ready %v, plan %+v", st.Ready, st.Plan)
	}
	if m := h.metrics(t); !strings.Contains(m, `reconciler_unresolved_changes{reason="conflict",source="retail"} 1`) {
		t.Errorf("conflict not counted:\n%s", grep(m, "reconciler_unresolved_changes"))
	}

	// An invalid revision stalls: no plan is shown, and the summary says
	// why nothing is planned.
	bad := h.repo.Commit(t, "break it", map[string]string{
		"segments/daemon.cue": "package retail\n\nsegments: \"Germany\": where: [{attribute: \"no_such_column\", oneOf: [\"DE\"]}]\n",
	})
	h.push(t, bad)
	st = h.waitFor(t, "the run of the invalid revision", func(s SourceStatus) bool { return s.Revision == bad && !s.Running })
	if !st.Stalled || st.Ready {
		t.Fatalf("invalid revision: stalled %v, ready %v", st.Stalled, st.Ready)
	}
	if st.Plan != nil {
		t.Errorf("a stalled revision shows a plan (of revision %s): %s", st.Plan.Revision, st.Plan.Text)
	}
	if !strings.HasPrefix(st.Summary, "stalled ("+string(st.Reason)+") at revision "+bad[:12]) {
		t.Errorf("summary %q does not say the source is stalled", st.Summary)
	}
	stalledLogged := false
	for _, rec := range strings.Split(h.logs.String(), "\n") {
		if strings.Contains(rec, `"level":"ERROR"`) && strings.Contains(rec, `"msg":"run stalled`) && strings.Contains(rec, bad[:12]) {
			stalledLogged = true
		}
	}
	if !stalledLogged {
		t.Error("no log line at error for the stalled revision")
	}
}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// checkStatusKeys checks that /status and /status/{name} carry their
// api_version and that every key of both documents is snake_case.
func checkStatusKeys(t *testing.T, h *harness) {
	t.Helper()
	for _, path := range []string{"/status", "/status/retail"} {
		resp, err := http.Get(h.base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if v, _ := doc["api_version"].(float64); int(v) != StatusAPIVersion {
			t.Errorf("%s: api_version = %v, want %d", path, doc["api_version"], StatusAPIVersion)
		}
		var walk func(at string, v any)
		walk = func(at string, v any) {
			switch v := v.(type) {
			case map[string]any:
				for k, x := range v {
					if !snakeCase.MatchString(k) {
						t.Errorf("%s: key %q at %s is not snake_case", path, k, at)
					}
					walk(at+"."+k, x)
				}
			case []any:
				for _, x := range v {
					walk(at+"[]", x)
				}
			}
		}
		walk("", doc)
	}
}
