package spec

import (
	"encoding/json"
	"testing"
)

// TestShortTests checks the v5 operator each short test becomes.
func TestShortTests(t *testing.T) {
	tests := []struct{ cond, op string }{
		{`{attribute: "ltv", equals: 5}`, `{"type":"Equal","not":false,"rightValue":5}`},
		{`{attribute: "ltv", not: true, equals: 5}`, `{"type":"Equal","not":true,"rightValue":5}`},
		{`{attribute: "ltv", greaterThan: 5}`, `{"type":"Greater","not":false,"rightValue":5}`},
		{`{attribute: "ltv", lessThan: 5.5}`, `{"type":"Less","not":false,"rightValue":5.5}`},
		{`{attribute: "ltv", atLeast: 5}`, `{"type":"GreaterEqual","not":false,"rightValue":5}`},
		{`{attribute: "ltv", atMost: 5}`, `{"type":"LessEqual","not":false,"rightValue":5}`},
		{`{attribute: "ltv", between: [1, 2]}`, `{"type":"Between","not":false,"minValue":1,"maxValue":2}`},
		{`{attribute: "tier", oneOf: ["a", "b"]}`, `{"type":"In","not":false,"rightValues":["a","b"]}`},
		{`{attribute: "email", contains: ["x"]}`, `{"type":"Contain","not":false,"rightValues":["x"]}`},
		{`{attribute: "email", startsWith: ["x"]}`, `{"type":"StartWith","not":false,"rightValues":["x"]}`},
		{`{attribute: "email", endsWith: ["x"]}`, `{"type":"EndWith","not":false,"rightValues":["x"]}`},
		{`{attribute: "email", matches: "^x"}`, `{"type":"Regexp","not":false,"rightValue":"^x"}`},
		{`{attribute: "email", isNull: true}`, `{"type":"IsNull","not":false,"rightValue":null}`},
		{`{attribute: "email", isNull: false}`, `{"type":"IsNull","not":true,"rightValue":null}`},
		{`{attribute: "seen", withinPast: {days: 30}}`, `{"type":"TimeWithinPast","not":false,"value":"30","unit":"day"}`},
		{`{attribute: "seen", withinNext: {weeks: 2}}`, `{"type":"TimeWithinNext","not":false,"value":"2","unit":"week"}`},
		{`{attribute: "seen", today: true}`, `{"type":"TimeToday","not":false}`},
		{`{attribute: "seen", greaterThan: {timestamp: "2026-01-01T00:00:00Z"}}`, `{"type":"Greater","not":false,"rightValue":{"timestamp":"2026-01-01T00:00:00Z"}}`},
		{`{attribute: "seen", not: true, operator: {type: "TimeThis", from: unit: "month"}}`, `{"type":"TimeThis","not":true,"from":{"unit":"month"}}`},
	}
	for _, tt := range tests {
		r := loadSource(t, "segments: a: where: ["+tt.cond+"]")
		if len(r.Diagnostics) > 0 {
			t.Errorf("%s: %s", tt.cond, render(r.Diagnostics))
			continue
		}
		got, err := json.Marshal(r.State.Segments[0].Rule.Conditions[0].Conditions[0].Operator)
		if err != nil {
			t.Fatal(err)
		}
		if normJSON(t, got) != normJSON(t, []byte(tt.op)) {
			t.Errorf("%s\n got %s\nwant %s", tt.cond, got, tt.op)
		}
	}
}

// TestShortAggregations checks the aggregation, filter and window a short
// behavior condition becomes.
func TestShortAggregations(t *testing.T) {
	tests := []struct{ cond, lv string }{
		{`{behavior: "orders", count: {atLeast: 1}}`, `{"source":{"name":"orders"},"aggregation":{"type":"Count","groupingColumns":[]},"filter":{}}`},
		{`{behavior: "orders", countDistinct: {of: ["category", "note"], atLeast: 2}}`, `{"source":{"name":"orders"},"aggregation":{"type":"CountDistinct","columns":["category","note"]},"filter":{}}`},
		{`{behavior: "orders", sum: {of: "amount", atLeast: 2}, within: {days: 7, hours: 12}}`, `{"source":{"name":"orders"},"aggregation":{"type":"Sum","column":"amount"},"filter":{},"window":{"type":"TimeSliding","duration":{"day":7,"hour":12}}}`},
		{`{behavior: "orders", average: {of: "amount", groupBy: ["category"], atLeast: 2}}`, `{"source":{"name":"orders"},"aggregation":{"type":"Average","column":"amount","groupingColumns":["category"]},"filter":{}}`},
		{`{behavior: "orders", last: {of: "category", by: "amount", equals: "x"}}`, `{"source":{"name":"orders"},"aggregation":{"type":"Last","column":"category","orderColumn":"amount"},"filter":{}}`},
		{`{behavior: "orders", count: {atLeast: 1}, filterMatch: "any", filter: [{column: "category", equals: "a"}, {column: "amount", not: true, atMost: 3}]}`,
			`{"source":{"name":"orders"},"aggregation":{"type":"Count","groupingColumns":[]},"filter":{"type":"Or","conditions":[` +
				`{"type":"Column","column":"category","operator":{"type":"Equal","not":false,"rightValue":"a"},"arrayMatching":null},` +
				`{"type":"Column","column":"amount","operator":{"type":"LessEqual","not":true,"rightValue":3},"arrayMatching":null}]}}`},
	}
	for _, tt := range tests {
		r := loadSource(t, "segments: a: where: ["+tt.cond+"]")
		if len(r.Diagnostics) > 0 {
			t.Errorf("%s: %s", tt.cond, render(r.Diagnostics))
			continue
		}
		got, err := json.Marshal(r.State.Segments[0].Rule.Conditions[0].Conditions[0].LeftValue)
		if err != nil {
			t.Fatal(err)
		}
		if normJSON(t, got) != normJSON(t, []byte(tt.lv)) {
			t.Errorf("%s\n got %s\nwant %s", tt.cond, got, tt.lv)
		}
	}
}
