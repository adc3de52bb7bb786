package main

import (
	"strings"
	"testing"
)

// TestValidateWarehouseUnavailable covers the build without warehouse
// checks; it goes with validate_warehouse.go.
func TestValidateWarehouseUnavailable(t *testing.T) {
	code, out, errs := runValidateArgs(t, "--warehouse", reposDir+"/retail")
	if code != exitUsage || !strings.Contains(errs, "warehouse checks are not available in this build") || out != "" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
}
