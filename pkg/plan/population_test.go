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
