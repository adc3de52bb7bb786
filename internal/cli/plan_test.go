package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlanDetailedExitCodeErrorsAreOne: with --detailed-exitcode, 2 means
// changes only; bad flags and a bad configuration exit 1 (without it they
// exit 2, the usage code of every command).
func TestPlanDetailedExitCodeErrorsAreOne(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("sources: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"plan", "--detailed-exitcode", "--format", "yaml"}, exitFailed},
		{[]string{"plan", "--format", "yaml"}, exitUsage},
		{[]string{"plan", "--detailed-exitcode", "--no-such-flag"}, exitFailed},
		{[]string{"plan", "--detailed-exitcode", "--config", bad}, exitFailed},
		{[]string{"plan", "--config", bad}, exitUsage},
		{[]string{"plan", "-detailed-exitcode", "--config", filepath.Join(t.TempDir(), "missing.yaml")}, exitFailed},
		{[]string{"plan", "--detailed-exitcode", "a", "b"}, exitFailed},
	} {
		var o, e bytes.Buffer
		code := dispatch(context.Background(), tc.args, stdio{in: strings.NewReader(""), out: &o, err: &e})
		if code != tc.want {
			t.Errorf("%v: exit %d, want %d\n%s", tc.args, code, tc.want, e.String())
		}
		if e.Len() == 0 {
			t.Errorf("%v: nothing on standard error", tc.args)
		}
	}
}
