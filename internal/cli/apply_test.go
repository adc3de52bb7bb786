package cli

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/cas-reconciler/reconciler/internal/apply"
	"github.com/cas-reconciler/reconciler/pkg/plan"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// TestReportSaysSkippedOnce checks the line of a skipped change: the
// outcome says "skipped", the error says why, without repeating it.
func TestReportSaysSkippedOnce(t *testing.T) {
	del := &plan.Change{Action: plan.Delete, Kind: plan.KindSegment, Key: segment.Key{Parent: "Retail", Name: "Old"}}
	dep := &plan.Change{Action: plan.Create, Kind: plan.KindSegment, Key: segment.Key{Parent: "Retail", Name: "New"}}
	rep := &apply.Report{Results: []apply.Result{
		{Change: del, Outcome: apply.Skipped, Err: apply.ErrDeletesSkipped},
		{Change: dep, Outcome: apply.Skipped, Err: fmt.Errorf("%w (%s)", apply.ErrDependency, "folder:Retail/F")},
	}}
	var out bytes.Buffer
	printReport(stdio{out: &out}, rep)
	for _, want := range []string{
		`delete segment "Retail/Old": skipped: no deletes after a failed change`,
		`create segment "Retail/New": skipped: a change it depends on did not succeed (folder:Retail/F)`,
	} {
		if !strings.Contains(out.String(), want+"\n") {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "skipped: skipped") {
		t.Errorf("report repeats the outcome:\n%s", out.String())
	}
}
