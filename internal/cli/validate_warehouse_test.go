//go:build cgo

package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin"
	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin/dbxtest"
	"github.com/cas-reconciler/reconciler/internal/syncbuf"
	"github.com/databricks/databricks-sql-go/logger"
)

func startWarehouse(t *testing.T, fixture string) dbxstandin.Endpoint {
	t.Helper()
	_ = logger.SetLogLevel("disabled")
	_, ep := dbxtest.Start(t, fixture)
	return ep
}

func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := dispatch(context.Background(), args, stdio{in: strings.NewReader(""), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

func TestValidateWarehouseRetail(t *testing.T) {
	ep := startWarehouse(t, "../../examples/retail-warehouse.yaml")
	t.Setenv("DATABRICKS_HOST", fmt.Sprintf("http://%s:%d", ep.Host, ep.Port))
	t.Setenv("DATABRICKS_HTTP_PATH", ep.HTTPPath)
	t.Setenv("DATABRICKS_TOKEN", "dapi-treasure-sp")
	code, out, errs := runCLI("validate", "--warehouse", "--check-keys", "--format", "json", "../../examples/retail")
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	// Types left out of the repository are filled in from the warehouse.
	if !strings.Contains(out, `"valid": true`) {
		t.Errorf("output:\n%s", out)
	}
}

func TestValidateWarehouseBrokenAndSecrets(t *testing.T) {
	ep := startWarehouse(t, "../../testdata/warehouse/broken-no-grant.yaml")
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("dapi-treasure-sp\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DATABRICKS_TOKEN", "")
	t.Setenv("DATABRICKS_CLIENT_ID", "")
	base := []string{"validate", "--warehouse", "--warehouse-host", fmt.Sprintf("%s:%d", ep.Host, ep.Port),
		"--warehouse-insecure", "--warehouse-http-path", ep.HTTPPath}
	code, out, errs := runCLI(append(base, "--token-file", tokenFile, "../../examples/retail")...)
	if code != exitFailed {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitFailed, out, errs)
	}
	for _, want := range []string{"treasure-sp lacks SELECT on table retail_prod.cdp.email_events",
		"GRANT SELECT ON TABLE retail_prod.cdp.store_visits TO `treasure-sp`;", "parent.cue:"} {
		if !strings.Contains(out, want) {
			t.Errorf("%q not in output:\n%s", want, out)
		}
	}

	// A refused token: usage/internal exit, host named, token not printed.
	const secret = "dapi-refused-0123456789"
	if err := os.WriteFile(tokenFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runCLI(append(base, "--token-file", tokenFile, "../../examples/retail")...)
	if code != exitUsage || !strings.Contains(errs, "auth refused") || !strings.Contains(errs, ep.Host) {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
	if strings.Contains(out+errs, secret) {
		t.Errorf("secret printed:\n%s%s", out, errs)
	}
}

func TestValidateWarehouseNeedsSettings(t *testing.T) {
	t.Setenv("DATABRICKS_HOST", "")
	t.Setenv("DATABRICKS_HTTP_PATH", "")
	code, _, errs := runCLI("validate", "--warehouse", "../../examples/retail")
	if code != exitUsage || !strings.Contains(errs, "DATABRICKS_HOST") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
	// There is no flag that takes a secret as its value.
	code, _, _ = runCLI("validate", "--warehouse", "--token", "x", "../../examples/retail")
	if code != exitUsage {
		t.Errorf("--token accepted")
	}
}

// A denied table in probe mode is one finding on standard output and
// nothing on standard error: the driver's own records (three JSON lines per
// failed statement, at its default level) go through the command's logging,
// not to the process's standard error.
func TestValidateWarehouseProbePrintsOnlyItsFindings(t *testing.T) {
	ep := startWarehouse(t, "../../testdata/warehouse/broken-no-grant.yaml")
	var driverOut syncbuf.Buffer // where the driver writes by itself (standard error)
	logger.SetLogOutput(&driverOut)
	_ = logger.SetLogLevel("warn") // the driver's default
	t.Cleanup(func() { _ = logger.SetLogLevel("disabled") })
	t.Setenv("DATABRICKS_HOST", fmt.Sprintf("http://%s:%d", ep.Host, ep.Port))
	t.Setenv("DATABRICKS_HTTP_PATH", ep.HTTPPath)
	t.Setenv("DATABRICKS_TOKEN", "dapi-treasure-sp")
	t.Setenv("DATABRICKS_CLIENT_ID", "")
	code, out, errs := runCLI("validate", "--warehouse", "--privileges", "probe", "../../examples/retail")
	if code != exitFailed {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitFailed, out, errs)
	}
	for _, table := range []string{"email_events", "store_visits"} {
		if n := strings.Count(out, "lacks SELECT on table retail_prod.cdp."+table); n != 1 {
			t.Errorf("%d findings for %s, want 1:\n%s", n, table, out)
		}
	}
	if errs != "" || driverOut.String() != "" {
		t.Errorf("standard error:\n%s%s", errs, driverOut.String())
	}
}

// A stopped warehouse that does not start within --warehouse-start-timeout
// is a clear error naming the host and saying it is starting, not a query
// error; a negative budget is refused before anything is asked.
func TestValidateWarehouseStartTimeout(t *testing.T) {
	_ = logger.SetLogLevel("disabled")
	fx, err := dbxstandin.LoadFixture("../../examples/retail-warehouse.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv, ep := dbxtest.Serve(t, fx, dbxstandin.WithColdStart(time.Hour))
	t.Setenv("DATABRICKS_HOST", fmt.Sprintf("http://%s:%d", ep.Host, ep.Port))
	t.Setenv("DATABRICKS_HTTP_PATH", ep.HTTPPath)
	t.Setenv("DATABRICKS_TOKEN", "dapi-treasure-sp")
	t.Setenv("DATABRICKS_CLIENT_ID", "")

	code, _, errs := runCLI("validate", "--warehouse", "--warehouse-start-timeout", "-1s", "../../examples/retail")
	if code != exitUsage || !strings.Contains(errs, "--warehouse-start-timeout") || len(srv.Calls()) != 0 {
		t.Fatalf("negative budget: exit %d, %d calls, stderr %q", code, len(srv.Calls()), errs)
	}
	code, out, errs := runCLI("validate", "--warehouse", "--warehouse-start-timeout", "0", "../../examples/retail")
	if code != exitUsage || !strings.Contains(errs, "starting") || !strings.Contains(errs, ep.Host) || strings.Contains(errs, "query:") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	if strings.Contains(out+errs, "dapi-treasure-sp") {
		t.Errorf("token printed")
	}
}
