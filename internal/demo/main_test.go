package demo

import (
	"os"
	"testing"

	"github.com/cas-reconciler/reconciler/internal/loadworker"
)

// The demo's daemon loads the repository in a worker process: this test
// binary, started again with loadworker.Env set.
func TestMain(m *testing.M) {
	if os.Getenv(loadworker.Env) != "" {
		os.Exit(loadworker.Serve())
	}
	os.Exit(m.Run())
}
