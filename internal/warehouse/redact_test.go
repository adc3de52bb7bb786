package warehouse

import "testing"

func TestRedactor(t *testing.T) {
	r := redactor{"dapi-secret-1", "", "abc"}
	got := r.redact("token dapi-secret-1 and abc")
	if got != "token [redacted] and [redacted]" {
		t.Errorf("redact = %q", got)
	}
}
