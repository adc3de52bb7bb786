package diag

import "testing"

func TestNearest(t *testing.T) {
	cands := []string{"customer_id", "order_time", "amount", "ltv", "loyalty_tier"}
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"custmer_id", "customer_id", true},
		{"Amount", "amount", true},
		{"amuont", "amount", true}, // a swap is one edit
		{"lvt", "ltv", true},
		{"order_tiem", "order_time", true},
		{"zzzzzz", "", false},
		{"email", "", false},
	}
	for _, tc := range tests {
		got, ok := Nearest(tc.in, cands)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Nearest(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	if _, ok := Nearest("x", nil); ok {
		t.Error("Nearest with no candidates found one")
	}
}
