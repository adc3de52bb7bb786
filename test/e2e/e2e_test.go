//go:build cgo

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/standin/tdstandin"
)

const germany = "package retail\n\nsegments: \"E2E Germany\": where: [{attribute: \"country\", oneOf: [\"DE\"]}]\n"

// TestPushAndWebhookApply: the daemon applies the repository on start; a
// commit plus a GitHub push webhook leads to the new segment in Treasure
// Data, reported by /status and /metrics; a plan afterwards has nothing to
// do; no secret shows up in logs or metrics.
func TestPushAndWebhookApply(t *testing.T) { eachContract(t, testPushAndWebhookApply) }

func testPushAndWebhookApply(t *testing.T, c contract) {
	w := newWorld(t, c, "", nil)
	w.start(t)
	first := w.repo.Head(t, "main")
	w.waitStatus(t, "the first apply", func(s sourceStatus) bool { return s.AppliedRevision == first && s.Ready })
	if n := len(w.td.Segments()); n != retailSegments {
		t.Fatalf("Treasure holds %d segments after the first run, want %d", n, retailSegments)
	}
	if c == contractDocumented {
		// rootFolderId is not documented: the parentSegment resource is read.
		n := 0
		for _, r := range w.td.Requests() {
			if r.Method == "GET" && strings.HasPrefix(r.Path, "/entities/parent_segments/") {
				n++
			}
		}
		if n == 0 {
			t.Error("the root folder was not read from /entities/parent_segments/{id}")
		}
	}

	rev := w.repo.Commit(t, "add a segment for Germany", map[string]string{"segments/e2e.cue": germany})
	w.pushHook(t)
	st := w.waitStatus(t, "the pushed commit applied", func(s sourceStatus) bool { return s.AppliedRevision == rev })
	if !st.Ready || st.Stalled {
		t.Errorf("status after the push: ready %v stalled %v (%s)", st.Ready, st.Stalled, st.Message)
	}
	if c := segmentNames(w.td)["E2E Germany"]; c != 1 {
		t.Errorf("segment E2E Germany exists %d times in Treasure, want 1", c)
	}

	m := w.metrics(t)
	for series, want := range map[string]float64{
		`reconciler_source_info{branch="main",revision="` + rev + `",source="retail"}`:     1,
		`reconciler_source_info{branch="main",revision="` + first + `",source="retail"}`:   -1, // the old series is deleted
		`reconciler_source_ready{source="retail"}`:                                         1,
		`reconciler_source_stalled{source="retail"}`:                                       0,
		`reconciler_runs_total{result="stalled",source="retail"}`:                          0,
		`reconciler_webhook_deliveries_total{provider="github",result="accepted"}`:         1,
		`reconciler_planned_changes{action="create",source="retail"}`:                      1,
		`reconciler_apply_changes_total{action="create",outcome="failed",source="retail"}`: 0,
		`reconciler_warehouse_up`: 1,
		`reconciler_leader`:       1,
	} {
		if got := metricValue(m, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if v := metricValue(m, `reconciler_runs_total{result="success",source="retail"}`); v < 2 {
		t.Errorf("successful runs = %v, want at least 2", v)
	}
	if v := metricValue(m, `reconciler_apply_changes_total{action="create",outcome="success",source="retail"}`); v < retailSegments+2 {
		t.Errorf("successful creates = %v, want at least %d (parent, segments, the new one)", v, retailSegments+2)
	}
	checkNoSecrets(t, "/metrics", m)
	checkNoSecrets(t, "the daemon's logs", w.logs.String())
	if !strings.Contains(w.logs.String(), `"run_id"`) {
		t.Error("the daemon's JSON logs carry no run id")
	}

	code, out, errOut := w.cli(t, "plan", "--config", w.cfg, "--detailed-exitcode")
	if code != 0 || !strings.Contains(out, "No changes.") {
		t.Errorf("plan after the daemon applied: exit %d\n%s\n%s", code, out, errOut)
	}
	if code := w.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
}

// TestInvalidCommitStallsAndWritesNothing: a commit with a schema error
// next to a valid new segment stalls the source with the diagnostics in
// /status and /metrics, and nothing at all is written to Treasure Data;
// the fix un-stalls it and applies both.
func TestInvalidCommitStallsAndWritesNothing(t *testing.T) {
	eachContract(t, testInvalidCommitStallsAndWritesNothing)
}

func testInvalidCommitStallsAndWritesNothing(t *testing.T, c contract) {
	w := newWorld(t, c, "", nil)
	w.start(t)
	first := w.repo.Head(t, "main")
	w.waitStatus(t, "the first apply", func(s sourceStatus) bool { return s.AppliedRevision == first && s.Ready })
	before := len(w.td.Segments())
	w.td.ResetLog()

	bad := w.repo.Commit(t, "a valid segment and a broken one", map[string]string{
		"segments/e2e.cue":    germany,
		"segments/broken.cue": "package retail\n\nsegments: \"E2E Broken\": wher: [{attribute: \"country\", oneOf: [\"FR\"]}]\n",
	})
	w.pushHook(t)
	st := w.waitStatus(t, "the stall", func(s sourceStatus) bool { return s.Revision == bad && s.Stalled })
	if st.AppliedRevision != first || st.Ready {
		t.Errorf("stalled source: applied %s ready %v; want the first revision kept and not ready", st.AppliedRevision, st.Ready)
	}
	if st.DiagnosticsTotal == 0 || len(st.Diagnostics) == 0 {
		t.Errorf("stalled source reports no diagnostics: %+v", st)
	}
	// A second delivery of the same commit does not write either.
	w.pushHook(t)
	time.Sleep(time.Second)
	if wr := writes(w.td); len(wr) != 0 {
		t.Errorf("a stalled source wrote to Treasure: %v", wr)
	}
	if n := len(w.td.Segments()); n != before {
		t.Errorf("Treasure holds %d segments, want %d", n, before)
	}
	m := w.metrics(t)
	if v := metricValue(m, `reconciler_source_stalled{source="retail"}`); v != 1 {
		t.Errorf("reconciler_source_stalled = %v, want 1", v)
	}
	if v := metricValue(m, `reconciler_runs_total{result="stalled",source="retail"}`); v < 1 {
		t.Errorf("stalled runs = %v, want at least 1", v)
	}
	if v := metricValue(m, `reconciler_spec_diagnostics{severity="error",source="retail"}`); v < 1 {
		t.Errorf("error diagnostics = %v, want at least 1", v)
	}
	if v := metricValue(m, `reconciler_source_info{branch="main",revision="`+first+`",source="retail"}`); v != 1 {
		t.Errorf("source_info should keep the last applied revision %s: %v", first, v)
	}

	fixed := w.repo.Remove(t, "remove the broken segment", "segments/broken.cue")
	w.pushHook(t)
	w.waitStatus(t, "the fix applied", func(s sourceStatus) bool { return s.AppliedRevision == fixed && !s.Stalled && s.Ready })
	names := segmentNames(w.td)
	if names["E2E Germany"] != 1 || names["E2E Broken"] != 0 {
		t.Errorf("after the fix: Germany %d, Broken %d", names["E2E Germany"], names["E2E Broken"])
	}
	checkNoSecrets(t, "the daemon's logs", w.logs.String())
}

// TestTreasureOutageWaitsAndRecovers: Treasure Data answers 503 to reads
// (the client's own retries are off), the run ends waiting rather than
// failed or stalled, and the daemon's backoff retries until the commit is
// applied.
func TestTreasureOutageWaitsAndRecovers(t *testing.T) {
	eachContract(t, testTreasureOutageWaitsAndRecovers)
}

func testTreasureOutageWaitsAndRecovers(t *testing.T, c contract) {
	if testing.Short() {
		t.Skip("waits for the daemon's first backoff (30s)")
	}
	w := newWorld(t, c, "maxRetries: 0", nil)
	w.start(t)
	first := w.repo.Head(t, "main")
	w.waitStatus(t, "the first apply", func(s sourceStatus) bool { return s.AppliedRevision == first && s.Ready })

	w.td.Inject(tdstandin.Fault{Method: "GET", Times: 1, Status: 503})
	rev := w.repo.Commit(t, "add a segment for Germany", map[string]string{"segments/e2e.cue": germany})
	w.pushHook(t)
	st := w.waitStatus(t, "the run waiting", func(s sourceStatus) bool {
		return s.LastRun != nil && s.Revision == rev && s.LastRun.Result == "waiting"
	})
	if st.Ready || st.Stalled || st.AppliedRevision == rev {
		t.Errorf("waiting source: ready %v stalled %v applied %s", st.Ready, st.Stalled, st.AppliedRevision)
	}
	st = w.waitStatus(t, "recovery", func(s sourceStatus) bool { return s.AppliedRevision == rev })
	if !st.Ready || st.Stalled {
		t.Errorf("after recovery: ready %v stalled %v", st.Ready, st.Stalled)
	}
	if c := segmentNames(w.td)["E2E Germany"]; c != 1 {
		t.Errorf("segment E2E Germany exists %d times, want 1", c)
	}
	m := w.metrics(t)
	if v := metricValue(m, `reconciler_runs_total{result="waiting",source="retail"}`); v < 1 {
		t.Errorf("waiting runs = %v, want at least 1", v)
	}
	if v := metricValue(m, `reconciler_runs_total{result="stalled",source="retail"}`); v != 0 {
		t.Errorf("stalled runs = %v, want 0: an outage must not stall", v)
	}
	if !strings.Contains(w.logs.String(), `"trigger":"retry"`) {
		t.Error("the recovery was not a retry of the daemon's own")
	}
	if !strings.Contains(m, `code="503"`) {
		t.Errorf("no 503 answers counted in reconciler_treasure_requests_total")
	}
}

// TestSIGTERMDuringApplyLosesNothing: segment creates are slowed down and
// serialised so that the first apply outlasts the daemon's 30s shutdown
// grace; SIGTERM in the middle of it makes the daemon stop between two
// changes and exit 0, and a restarted daemon converges with no object
// created twice.
func TestSIGTERMDuringApplyLosesNothing(t *testing.T) {
	eachContract(t, testSIGTERMDuringApplyLosesNothing)
}

func testSIGTERMDuringApplyLosesNothing(t *testing.T, c contract) {
	if testing.Short() {
		t.Skip("waits out the daemon's 30s shutdown grace")
	}
	w := newWorld(t, c, "concurrency: 1", func(td *tdstandin.Server) {
		td.Inject(tdstandin.Fault{Method: "POST", Path: "/entities/segments", Times: 1000, Delay: 1500 * time.Millisecond})
	})
	w.start(t)
	eventually(t, "the apply under way", 2*time.Minute, func() bool { return len(w.td.Segments()) >= 2 })
	if code := w.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code after SIGTERM during apply = %d, want 0", code)
	}
	partial := len(w.td.Segments())
	t.Logf("%d of %d segments in Treasure when the daemon stopped", partial, retailSegments)
	if partial >= retailSegments {
		t.Fatalf("the apply finished before the stop (%d segments); the test wants it interrupted", partial)
	}
	if !strings.Contains(w.logs.String(), "runs in flight were stopped") {
		t.Error("no log line about the run stopped in flight")
	}
	for name, c := range segmentNames(w.td) {
		if c > 1 {
			t.Errorf("segment %q exists %d times after the stop", name, c)
		}
	}

	w.td.ClearFaults()
	w.start(t)
	head := w.repo.Head(t, "main")
	w.waitStatus(t, "convergence after the restart", func(s sourceStatus) bool { return s.AppliedRevision == head && s.Ready })
	names := segmentNames(w.td)
	if len(names) != retailSegments {
		t.Errorf("%d segments after the restart, want %d", len(names), retailSegments)
	}
	for name, c := range names {
		if c > 1 {
			t.Errorf("segment %q exists %d times", name, c)
		}
	}
	code, out, errOut := w.cli(t, "plan", "--config", w.cfg, "--detailed-exitcode")
	if code != 0 || !strings.Contains(out, "No changes.") {
		t.Errorf("plan after convergence: exit %d\n%s\n%s", code, out, errOut)
	}
	if code := w.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
}

// TestImportRoundTrip: after the daemon applied the example, `reconciler
// import` writes CUE files for the parent segment; they validate, and a
// plan of them says "No changes.".
func TestImportRoundTrip(t *testing.T) { eachContract(t, testImportRoundTrip) }

func testImportRoundTrip(t *testing.T, c contract) {
	w := newWorld(t, c, "", nil)
	w.start(t)
	head := w.repo.Head(t, "main")
	w.waitStatus(t, "the first apply", func(s sourceStatus) bool { return s.AppliedRevision == head && s.Ready })
	if code := w.stop(t, os.Interrupt); code != 0 {
		t.Errorf("exit code after an interrupt = %d, want 0", code)
	}
	w.td.ResetLog()

	dir := t.TempDir()
	code, out, errOut := w.cli(t, "import", "--config", w.cfg, "--parent", retailParent, "--connection", "databricks-retail",
		"--activation-connections", "s3-retail-exports", "--out", dir)
	if code != 0 || !strings.Contains(out, "1 activations") {
		t.Fatalf("import: exit %d, want the activation imported\n%s\n%s", code, out, errOut)
	}
	var files []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".cue") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) < 2 {
		t.Fatalf("import wrote %d CUE files: %v", len(files), files)
	}
	if code, out, errOut := w.cli(t, "validate", dir); code != 0 {
		t.Fatalf("imported files do not validate: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = w.cli(t, "plan", "--config", w.cfg, "--detailed-exitcode", dir)
	if code != 0 || !strings.Contains(out, "No changes.") {
		t.Fatalf("plan of the imported files: exit %d\n%s\n%s", code, out, errOut)
	}
	if wr := writes(w.td); len(wr) != 0 {
		t.Errorf("import and plan wrote to Treasure: %v", wr)
	}
	// The round trip must be able to fail: a segment added to the imported
	// files is a change.
	src, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	pkgLine, _, _ := strings.Cut(string(src), "\n")
	extra := fmt.Sprintf("%s\n\nsegments: %q: {parent: %q, where: [{attribute: \"country\", oneOf: [\"JP\"]}]}\n", pkgLine, "E2E Japan", retailParent)
	if err := os.WriteFile(filepath.Join(filepath.Dir(files[0]), "e2e.cue"), []byte(extra), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = w.cli(t, "plan", "--config", w.cfg, "--detailed-exitcode", dir)
	if code != 2 || !strings.Contains(out, "E2E Japan") {
		t.Errorf("plan of a changed import: exit %d, want 2 naming E2E Japan\n%s\n%s", code, out, errOut)
	}
	checkNoSecrets(t, "import and plan output", out+errOut)
}
