package plan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

func n(v int64) *int64 { return &v }

func populationPlan() *Plan {
	seg := &segment.Segment{Name: "VIP Customers"}
	return &Plan{Changes: []Change{
		{Action: Update, Kind: KindSegment, Key: segment.Key{Parent: "Retail", Name: "VIP Customers"}, Before: seg, After: seg,
			Diff: []FieldDiff{{Path: "rule", Before: "a", After: "b"}}, Population: &Population{Before: n(1204), After: n(1391), Total: n(5000)}},
		{Action: Create, Kind: KindSegment, Key: segment.Key{Parent: "Retail", Name: "Nobody"}, After: seg,
			Population: &Population{After: n(0), Total: n(5000)}},
		{Action: Create, Kind: KindSegment, Key: segment.Key{Parent: "Retail", Name: "Dark"}, After: seg,
			Population: &Population{Unknown: "warehouse unavailable"}},
		{Action: Create, Kind: KindSegment, Key: segment.Key{Parent: "Retail", Name: "Everyone"}, After: seg,
			Population: &Population{After: n(5000), Total: n(5000)}},
	}, Applyable: true}
}

func TestPopulationText(t *testing.T) {
	var b bytes.Buffer
	if err := WriteText(&b, populationPlan(), TextOptions{}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		`  ~ segment "VIP Customers"  population 1,204 → 1,391 (+15.5%) {`,
		`  + segment "Nobody"  population 0 {`,
		`  # warning: matches no profile`,
		`  + segment "Dark"  population unknown (warehouse unavailable) {`,
		`Warning: segment "Retail/Everyone" matches every profile of the parent segment (5,000)`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text plan lacks %q:\n%s", want, out)
		}
	}
}

func TestPopulationJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, populationPlan(), false); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Changes []struct {
			Population *struct {
				Before  *int64 `json:"before"`
				After   *int64 `json:"after"`
				Warning string `json:"warning"`
			} `json:"population"`
		} `json:"changes"`
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	p := got.Changes[0].Population
	if p == nil || p.Before == nil || *p.Before != 1204 || *p.After != 1391 {
		t.Fatalf("population of the update: %+v\n%s", p, b.String())
	}
	if d := got.Changes[2].Population; d == nil || d.After != nil || d.Before != nil {
		t.Errorf("an unknown figure is null: %+v", d)
	}
	if !strings.Contains(b.String(), `"before": null`) {
		t.Errorf("a create has before null:\n%s", b.String())
	}
	if len(got.Warnings) != 2 || got.Changes[1].Population.Warning == "" {
		t.Errorf("warnings %v", got.Warnings)
	}
}

func TestPopulationMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := WriteMarkdown(&b, populationPlan(), "", 0); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"<b>VIP Customers</b> (in Retail) — population 1,204 → 1,391 (+15.5%)", "> [!WARNING]\n> segment \"Retail/Nobody\" matches no profile"} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out)
		}
	}
}

func TestThousands(t *testing.T) {
	for in, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1204: "-1,204"} {
		if got := Thousands(in); got != want {
			t.Errorf("Thousands(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestHoldPopulationChanges(t *testing.T) {
	allow := &segment.Segment{Name: "Allowed", Lifecycle: segment.Lifecycle{AllowPopulationChange: true}}
	p := populationPlan()
	p.Changes = append(p.Changes, Change{Action: Update, Kind: KindSegment, Key: segment.Key{Parent: "Retail", Name: "Allowed"},
		Before: allow, After: allow, Population: &Population{Before: n(100), After: n(300)}})
	if held := len(p.HoldPopulationChanges(20, "r1", nil)); held != 0 {
		t.Fatalf("held %d, want 0: +15.5%% is within 20%%, and the +200%% update is allowed", held)
	}
	p = populationPlan()
	p.Changes = append(p.Changes, Change{Action: Update, Kind: KindSegment, Key: segment.Key{Parent: "Retail", Name: "Allowed"},
		Before: allow, After: allow, Population: &Population{Before: n(100), After: n(300)}})
	if held := len(p.HoldPopulationChanges(10, "r1", nil)); held != 1 || p.Changes[0].BlockedBy != BlockPopulationChange {
		t.Fatalf("held %d, first change %q; want the +15.5%% update held and the allowed one not", held, p.Changes[0].BlockedBy)
	}
	if p.Changes[4].Blocked != "" {
		t.Errorf("lifecycle.allowPopulationChange did not release: %s", p.Changes[4].Blocked)
	}
	for _, c := range p.Changes[1:4] {
		if c.Blocked != "" {
			t.Errorf("%s: a create or unknown figure is held: %s", c.Key, c.Blocked)
		}
	}
	if s := p.Summary(); s.Blocked != 1 || s.Unresolved() != 1 {
		t.Errorf("summary %+v", s)
	}
	if p := populationPlan(); len(p.HoldPopulationChanges(0, "r1", nil)) != 0 {
		t.Error("no maxChangePercent holds nothing")
	}
}

// TestPopulationHoldReleasedByNewRevision: a change held at one revision
// stays held on every run of that revision, even when its figures fall
// back under the limit, and the next revision with the same desired segment
// applies it; a different desired segment is judged afresh.
func TestPopulationHoldReleasedByNewRevision(t *testing.T) {
	held := populationPlan().HoldPopulationChanges(10, "r1", nil)
	key := segment.Key{Parent: "Retail", Name: "VIP Customers"}.String()
	if len(held) != 1 || held[key].Revision != "r1" || held[key].Fingerprint == "" {
		t.Fatalf("holds after r1: %+v", held)
	}

	// The same revision again, the figures now within the limit: still held.
	p := populationPlan()
	p.Changes[0].Population.After = n(1210)
	again := p.HoldPopulationChanges(10, "r1", held)
	if p.Changes[0].BlockedBy != BlockPopulationChange || again[key].Revision != "r1" {
		t.Fatalf("a rerun of r1 released the hold: %q %+v", p.Changes[0].BlockedBy, again)
	}

	// A new revision, same desired segment: released and recorded as such.
	p = populationPlan()
	next := p.HoldPopulationChanges(10, "r2", again)
	if p.Changes[0].Blocked != "" || p.Changes[0].Population.ReleasedBy != "r2" || len(next) != 0 {
		t.Fatalf("r2 did not release: blocked %q, releasedBy %q, holds %+v", p.Changes[0].Blocked, p.Changes[0].Population.ReleasedBy, next)
	}
	if !strings.Contains(p.Changes[0].Population.Text(), "released by revision r2") {
		t.Errorf("text %q", p.Changes[0].Population.Text())
	}
	if !p.Applyable {
		t.Error("a released change left the plan not applyable")
	}

	// A new revision that changes the segment again: judged afresh.
	p = populationPlan()
	_, after := p.Changes[0].Segments()
	edited := *after
	edited.Description = "edited again"
	p.Changes[0].After = &edited
	if p.HoldPopulationChanges(10, "r2", again); p.Changes[0].BlockedBy != BlockPopulationChange {
		t.Error("an edited segment was released by the hold of its earlier version")
	}

	// A directory (no revision) releases nothing.
	p = populationPlan()
	if p.HoldPopulationChanges(10, "", again); p.Changes[0].BlockedBy != BlockPopulationChange {
		t.Error("revision \"\" released a hold")
	}
}
