//go:build cgo

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin/dbxtest"
	"github.com/cas-reconciler/reconciler/internal/standin/gittest"
	"github.com/cas-reconciler/reconciler/internal/standin/tdstandin"
	"github.com/databricks/databricks-sql-go/logger"
)

func init() { _ = logger.SetLogLevel("disabled") }

const cliTDKey = "1/cli0123456789abcdef0123456789abcdef"

// cliEnv starts both stand-ins and a git server holding the retail example,
// and writes a configuration for them.
func cliEnv(t *testing.T) (cfgPath string, td *tdstandin.Server) {
	t.Helper()
	return cliEnvWith(t, tdstandin.Options{})
}

// cliEnvWith is cliEnv with a Treasure stand-in of the given options (keys
// and connections are filled in).
func cliEnvWith(t *testing.T, opts tdstandin.Options) (cfgPath string, td *tdstandin.Server) {
	t.Helper()
	opts.MasterKeys, opts.Connections = []string{cliTDKey}, map[string]string{"databricks-retail": "341079", "databricks-backup": "341080", "s3-retail-exports": "341090"}
	td, err := tdstandin.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	td.Start()
	t.Cleanup(td.Close)
	_, ep := dbxtest.Start(t, "../../examples/retail-warehouse.yaml")
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "segments")
	repo.ImportDir(t, "retail", "../../examples/retail")
	t.Setenv("CLI_TD_KEY", cliTDKey)
	t.Setenv("CLI_DBX_TOKEN", "dapi-treasure-sp")
	cfg := fmt.Sprintf(`sources:
  - name: retail
    url: %s
treasure:
  endpoints: {cdp: %q, cas: %q, classic: %q}
  apiKey: {env: CLI_TD_KEY}
  rateLimit: 100
  burst: 100
databricks:
  host: %q
  port: %d
  httpPath: %q
  insecure: true
  token: {env: CLI_DBX_TOKEN}
`, repo.URL(), td.URL(), td.URL(), td.URL(), ep.Host, ep.Port, ep.HTTPPath)
	cfgPath = filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgPath, td
}

func run(t *testing.T, stdin string, args ...string) (code int, out, errOut string) {
	t.Helper()
	var o, e bytes.Buffer
	code = dispatch(context.Background(), args, stdio{in: strings.NewReader(stdin), out: &o, err: &e})
	return code, o.String(), e.String()
}

