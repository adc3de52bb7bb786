package plan

import (
	"encoding/json"
	"testing"

	"github.com/cas-reconciler/reconciler/pkg/diag"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

func TestSameRuleIsAConservativeFastPath(t *testing.T) {
	base := func() segment.Rule {
		r := valueRule("ltv", 1000)
		r.Conditions[0].Conditions = append(r.Conditions[0].Conditions, segment.Condition{Type: "Reference", Segment: "Churn", Exclude: true})
		return r
	}
	tests := map[string]struct {
		edit     func(*segment.Rule)
		same, eq bool
	}{
		"identical": {edit: func(*segment.Rule) {}, same: true, eq: true},
		"positions differ": {edit: func(r *segment.Rule) {
			r.Origin = segment.Origin{Pos: diag.Pos{File: "a.cue", Line: 3}}
			r.Conditions[0].Origin.Pos.Line = 9
		}, same: true, eq: true},
		"reference id on one side": {edit: func(r *segment.Rule) { r.Conditions[0].Conditions[1].ID = "42" }, same: true, eq: true},
		"number formatting":        {edit: func(r *segment.Rule) { r.Conditions[0].Conditions[0].Operator.RightValue.Num = "1000.0" }, same: false, eq: true},
		"empty filter":             {edit: func(r *segment.Rule) { r.Conditions[0].Conditions[0].LeftValue.Filter = &segment.Filter{} }, same: false, eq: true},
		"other value": {edit: func(r *segment.Rule) {
			v := segment.NumberOf(999)
			r.Conditions[0].Conditions[0].Operator.RightValue = &v
		}, same: false, eq: false},
		"other reference":            {edit: func(r *segment.Rule) { r.Conditions[0].Conditions[1].Segment = "Loyal" }, same: false, eq: false},
		"include instead of exclude": {edit: func(r *segment.Rule) { r.Conditions[0].Conditions[1].Exclude = false }, same: false, eq: false},
		"negated operator":           {edit: func(r *segment.Rule) { r.Conditions[0].Conditions[0].Operator.Not = true }, same: false, eq: false},
		"extra wire field":           {edit: func(r *segment.Rule) { r.Conditions[0].Extra = map[string]json.RawMessage{"x": json.RawMessage("1")} }, same: false, eq: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a, b := base(), base()
			tc.edit(&b)
			if got := sameRule(&a, &b); got != tc.same {
				t.Errorf("sameRule = %v, want %v", got, tc.same)
			}
			if got := rulesEqual(&a, &b); got != tc.eq {
				t.Errorf("rulesEqual = %v, want %v", got, tc.eq)
			}
			if sameRule(&a, &b) && canonicalRule(&a) != canonicalRule(&b) {
				t.Errorf("sameRule says equal, encodings differ:\n%s\n%s", canonicalRule(&a), canonicalRule(&b))
			}
		})
	}
}
