package spec

import (
	"slices"
	"strings"
	"testing"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

const activated = `segments: vip: {
	where: [{attribute: "ltv", atLeast: 1}]
	activations: "S3 export": {
		connection: "s3-prod"
		columns: ["email", "ltv"]
		schedule: {repeat: "day", every: 1, startAt: "2026-01-01T06:00:00", timezone: "UTC"}
		connectorConfig: {bucket: "exports", aws_secret_access_key: {env: "S3_SECRET"}, format: "csv", compress: true}
		notify: {on: ["onFailure"], recipients: ["42"]}
	}
}
`

func TestActivationDecodes(t *testing.T) {
	r := loadSource(t, activated)
	if len(r.Diagnostics) > 0 {
		t.Fatalf("diagnostics:\n%s", render(r.Diagnostics))
	}
	s := segmentByName(t, r.State, "vip")
	if !s.HasActivations || len(s.Activations) != 1 {
		t.Fatalf("activations = %+v", s.Activations)
	}
	a := s.Activations[0]
	if a.Parent != "Shop" || a.Segment != "vip" || a.Name != "S3 export" || a.Connection != "s3-prod" ||
		!slices.Equal(a.Columns, []string{"email", "ltv"}) || a.Schedule.Repeat != "day" || a.Schedule.StartAt != "2026-01-01T06:00:00" {
		t.Errorf("activation = %+v", a)
	}
	if got := a.ConnectorConfig["aws_secret_access_key"]; got.Env != "S3_SECRET" || got.Value != "" {
		t.Errorf("secret = %+v", got)
	}
	if got := a.ConnectorConfig["compress"]; got.Value != "true" {
		t.Errorf("compress = %+v", got)
	}
	if a.Key() != (segment.Key{Parent: "Shop", Name: "vip → S3 export"}) {
		t.Errorf("key = %v", a.Key())
	}
	if !a.Origin.At("columns.1").IsValid() || a.Origin.At("columns.1") == a.Origin.Pos {
		t.Errorf("column position not recorded: %+v", a.Origin)
	}
}

func TestActivationEmptyIsManaged(t *testing.T) {
	r := loadSource(t, `segments: vip: {where: [{attribute: "ltv", atLeast: 1}], activations: {}}
segments: other: where: [{attribute: "ltv", atLeast: 2}]`)
	if len(r.Diagnostics) > 0 {
		t.Fatalf("diagnostics:\n%s", render(r.Diagnostics))
	}
	if !segmentByName(t, r.State, "vip").HasActivations || segmentByName(t, r.State, "other").HasActivations {
		t.Error("activations: {} must manage the segment's activations, and only it")
	}
}

func TestActivationChecks(t *testing.T) {
	base := `segments: vip: {where: [{attribute: "ltv", atLeast: 1}], activations: a: {connection: "c", `
	tests := []struct {
		name, src string
		want      []string
	}{
		{"ok all columns", `allColumns: true, schedule: repeat: "none"}}`, nil},
		{"unknown column", `columns: ["emial"], schedule: repeat: "none"}}`, []string{"error:unknown-attribute"}},
		{"no columns", `schedule: repeat: "none"}}`, []string{"error:activation-columns"}},
		{"both", `allColumns: true, columns: ["email"], schedule: repeat: "none"}}`, []string{"error:activation-columns"}},
		{"literal secret", `allColumns: true, schedule: repeat: "none", connectorConfig: password: "hunter2"}}`, []string{"error:activation-secret"}},
		{"weekdays without week", `allColumns: true, schedule: {repeat: "day", weekdays: [1]}}}`, []string{"error:activation-schedule"}},
		{"once without start", `allColumns: true, schedule: repeat: "once"}}`, []string{"error:activation-schedule"}},
		{"every on none", `allColumns: true, schedule: {repeat: "none", every: 2}}}`, []string{"error:activation-schedule"}},
		{"end before start", `allColumns: true, schedule: {repeat: "day", startAt: "2026-02-01T00:00:00", endOn: "2026-01-01"}}}`, []string{"error:activation-schedule"}},
		{"bad zone", `allColumns: true, schedule: {repeat: "day", timezone: "Mars/Base"}}}`, []string{"error:activation-schedule"}},
		{"bad repeat", `allColumns: true, schedule: repeat: "fortnight"}}`, []string{"error:schema"}},
		{"unknown field", `allColumns: true, schedule: repeat: "none", colums: ["x"]}}`, []string{"error:unknown-field"}},
		{"every problem", `columns: ["emial", "ltvv"], schedule: {repeat: "day", weekdays: [1]}}}`, []string{"error:unknown-attribute", "error:unknown-attribute", "error:activation-schedule"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := loadSource(t, base+tt.src)
			got := codes(r.Diagnostics)
			if !slices.Equal(got, tt.want) {
				t.Errorf("codes = %v, want %v\n%s", got, tt.want, render(r.Diagnostics))
			}
			for _, d := range r.Diagnostics {
				if !d.Pos.IsValid() || d.Pos.Line == 0 || strings.HasPrefix(d.Pos.File, schemaFilePrefix) {
					t.Errorf("diagnostic not positioned in the repository: %v", d)
				}
				if strings.Contains(d.Summary+d.Detail, "hunter2") {
					t.Errorf("secret value in a diagnostic: %v", d)
				}
			}
		})
	}
}
