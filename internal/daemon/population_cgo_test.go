//go:build cgo

package daemon

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDaemonPopulationHoldReleasedByNewRevision: with
// population.maxChangePercent, a segment update whose population moves too
// far is held, on every run of its revision; the next revision, which
// leaves that segment as it was, releases and applies it.
func TestDaemonPopulationHoldReleasedByNewRevision(t *testing.T) {
	h := newHarnessOpts(t, harnessOptions{shutdown: 20 * time.Second, config: "population: maxChangePercent: 5"})
	h.waitFor(t, "the first run", func(s SourceStatus) bool { return s.LastRun != nil })

	germany := func(countries string) map[string]string {
		return map[string]string{"segments/daemon.cue": "package retail\n\nsegments: \"Germany\": where: [{attribute: \"country\", oneOf: [" + countries + "]}]\n"}
	}
	created := h.repo.Commit(t, "add a segment", germany(`"DE"`))
	h.push(t, created)
	h.waitFor(t, "the segment created", func(s SourceStatus) bool { return s.AppliedRevision == created })

	// DE and FR match about twice the profiles of DE alone: held.
	widened := h.repo.Commit(t, "widen it", germany(`"DE", "FR"`))
	h.push(t, widened)
	held := func(s SourceStatus) bool {
		if s.Revision != widened || s.LastRun == nil || s.Plan == nil || s.Plan.Revision != widened {
			return false
		}
		for _, c := range s.Plan.Changes {
			if strings.Contains(c.Object, "Germany") && c.BlockedBy == "population_change" {
				return true
			}
		}
		return false
	}
	h.waitFor(t, "the widened segment held", held)
	if got := germanyRule(t, h); strings.Contains(got, "FR") {
		t.Fatalf("the held change was applied: %s", got)
	}
	if m := h.metrics(t); !strings.Contains(m, `reconciler_unresolved_changes{reason="population_change",source="retail"} 1`) {
		t.Errorf("/metrics lacks the held change:\n%s", grepLines(m, "unresolved"))
	}

	// The same revision again (a scheduled run): still held.
	h.push(t, widened)
	runs := h.status(t).LastRun.ID
	h.waitFor(t, "a second run of the widened revision", func(s SourceStatus) bool { return s.LastRun.ID != runs && held(s) })

	// A new revision that leaves Germany as it is releases it.
	next := h.repo.Commit(t, "an unrelated edit", map[string]string{"segments/other.cue": "package retail\n\nsegments: \"Japan\": where: [{attribute: \"country\", oneOf: [\"JP\"]}]\n"})
	h.push(t, next)
	st := h.waitFor(t, "the next revision applied", func(s SourceStatus) bool { return s.AppliedRevision == next })
	if got := germanyRule(t, h); !strings.Contains(got, "FR") {
		t.Fatalf("the next revision did not release the held change: %s", got)
	}
	if st.Plan == nil || !slices.ContainsFunc(st.Plan.Changes, func(c ChangeStatus) bool {
		return strings.Contains(c.Object, "Germany") && strings.Contains(c.Population, "released by revision "+next[:12])
	}) {
		t.Errorf("the plan does not say the next revision released the change: %+v", st.Plan)
	}
	resp, err := http.Get(h.base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// germanyRule is the rule Treasure holds for the segment Germany.
func germanyRule(t *testing.T, h *harness) string {
	t.Helper()
	for _, s := range h.td.Segments() {
		if s.Name == "Germany" {
			return string(s.Rule)
		}
	}
	t.Fatal("no segment Germany in Treasure")
	return ""
}

// grepLines keeps the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
