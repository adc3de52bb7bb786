package daemon

import (
	"os"
	"testing"

	"github.com/cas-reconciler/reconciler/internal/loadworker"
)

// TestMain lets the test binary serve as the CUE load worker, as the
// reconciler binary does: the daemon evaluates new files in a child
// process that is this binary re-executed.
func TestMain(m *testing.M) {
	if os.Getenv(loadworker.Env) != "" {
		os.Exit(loadworker.Serve())
	}
	os.Exit(m.Run())
}