func TestPlanApplyImportRoundTrip(t *testing.T) {
	cfg, td := cliEnv(t)

	code, out, errOut := run(t, "", "plan", "--config", cfg, "--detailed-exitcode")
	if code != exitChanges || !strings.Contains(out, "Plan: 37 to add, 0 to change, 0 to replace, 0 to destroy.") {
		t.Fatalf("plan: exit %d\n%s\n%s", code, out, errOut)
	}
	if n := len(td.Segments()); n != 0 {
		t.Fatalf("plan wrote %d segments", n)
	}

	code, _, errOut = run(t, "", "apply", "--config", cfg)
	if code != exitUsage || !strings.Contains(errOut, "--auto-approve") {
		t.Errorf("apply without a terminal or --auto-approve: exit %d: %s", code, errOut)
	}

	code, out, errOut = run(t, "", "apply", "--config", cfg, "--auto-approve")
	if code != exitOK || !strings.Contains(out, "Apply complete! 37 succeeded, 0 failed, 0 skipped.") {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	if n := len(td.Segments()); n != 28 {
		t.Errorf("Treasure holds %d segments after apply, want 28", n)
	}

	code, out, _ = run(t, "", "plan", "--config", cfg, "--detailed-exitcode")
	if code != exitOK || !strings.Contains(out, "No changes.") {
		t.Fatalf("plan after apply: exit %d\n%s", code, out)
	}

	dir := t.TempDir()
	code, out, errOut = run(t, "", "import", "--config", cfg, "--parent", "Retail Customers", "--connection", "databricks-retail", "--activation-connections", "s3-retail-exports", "--out", dir)
	if code != exitOK || !strings.Contains(out, "1 activations") {
		t.Fatalf("import: exit %d, want the activation imported\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = run(t, "", "validate", dir)
	if code != exitOK {
		t.Fatalf("imported files do not validate: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = run(t, "", "plan", "--config", cfg, "--detailed-exitcode", dir)
	if code != exitOK || !strings.Contains(out, "No changes.") {
		t.Fatalf("plan of the imported files: exit %d\n%s\n%s", code, out, errOut)
	}

	// A checkout whose segment files are all gone: the deletes are blocked
	// (prune.allowEmpty), which is something to do.
	empty := t.TempDir()
	for _, f := range []string{"repo.cue", "parent.cue", "cue.mod/module.cue"} {
		b, err := os.ReadFile(filepath.Join("../../examples/retail", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(empty, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(empty, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut = run(t, "", "plan", "--config", cfg, "--detailed-exitcode", empty)
	if code != exitChanges || strings.Contains(out, "No changes.") ||
		!strings.Contains(out, "Nothing to apply, but Treasure Data does not match the repository:") {
		t.Fatalf("plan --detailed-exitcode of a checkout without segments: exit %d, want %d\n%s\n%s", code, exitChanges, out, errOut)
	}

	code, out, _ = run(t, "", "plan", "--config", cfg, "--format", "json")
	if code != exitOK || !strings.Contains(out, `"format_version": "1"`) || !strings.Contains(out, `"has_changes": false`) {
		t.Errorf("json plan: exit %d\n%s", code, out)
	}
}

func TestPlanOfAnInvalidCheckoutFails(t *testing.T) {
	cfg, td := cliEnv(t)
	code, _, errOut := run(t, "", "plan", "--config", cfg, "--detailed-exitcode", "../../testdata/repos/broken-unknown-attribute")
	if code != exitFailed || !strings.Contains(errOut, "unknown attribute") {
		t.Errorf("exit %d, stderr:\n%s", code, errOut)
	}
	if len(td.Requests()) != 0 {
		t.Errorf("Treasure saw %d requests for an invalid repository", len(td.Requests()))
	}
}

func TestImportAdoptsUnownedObjects(t *testing.T) {
	cfg, td := cliEnv(t)
	// Build the retail example in Treasure, then make one segment look
	// hand-made (the marker removed, as if built in the UI).
	if code, out, errOut := run(t, "", "apply", "--config", cfg, "--auto-approve"); code != exitOK {
		t.Fatalf("apply: %s\n%s", out, errOut)
	}
	segs := td.Segments()
	if len(segs) == 0 {
		t.Fatal("no segments after apply")
	}
	victim := segs[0]
	if err := td.ModifySegment(victim.ID, "someone", func(seg *tdstandin.Segment) {
		if i := strings.Index(seg.Description, "[managed-by"); i >= 0 {
			seg.Description = strings.TrimSpace(seg.Description[:i])
		}
	}); err != nil {
		t.Fatal(err)
	}
	code, out, _ := run(t, "", "plan", "--config", cfg)
	if code != exitOK || !strings.Contains(out, "conflicts with an object the reconciler does not own") {
		t.Fatalf("plan with a hand-made %q: exit %d\n%s", victim.Name, code, out)
	}
	// A conflict is something to do, not "No changes".
	code, out, _ = run(t, "", "plan", "--config", cfg, "--detailed-exitcode")
	if code != exitChanges || strings.Contains(out, "No changes.") ||
		!strings.Contains(out, "Nothing to apply, but Treasure Data does not match the repository: 1 conflict(s).") {
		t.Fatalf("plan --detailed-exitcode with a conflict: exit %d, want %d\n%s", code, exitChanges, out)
	}
	dir := t.TempDir()
	if code, out, errOut := run(t, "", "import", "--config", cfg, "--parent", "Retail Customers", "--connection", "databricks-retail", "--activation-connections", "s3-retail-exports", "--out", dir); code != exitOK {
		t.Fatalf("import: %s\n%s", out, errOut)
	}
	code, out, errOut := run(t, "", "plan", "--config", cfg, "--detailed-exitcode", dir)
	if code != exitOK || !strings.Contains(out, "No changes.") || strings.Contains(out, "conflict") {
		t.Fatalf("plan of the imported files: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestPlanWithARevokedKeyNamesIt: a refused API key fails plan (exit 1)
// with a message that names the key's configuration field and what to do,
// not the key, and not as an invalid repository.
func TestPlanWithARevokedKeyNamesIt(t *testing.T) {
	cfg, td := cliEnv(t)
	td.RevokeKey(cliTDKey)
	code, _, errOut := run(t, "", "plan", "--config", cfg, "--detailed-exitcode")
	if code != exitFailed {
		t.Errorf("exit %d, want %d", code, exitFailed)
	}
	for _, want := range []string{"refused the API key from treasure.apiKey (env:CLI_TD_KEY)", "401", "restart"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "not valid") || strings.Contains(errOut, cliTDKey) {
		t.Errorf("stderr blames the repository or shows the key:\n%s", errOut)
	}
}

// TestCommandsReadOnlyTheSecretsTheyUse: webhook secrets, the API token and
// git credentials are absent; plan of a checkout needs none of them, import
// needs no warehouse credentials, and plan of the branch does need the git
// credentials and names the field.
func TestCommandsReadOnlyTheSecretsTheyUse(t *testing.T) {
	cfgPath, _ := cliEnv(t)
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(b), "  - name: retail\n", "  - name: retail\n    auth: {token: {env: CLI_ABSENT_GIT_TOKEN}}\n", 1) + `apiToken: {env: CLI_ABSENT_API_TOKEN}
webhooks:
  github: {env: CLI_ABSENT_GITHUB_SECRET}
  generic: {file: absent/generic-secret}
`
	if err := os.WriteFile(cfgPath, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "", "plan", "--config", cfgPath, "../../examples/retail")
	if code != exitOK || !strings.Contains(out, "Plan: 37 to add") {
		t.Errorf("plan of a checkout with unused secrets absent: exit %d\n%s\n%s", code, out, errOut)
	}
	code, _, errOut = run(t, "", "plan", "--config", cfgPath)
	if code != exitUsage || !strings.Contains(errOut, "sources[0].auth.token: environment variable CLI_ABSENT_GIT_TOKEN is not set") ||
		strings.Contains(errOut, "webhooks") || strings.Contains(errOut, "apiToken") {
		t.Errorf("plan of the branch without its git token: exit %d\n%s", code, errOut)
	}
	// Import reads Treasure Data only.
	if err := os.Unsetenv("CLI_DBX_TOKEN"); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run(t, "", "import", "--config", cfgPath, "--parent", "Retail Customers", "--connection", "databricks-retail", "--out", t.TempDir())
	if code != exitFailed || !strings.Contains(errOut, `no parent segment named "Retail Customers"`) {
		t.Errorf("import without warehouse credentials: exit %d, want it to reach Treasure Data\n%s\n%s", code, out, errOut)
	}
	code, _, errOut = run(t, "", "plan", "--config", cfgPath, "../../examples/retail")
	if code != exitUsage || !strings.Contains(errOut, "databricks.token: environment variable CLI_DBX_TOKEN is not set") {
		t.Errorf("plan without warehouse credentials: exit %d\n%s", code, errOut)
	}
}

// copyRetail copies the retail example to a new directory, with edit
// applied to parent.cue.
func copyRetail(t *testing.T, edit func(string) string) string {
	t.Helper()
	src := "../../examples/retail"
	dir := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if rel == "parent.cue" {
			b = []byte(edit(string(b)))
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func connectionIs(name string) func(string) string {
	return func(s string) string {
		return strings.Replace(s, `connection:  "databricks-retail"`, `connection:  "`+name+`"`, 1)
	}
}

// TestPlanShowsAConnectionChange: a checkout naming another connection
// plans a replace of the parent segment, held for prune.allowParentReplace;
// one naming a connection Treasure
// does not have fails with its name, the parent and the position.
func TestPlanShowsAConnectionChange(t *testing.T) {
	cfg, _ := cliEnv(t)
	if code, out, errOut := run(t, "", "apply", "--config", cfg, "--auto-approve"); code != exitOK {
		t.Fatalf("apply: %s\n%s", out, errOut)
	}
	code, out, errOut := run(t, "", "plan", "--config", cfg, "--detailed-exitcode", copyRetail(t, connectionIs("databricks-backup")))
	if code != exitChanges || !strings.Contains(out, `parent "Retail Customers" would be replaced`) ||
		!strings.Contains(out, "prune.allowParentReplace") || !strings.Contains(out, `"databricks-backup (id 341080)"`) {
		t.Fatalf("plan with another connection: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = run(t, "", "plan", "--config", cfg, "--detailed-exitcode", copyRetail(t, connectionIs("no-such-connection")))
	if code != exitFailed || strings.Contains(out, "No changes.") {
		t.Fatalf("plan with an unknown connection: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{`connection "no-such-connection" does not exist`, `"Retail Customers"`, "parent.cue:"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

// TestPlanShowsARemovedParent: the CLI, which remembers nothing between
// runs, shows a parent segment removed from the repository as a blocked
// delete, because ownership is read from Treasure.
func TestPlanShowsARemovedParent(t *testing.T) {
	cfg, td := cliEnv(t)
	if code, out, errOut := run(t, "", "apply", "--config", cfg, "--auto-approve"); code != exitOK {
		t.Fatalf("apply: %s\n%s", out, errOut)
	}
	dir := t.TempDir()
	mod, err := os.ReadFile("../../examples/retail/cue.mod/module.cue")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "cue.mod"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cue.mod/module.cue"), mod, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "", "plan", "--config", cfg, "--format", "json", dir)
	if code != exitOK || !strings.Contains(out, `"kind": "parent"`) || !strings.Contains(out, "prune.allowParentDelete") {
		t.Fatalf("plan without the parent segment: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = run(t, "", "plan", "--config", cfg, "--detailed-exitcode", dir)
	if code != exitChanges || strings.Contains(out, "No changes.") {
		t.Errorf("plan --detailed-exitcode without the parent segment: exit %d\n%s", code, out)
	}
	if len(td.Parents()) != 1 {
		t.Error("plan deleted the parent segment")
	}
}

// TestApplyUnderDriftReportKeepsAHandEdit: without treasure.principal the
// CLI still tells a hand edit by the fingerprint in the ownership marker:
// under drift: report apply holds it instead of reverting it.
func TestApplyUnderDriftReportKeepsAHandEdit(t *testing.T) {
	cfg, td := cliEnv(t)
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, append(b, []byte("drift: report\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := run(t, "", "apply", "--config", cfg, "--auto-approve"); code != exitOK {
		t.Fatalf("apply: %s\n%s", out, errOut)
	}
	id := segmentID(t, td, "Top Spenders")
	if err := td.ModifySegment(id, "alice", func(s *tdstandin.Segment) {
		s.Description = strings.Replace(s.Description, "Largest", "Biggest", 1)
	}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "", "plan", "--config", cfg, "--format", "json")
	if code != exitOK || !strings.Contains(out, `"drift": {`) || !strings.Contains(out, "drift mode is report") {
		t.Fatalf("plan after a hand edit: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := run(t, "", "apply", "--config", cfg, "--auto-approve"); code != exitOK {
		t.Fatalf("apply after a hand edit: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, s := range td.Segments() {
		if s.ID == id && !strings.HasPrefix(s.Description, "Biggest") {
			t.Errorf("apply reverted the hand edit under drift: report: %q", s.Description)
		}
	}
}

// segmentID returns the id of the segment named name in the stand-in.
func segmentID(t *testing.T, td *tdstandin.Server, name string) string {
	t.Helper()
	for _, s := range td.Segments() {
		if s.Name == name {
			return s.ID
		}
	}
	t.Fatalf("no segment %q in Treasure Data", name)
	return ""
}

// TestApplyFailsOnConflicts: a segment the reconciler does not own (its
// ownership marker removed by hand) under a name the repository declares is
// a conflict: apply changes nothing there and exits 1 saying so, also when
// it has nothing else to apply; a blocked change alone would exit 0.
func TestApplyFailsOnConflicts(t *testing.T) {
	cfg, td := cliEnv(t)
	if code, out, errOut := run(t, "", "apply", "--config", cfg, "--auto-approve"); code != exitOK {
		t.Fatalf("apply: %s\n%s", out, errOut)
	}
	id := segmentID(t, td, "Top Spenders")
	if err := td.ModifySegment(id, "alice", func(s *tdstandin.Segment) {
		if i := strings.Index(s.Description, "[managed-by:"); i >= 0 {
			s.Description = strings.TrimSpace(s.Description[:i])
		}
	}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "", "apply", "--config", cfg, "--auto-approve")
	if code != exitFailed || !strings.Contains(errOut, "1 conflict(s) left unresolved") || !strings.Contains(out, "Top Spenders") {
		t.Fatalf("apply with a conflict: exit %d\n%s\n%s", code, out, errOut)
	}
	if s, _ := td.Segment(id); strings.Contains(s.Description, "[managed-by:") {
		t.Errorf("apply took over a segment it does not own: %q", s.Description)
	}
}

// TestValidateChecksConnections: validate --config checks every parent
// segment's connection against Treasure Data, reporting an unknown one at
// its position; without --config it needs no credentials and does not.
func TestValidateChecksConnections(t *testing.T) {
	cfg, td := cliEnv(t)
	bad := copyRetail(t, connectionIs("no-such-connection"))
	code, out, errOut := run(t, "", "validate", "--config", cfg, bad)
	if code != exitFailed || !strings.Contains(out, `connection "no-such-connection" does not exist in Treasure Data`) ||
		!strings.Contains(out, "parent.cue:") {
		t.Fatalf("validate --config with an unknown connection: exit %d\n%s\n%s", code, out, errOut)
	}
	badAct := copyRetail(t, func(s string) string { return s })
	mk := filepath.Join(badAct, "segments", "marketing.cue")
	mb, err := os.ReadFile(mk)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(mb), `connection: "s3-retail-exports"`, `connection: "no-such-export"`, 1)
	if edited == string(mb) {
		t.Fatal("examples/retail/segments/marketing.cue changed: no activation on s3-retail-exports")
	}
	if err := os.WriteFile(mk, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := run(t, "", "validate", "--config", cfg, badAct); code != exitFailed ||
		!strings.Contains(out, `activation "S3 daily" of segment "VIP Customers": connection "no-such-export" does not exist in Treasure Data`) ||
		!strings.Contains(out, "segments/marketing.cue:") {
		t.Fatalf("validate --config with an unknown activation connection: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := run(t, "", "validate", "--config", cfg, copyRetail(t, connectionIs("databricks-backup"))); code != exitOK {
		t.Fatalf("validate --config with a known connection: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := run(t, "", "validate", bad); code != exitOK {
		t.Fatalf("validate without --config: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, r := range td.Requests() {
		if r.Method != "GET" {
			t.Errorf("validate wrote to Treasure: %s %s", r.Method, r.Path)
		}
	}
}

func TestPlanShowsPopulations(t *testing.T) {
	cfg, _ := cliEnv(t)
	code, out, errOut := run(t, "", "plan", "--config", cfg, "--format", "json")
	if code != exitOK {
		t.Fatalf("plan: exit %d\n%s", code, errOut)
	}
	var pl struct {
		Changes []struct {
			Kind       string `json:"kind"`
			Name       string `json:"name"`
			Population *struct {
				Before *int64 `json:"before"`
				After  *int64 `json:"after"`
				Total  *int64 `json:"total"`
			} `json:"population"`
		} `json:"changes"`
	}
	if err := json.Unmarshal([]byte(out), &pl); err != nil {
		t.Fatal(err)
	}
	counted := 0
	for _, c := range pl.Changes {
		if c.Kind != "segment" {
			continue
		}
		if c.Population == nil {
			t.Errorf("segment %q has no population", c.Name)
			continue
		}
		if c.Population.After != nil {
			counted++
			if c.Population.Before != nil || c.Population.Total == nil || *c.Population.Total != 5000 {
				t.Errorf("segment %q: population %+v, want no before on a create and 5000 profiles in all", c.Name, c.Population)
			}
		}
	}
	if counted < 20 {
		t.Errorf("%d segments counted, want most of the 28\n%s", counted, out)
	}

	code, out, _ = run(t, "", "plan", "--config", cfg, "--no-population")
	if code != exitOK || strings.Contains(out, "population") {
		t.Errorf("plan --no-population: exit %d\n%s", code, out)
	}

	if code, out, errOut := run(t, "", "apply", "--config", cfg, "--auto-approve"); code != exitOK {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	dir := copyRetail(t, func(s string) string { return s })
	f := filepath.Join(dir, "segments", "lifecycle.cue")
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(b), `{attribute: "ltv", greaterThan: 200}`, `{attribute: "ltv", greaterThan: 2500}`, 1)
	if edited == string(b) {
		t.Fatal("the Churn Risk rule was not found")
	}
	if err := os.WriteFile(f, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run(t, "", "plan", "--config", cfg, dir)
	line := regexp.MustCompile(`~ segment "Churn Risk"  population ([0-9,]+) → ([0-9,]+) \(-[0-9.]+%\) \{`)
	if code != exitOK || !line.MatchString(out) {
		t.Fatalf("plan of an edited rule: exit %d, want a population before and after\n%s\n%s", code, out, errOut)
	}

	// The gate: a move of more than maxChangePercent is held.
	gated := filepath.Join(t.TempDir(), "gated.yaml")
	cb, _ := os.ReadFile(cfg)
	if err := os.WriteFile(gated, append(cb, []byte("population:\n  maxChangePercent: 5\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run(t, "", "plan", "--config", gated, "--detailed-exitcode", dir)
	if code != exitChanges || !strings.Contains(out, "more than population.maxChangePercent (5%)") ||
		!strings.Contains(out, "Nothing to apply, but Treasure Data does not match the repository: 1 blocked.") {
		t.Fatalf("plan with population.maxChangePercent: exit %d\n%s\n%s", code, out, errOut)
	}
	// lifecycle.allowPopulationChange releases it.
	allowed := strings.Replace(edited, `"Churn Risk": {`, `"Churn Risk": {
		lifecycle: allowPopulationChange: true`, 1)
	if err := os.WriteFile(f, []byte(allowed), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run(t, "", "plan", "--config", gated, "--detailed-exitcode", dir)
	if code != exitChanges || strings.Contains(out, "blocked") || !strings.Contains(out, "Plan: 0 to add, 1 to change") {
		t.Fatalf("plan with lifecycle.allowPopulationChange: exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestPreviewCountsASegment(t *testing.T) {
	cfg, td := cliEnv(t)
	dir := copyRetail(t, func(s string) string { return s })
	code, out, errOut := run(t, "", "preview", "--config", cfg, "--sample", "3", dir, "Churn Risk")
	count := regexp.MustCompile(`segment "Retail Customers/Churn Risk": ([0-9,]+) of 5,000 profiles`).FindStringSubmatch(out)
	if code != exitOK || count == nil || count[1] == "0" || !strings.Contains(out, "count_if((`m1` & 1) <> 0)") ||
		!regexp.MustCompile(`sample \(3\): c[0-9]+, c[0-9]+, c[0-9]+`).MatchString(out) {
		t.Fatalf("preview: exit %d\n%s\n%s", code, out, errOut)
	}
	code, _, errOut = run(t, "", "preview", "--config", cfg, dir, "No Such Segment")
	if code != exitFailed || !strings.Contains(errOut, `no segment "No Such Segment"`) {
		t.Errorf("preview of an unknown segment: exit %d\n%s", code, errOut)
	}
	// Preview reads the warehouse alone: no Treasure key needed, and no
	// request sent to Treasure.
	t.Setenv("CLI_TD_KEY", "")
	before := len(td.Requests())
	code, out, errOut = run(t, "", "preview", "--config", cfg, dir, "Churn Risk")
	if code != exitOK || !strings.Contains(out, `segment "Retail Customers/Churn Risk": `) {
		t.Fatalf("preview without a Treasure key: exit %d\n%s\n%s", code, out, errOut)
	}
	if n := len(td.Requests()) - before; n != 0 {
		t.Errorf("preview sent Treasure %d requests", n)
	}
}
