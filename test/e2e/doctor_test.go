package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin"
	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin/dbxtest"
	"github.com/cas-reconciler/reconciler/internal/standin/tdstandin"
)

// doctorReport is the JSON report of reconciler doctor.
type doctorReport struct {
	OK     bool `json:"ok"`
	Checks []struct {
		Name   string `json:"name"`
		Status string `json:"status"`
		Reason string `json:"reason"`
		Detail string `json:"detail"`
	} `json:"checks"`
}

func parseDoctor(t *testing.T, stdout string) doctorReport {
	t.Helper()
	var r doctorReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, stdout)
	}
	return r
}

// check returns status and reason of the check called name.
func (r doctorReport) check(name string) (status, reason string) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c.Status, c.Reason
		}
	}
	return "absent", ""
}

// doctorLeftovers counts the folders and segments the doctor's sandbox owns.
func doctorLeftovers(td *tdstandin.Server) int {
	n := 0
	for _, f := range td.Folders() {
		if strings.Contains(f.Description, "source=doctor") {
			n++
		}
	}
	for _, s := range td.Segments() {
		if strings.Contains(s.Description, "source=doctor") {
			n++
		}
	}
	return n
}

// withKey writes a copy of the world's configuration whose API key is key.
func (w *world) withKey(t *testing.T, key string) string {
	t.Helper()
	b, err := os.ReadFile(w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "other-key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`apiKey: file: "[^"]*"`)
	cfg := re.ReplaceAllString(string(b), `apiKey: file: `+jsonString(keyFile))
	path := filepath.Join(dir, "reconciler.cue")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// withWarehouse writes a copy of the world's configuration whose
// warehouse is ep.
func (w *world) withWarehouse(t *testing.T, ep dbxstandin.Endpoint) string {
	t.Helper()
	b, err := os.ReadFile(w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`databricks: \{host: "[^"]*", port: [0-9]+, httpPath: "[^"]*"`)
	cfg := re.ReplaceAllString(string(b), fmt.Sprintf("databricks: {host: %q, port: %d, httpPath: %q", ep.Host, ep.Port, ep.HTTPPath))
	if cfg == string(b) {
		t.Fatal("the configuration has no databricks block to replace")
	}
	path := filepath.Join(t.TempDir(), "reconciler.cue")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

const doctorParent = "Retail Customers"

// doctorWorld is a world whose parent segment was applied.
func doctorWorld(t *testing.T, c contract) *world {
	w := newWorld(t, c, "", nil)
	if code, _, stderr := w.cli(t, "apply", "--config", w.cfg, "--auto-approve"); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, stderr)
	}
	return w
}

func TestDoctor(t *testing.T) {
	eachContract(t, func(t *testing.T, c contract) {
		w := doctorWorld(t, c)

		// Read-only: every check passes and nothing is written.
		w.td.ResetLog()
		code, stdout, stderr := w.cli(t, "doctor", "--config", w.cfg, "--json", "--parent", doctorParent, "--connection", "databricks-retail")
		if code != 0 {
			t.Fatalf("doctor: exit %d\n%s\n%s", code, stdout, stderr)
		}
		r := parseDoctor(t, stdout)
		for _, name := range []string{"treasure.key", "parent:" + doctorParent, "connection:databricks-retail", "warehouse", "warehouse.privileges"} {
			if st, _ := r.check(name); st != "ok" {
				t.Errorf("check %s: %s, want ok\n%s", name, st, stdout)
			}
		}
		fields, reason := r.check("parent:" + doctorParent + ":fields")
		if c == contractDocumented && (fields != "warn" || reason != "unknown_fields") {
			t.Errorf("documented-only Treasure: fields check %s (%s), want warn (unknown_fields)", fields, reason)
		}
		if ws := writes(w.td); len(ws) > 0 {
			t.Errorf("read-only doctor wrote: %v", ws)
		}
		if !strings.Contains(stderr, "connecting to the warehouse") {
			t.Errorf("no progress line while connecting to the warehouse:\n%s", stderr)
		}

		// Sandbox: the round trip passes and leaves nothing.
		code, stdout, stderr = w.cli(t, "doctor", "--config", w.cfg, "--json", "--parent", doctorParent, "--sandbox", "doctor-sandbox")
		if code != 0 {
			t.Fatalf("doctor --sandbox: exit %d\n%s\n%s", code, stdout, stderr)
		}
		r = parseDoctor(t, stdout)
		for _, step := range []string{"leftovers", "create", "plan", "update", "delete", "cleanup"} {
			if st, _ := r.check("sandbox:doctor-sandbox:" + step); st != "ok" {
				t.Errorf("sandbox step %s: %s, want ok\n%s", step, st, stdout)
			}
		}
		if n := doctorLeftovers(w.td); n != 0 {
			t.Errorf("%d objects left after the sandbox", n)
		}

		// A checkout of the repository: its parent segments and every
		// connection it names (the parent's, an activation's) are checked
		// without flags naming them.
		dir, err := filepath.Abs(retailDir)
		if err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr = w.cli(t, "doctor", "--config", w.cfg, "--json", dir)
		if code != 0 {
			t.Fatalf("doctor DIR: exit %d\n%s\n%s", code, stdout, stderr)
		}
		r = parseDoctor(t, stdout)
		for _, name := range []string{"parent:" + doctorParent, "connection:databricks-retail", "connection:s3-retail-exports"} {
			if st, _ := r.check(name); st != "ok" {
				t.Errorf("check %s from the repository: %s, want ok\n%s", name, st, stdout)
			}
		}
		// An invalid checkout is a usage error, with the problem named.
		bad, err := filepath.Abs("../../testdata/repos/broken-unknown-attribute")
		if err != nil {
			t.Fatal(err)
		}
		code, _, stderr = w.cli(t, "doctor", "--config", w.cfg, bad)
		if code != 2 || !strings.Contains(stderr, "not valid") || !strings.Contains(stderr, ".cue:") {
			t.Errorf("doctor on an invalid checkout: exit %d\n%s", code, stderr)
		}
	})
}

func TestDoctorFaults(t *testing.T) {
	w := doctorWorld(t, contractFull)

	t.Run("bad key", func(t *testing.T) {
		cfg := w.withKey(t, "1/not-a-key")
		code, stdout, _ := w.cli(t, "doctor", "--config", cfg, "--json")
		if code != 1 {
			t.Fatalf("exit %d, want 1\n%s", code, stdout)
		}
		if st, reason := parseDoctor(t, stdout).check("treasure.key"); st != "fail" || reason != "bad_key" {
			t.Errorf("treasure.key: %s (%s), want fail (bad_key)", st, reason)
		}
		checkNoSecrets(t, "doctor report", stdout)
	})

	t.Run("write-only key", func(t *testing.T) {
		w.td.AddWriteOnlyKey("2/write-only")
		cfg := w.withKey(t, "2/write-only")
		code, stdout, _ := w.cli(t, "doctor", "--config", cfg, "--json")
		if code != 1 {
			t.Fatalf("exit %d, want 1\n%s", code, stdout)
		}
		if st, reason := parseDoctor(t, stdout).check("treasure.key"); st != "fail" || reason != "not_master" {
			t.Errorf("treasure.key: %s (%s), want fail (not_master)", st, reason)
		}
	})

	t.Run("unknown connection", func(t *testing.T) {
		code, stdout, _ := w.cli(t, "doctor", "--config", w.cfg, "--json", "--parent", doctorParent, "--connection", "no-such-connection")
		if code != 1 {
			t.Fatalf("exit %d, want 1\n%s", code, stdout)
		}
		if st, reason := parseDoctor(t, stdout).check("connection:no-such-connection"); st != "fail" || reason != "not_found" {
			t.Errorf("connection: %s (%s), want fail (not_found)", st, reason)
		}
	})

	t.Run("warehouse cold", func(t *testing.T) {
		// A stopped warehouse answers 503 for a minute while it starts
		// (longer than the driver's own retries): doctor says it is
		// waiting, then the check passes.
		fx, err := dbxstandin.LoadFixture("../../examples/retail-warehouse.yaml")
		if err != nil {
			t.Fatal(err)
		}
		cold, ep := dbxtest.Serve(t, fx, dbxstandin.WithColdStart(60*time.Second))
		cfg := w.withWarehouse(t, ep)
		code, stdout, stderr := w.cli(t, "doctor", "--config", cfg, "--json")
		if code != 0 {
			t.Fatalf("exit %d, want 0\n%s\n%s", code, stdout, stderr)
		}
		if st, reason := parseDoctor(t, stdout).check("warehouse"); st != "ok" {
			t.Errorf("warehouse: %s (%s), want ok\n%s", st, reason, stdout)
		}
		if !strings.Contains(stderr, "connecting to the warehouse") {
			t.Errorf("no progress line while the warehouse starts:\n%s", stderr)
		}
		refused := 0
		for _, c := range cold.Calls() {
			if c.HTTPStatus == http.StatusServiceUnavailable {
				refused++
			}
		}
		if cold.Starts() != 1 || refused == 0 || !cold.Running() {
			t.Errorf("warehouse started %d times, %d answers 503, running %v; want one cold start waited through",
				cold.Starts(), refused, cold.Running())
		}
	})

	t.Run("bad input writes nothing", func(t *testing.T) {
		w.td.ResetLog()
		for _, args := range [][]string{
			{"--sandbox", "a/b", "--parent", doctorParent},
			{"--sandbox", "doctor-sandbox"},
			{"--sandbox", " padded ", "--parent", doctorParent},
		} {
			code, _, stderr := w.cli(t, append([]string{"doctor", "--config", w.cfg}, args...)...)
			if code != 2 || !strings.Contains(stderr, "nothing was written") {
				t.Errorf("doctor %v: exit %d, want 2 with a clear error\n%s", args, code, stderr)
			}
		}
		if n := len(w.td.Requests()); n != 0 {
			t.Errorf("bad input sent %d requests to Treasure", n)
		}
	})

	t.Run("interrupted by SIGINT cleans up", func(t *testing.T) {
		// The update hangs until the client gives up.
		w.td.Inject(tdstandin.Fault{Method: http.MethodPatch, Path: "/entities/segments/*", Delay: 10 * time.Minute})
		defer w.td.ClearFaults()
		cmd, lines, done := w.startDoctor(t, "--sandbox", "doctor-sandbox", "--parent", doctorParent)
		waitLine(t, lines, "sandbox: updating segment")
		if n := doctorLeftovers(w.td); n == 0 {
			t.Fatal("the sandbox made nothing before the update")
		}
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if code := exitCode(t, done); code != 3 {
			t.Errorf("exit %d after SIGINT, want 3", code)
		}
		if n := doctorLeftovers(w.td); n != 0 {
			t.Errorf("%d objects left after SIGINT", n)
		}
	})

	t.Run("killed, then a rerun removes the leftovers", func(t *testing.T) {
		w.td.Inject(tdstandin.Fault{Method: http.MethodPatch, Path: "/entities/segments/*", Delay: 10 * time.Minute})
		cmd, lines, done := w.startDoctor(t, "--sandbox", "doctor-sandbox", "--parent", doctorParent)
		waitLine(t, lines, "sandbox: updating segment")
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		exitCode(t, done)
		w.td.ClearFaults()
		if n := doctorLeftovers(w.td); n != 2 {
			t.Fatalf("%d objects left after kill -9, want the folder and the segment", n)
		}
		code, stdout, stderr := w.cli(t, "doctor", "--config", w.cfg, "--json", "--sandbox", "doctor-sandbox", "--parent", doctorParent)
		if code != 0 {
			t.Fatalf("rerun: exit %d\n%s\n%s", code, stdout, stderr)
		}
		if st, reason := parseDoctor(t, stdout).check("sandbox:doctor-sandbox:leftovers"); st != "warn" || reason != "leftovers" {
			t.Errorf("leftovers check: %s (%s), want warn (leftovers)", st, reason)
		}
		if n := doctorLeftovers(w.td); n != 0 {
			t.Errorf("%d objects left after the rerun", n)
		}
	})
}

// startDoctor starts `reconciler doctor --config FILE args...` and returns
// its standard error line by line.
func (w *world) startDoctor(t *testing.T, args ...string) (*exec.Cmd, <-chan string, <-chan error) {
	t.Helper()
	cmd := exec.Command(w.bin, append([]string{"doctor", "--config", w.cfg}, args...)...)
	cmd.Env = w.env
	cmd.Stdout = io.Discard
	pr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
		done <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd, lines, done
}

func waitLine(t *testing.T, lines <-chan string, prefix string) {
	t.Helper()
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("doctor ended before %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return
			}
		case <-timeout:
			t.Fatalf("no line %q within 2 minutes", prefix)
		}
	}
}

func exitCode(t *testing.T, done <-chan error) int {
	t.Helper()
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("doctor did not end within 2 minutes")
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.ExitCode()
	}
	t.Fatal(err)
	return -1
}
