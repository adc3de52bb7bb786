package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func runArgs(ctx context.Context, t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := dispatch(ctx, append([]string{"run"}, args...), stdio{in: strings.NewReader(""), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

func TestRunRejectsBadConfigWithEveryProblem(t *testing.T) {
	code, _, stderr := runArgs(context.Background(), t, "--config", "../../testdata/config/bad-many.yaml")
	if code != exitUsage {
		t.Errorf("exit = %d, want %d", code, exitUsage)
	}
	if n := strings.Count(stderr, "bad-many.yaml:"); n < 10 {
		t.Errorf("%d problems reported, want every one:\n%s", n, stderr)
	}
	if strings.Contains(stderr, "super-secret") {
		t.Errorf("a literal secret was echoed:\n%s", stderr)
	}
}

func TestRunUsage(t *testing.T) {
	if code, _, _ := runArgs(context.Background(), t); code != exitUsage {
		t.Errorf("run without --config = %d", code)
	}
	if code, _, _ := runArgs(context.Background(), t, "--config"); code != exitUsage {
		t.Errorf("run with a dangling flag = %d", code)
	}
	if code, _, stderr := runArgs(context.Background(), t, "--config", "does-not-exist.cue"); code != exitUsage || !strings.Contains(stderr, "does-not-exist.cue") {
		t.Errorf("missing file: %d %s", code, stderr)
	}
}

func writeConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	src := `listen: "127.0.0.1:0"
sources:
  - name: retail
    url: https://git.invalid/retail.git
    schedule: "@every 1h"
treasure:
  apiKey: {env: RUN_TEST_TD_KEY}
  endpoints: {cdp: "http://127.0.0.1:9", cas: "http://127.0.0.1:9", classic: "http://127.0.0.1:9"}
databricks:
  host: 127.0.0.1
  port: 9
  insecure: true
  httpPath: /sql/1.0/warehouses/x
  token: {env: RUN_TEST_DBX_TOKEN}
`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunCheck(t *testing.T) {
	t.Setenv("RUN_TEST_TD_KEY", "td-key-for-run-test")
	t.Setenv("RUN_TEST_DBX_TOKEN", "dapi-for-run-test")
	code, stdout, stderr := runArgs(context.Background(), t, "--config", writeConfig(t), "--check")
	if code != exitOK || !strings.Contains(stdout, "configuration is valid (1 sources)") {
		t.Errorf("--check = %d %q %q", code, stdout, stderr)
	}
}

func TestRunStopsCleanlyOnSignal(t *testing.T) {
	t.Setenv("RUN_TEST_TD_KEY", "td-key-for-run-test")
	t.Setenv("RUN_TEST_DBX_TOKEN", "dapi-for-run-test")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	code, _, stderr := runArgs(ctx, t, "--config", writeConfig(t))
	if code != exitOK {
		t.Errorf("exit = %d, want 0 after the context ended:\n%s", code, stderr)
	}
	for _, want := range []string{`"msg":"daemon started"`, `"msg":"daemon stopped"`, `"source":"retail"`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("logs lack %s:\n%s", want, stderr)
		}
	}
	for _, secret := range []string{"td-key-for-run-test", "dapi-for-run-test"} {
		if strings.Contains(stderr, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
}

// TestRunCheckReadsNoSecret: --check lints a configuration where none of
// its secrets is at hand (CI), yet refuses a malformed reference, naming
// the field.
func TestRunCheckReadsNoSecret(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	src := `apiToken: {env: RUN_CHECK_ABSENT_API_TOKEN}
sources:
  - name: retail
    url: https://git.invalid/retail.git
    auth: {basic: {username: ci, password: {file: absent/git-password}}}
  - name: web
    url: ssh://git@git.invalid/web.git
    auth: {ssh: {keyFile: absent/id_ed25519, knownHostsFile: absent/known_hosts}}
treasure:
  apiKey: {env: RUN_CHECK_ABSENT_TD_KEY}
databricks:
  host: dbc.invalid
  httpPath: /sql/1.0/warehouses/x
  oauth: {clientId: c, clientSecret: {file: absent/client-secret}}
webhooks:
  github: {env: RUN_CHECK_ABSENT_GITHUB}
`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runArgs(context.Background(), t, "--config", path, "--check")
	if code != exitOK || !strings.Contains(stdout, "configuration is valid (2 sources") {
		t.Errorf("--check without the secrets: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// Without --check the daemon needs them all.
	code, _, stderr = runArgs(context.Background(), t, "--config", path)
	if code != exitUsage || !strings.Contains(stderr, "treasure.apiKey: environment variable RUN_CHECK_ABSENT_TD_KEY is not set") {
		t.Errorf("run without the secrets: exit %d\n%s", code, stderr)
	}

	bad := strings.Replace(src, "{env: RUN_CHECK_ABSENT_GITHUB}", "{env: not-a-variable-name}", 1)
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runArgs(context.Background(), t, "--config", path, "--check")
	if code != exitUsage || !strings.Contains(stderr, "webhooks.github:") {
		t.Errorf("--check of a malformed reference: exit %d, want %d naming webhooks.github\n%s", code, exitUsage, stderr)
	}
}

// TestRunCheckRefusesCredentialsInURL: --check fails on a source URL with
// credentials, without printing them.
func TestRunCheckRefusesCredentialsInURL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	src := `sources:
  - name: retail
    url: https://ci-bot:glpat-url-secret@git.invalid/retail.git
treasure:
  apiKey: {env: RUN_TEST_TD_KEY}
databricks:
  host: dbc.invalid
  httpPath: /sql/1.0/warehouses/x
  token: {env: RUN_TEST_DBX_TOKEN}
`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runArgs(context.Background(), t, "--config", path, "--check")
	if code != exitUsage || !strings.Contains(stderr, `sources[0].url: source "retail": the URL holds credentials`) || !strings.Contains(stderr, "auth") {
		t.Errorf("--check: exit %d, want %d naming the source and auth\n%s%s", code, exitUsage, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, "glpat-url-secret") {
		t.Errorf("the credential was printed:\n%s", stderr)
	}
}
