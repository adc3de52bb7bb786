package segment

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// dropEmptyStrings removes members whose value is "" from decoded JSON: the
// wire format treats an empty expr or description like an absent one.
func dropEmptyStrings(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && s == "" {
				delete(x, k)
				continue
			}
			x[k] = dropEmptyStrings(e)
		}
	case []any:
		for i := range x {
			x[i] = dropEmptyStrings(x[i])
		}
	}
	return v
}

func TestRuleWireRoundTrip(t *testing.T) {
	in, err := os.ReadFile("testdata/wire_rule.json")
	if err != nil {
		t.Fatal(err)
	}
	var r Rule
	if err := json.Unmarshal(in, &r); err != nil {
		t.Fatalf("decode: %v", err)
	}
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	var want, got any
	if err := json.Unmarshal(in, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(dropEmptyStrings(want), dropEmptyStrings(got)); diff != "" {
		t.Errorf("round trip changed the rule (-want +got):\n%s", diff)
	}
	// And decoding the output again gives the same Go value.
	var r2 Rule
	if err := json.Unmarshal(out, &r2); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r, r2) {
		t.Errorf("second decode differs:\n%s", cmp.Diff(r, r2))
	}
}

func TestRuleDecodedFields(t *testing.T) {
	in, err := os.ReadFile("testdata/wire_rule.json")
	if err != nil {
		t.Fatal(err)
	}
	var r Rule
	if err := json.Unmarshal(in, &r); err != nil {
		t.Fatal(err)
	}
	c := r.Conditions[0].Conditions
	if got := c[0].Operator.RightValue; got.Kind != NumberValue || got.Num != "1000" {
		t.Errorf("rightValue = %+v, want number 1000", got)
	}
	if got := c[2].ArrayMatching; got == nil || got.Mode != "atLeast" || got.N != 1 {
		t.Errorf("arrayMatching = %+v, want atLeast 1", got)
	}
	if got := c[10].Operator.RightValue; got.Kind != TimestampValue || got.Str != "2026-01-01T00:00:00Z" {
		t.Errorf("timestamp = %+v", got)
	}
	if got := c[11].Operator.RightValue; got.Kind != RelativeValue || got.Last != 3 || got.Unit != "month" {
		t.Errorf("relative = %+v", got)
	}
	if _, ok := c[13].LeftValue.Extra["customerGroup"]; !ok {
		t.Errorf("customerGroup not kept in Extra: %+v", c[13].LeftValue)
	}
	b := r.Conditions[1].Conditions
	if !b[0].IsBehavior() || b[0].LeftValue.Window.Duration["day"] != 30 {
		t.Errorf("behavior condition = %+v", b[0].LeftValue)
	}
	if b[3].Type != ReferenceCondition || b[3].ID != "12345" || !b[3].Exclude {
		t.Errorf("reference = %+v", b[3])
	}
	if r.IsEmpty() {
		t.Error("IsEmpty() = true for a rule with conditions")
	}
	if !(&Rule{}).IsEmpty() {
		t.Error("IsEmpty() = false for the empty rule")
	}
}

func TestEmptyRuleIsEmptyObject(t *testing.T) {
	b, err := json.Marshal(Rule{})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "{}" {
		t.Errorf("Marshal(Rule{}) = %s, want {}", b)
	}
}

func TestRequiredWireFields(t *testing.T) {
	c := Condition{Type: ValueCondition, LeftValue: &LeftValue{Name: "a"}, Operator: &Operator{Type: IsNull}}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"arrayMatching", "exclude"} {
		if _, ok := m[k]; !ok {
			t.Errorf("%s missing from %s", k, b)
		}
	}
	op := m["operator"].(map[string]any)
	if _, ok := op["rightValue"]; !ok {
		t.Errorf("IsNull operator lacks rightValue: %s", b)
	}
	agg, _ := json.Marshal(Aggregation{Type: Count})
	if string(agg) != `{"groupingColumns":[],"type":"Count"}` {
		t.Errorf("Count aggregation = %s", agg)
	}
}
