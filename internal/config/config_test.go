package config

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cas-reconciler/reconciler/pkg/diag"
)

var update = flag.Bool("update", false, "rewrite golden files")

const fixtures = "../../testdata/config"

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func load(t *testing.T, name string, vars map[string]string) (*Config, error) {
	t.Helper()
	path := filepath.Join(fixtures, name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Parse(filepath.ToSlash(filepath.Join("testdata/config", name)), data, Options{LookupEnv: env(vars), Dir: fixtures})
}

func TestBadFixturesGolden(t *testing.T) {
	for _, name := range []string{"bad-many.yaml", "bad-secrets.cue"} {
		t.Run(name, func(t *testing.T) {
			_, err := load(t, name, nil)
			var inv *diag.InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("Parse error = %v, want *diag.InvalidError", err)
			}
			var b strings.Builder
			for _, d := range inv.Diags {
				b.WriteString(d.String() + "\n")
			}
			got := b.String()
			if strings.Contains(got, "super-secret") {
				t.Errorf("diagnostics repeat a literal secret:\n%s", got)
			}
			golden := filepath.Join(fixtures, strings.TrimSuffix(name, filepath.Ext(name))+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("diagnostics differ from %s (run with -update):\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

func TestGoodCUE(t *testing.T) {
	cfg, err := load(t, "good.cue", map[string]string{"GIT_TOKEN": "ghp_x", "TD_API_KEY": "td-key", "GITHUB_WEBHOOK_SECRET": "hook"})
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Sources[0]
	checks := map[string][2]any{
		"source name":     {s.Name, "retail"},
		"path":            {s.Path, "cas"},
		"jitter":          {s.Jitter.D().String(), "20s"},
		"git token":       {s.Auth.Token.Value(), "ghp_x"},
		"owner default":   {s.OwnerName(), "retail"},
		"api key":         {cfg.Treasure.APIKey.Value(), "td-key"},
		"api key string":  {cfg.Treasure.APIKey.String(), "env:TD_API_KEY"},
		"dbx token file":  {cfg.Databricks.Token.Value(), "dapi-file-token"},
		"dbx port":        {cfg.Databricks.Port, 443},
		"query timeout":   {cfg.Databricks.QueryTimeout.D().String(), "1m0s"},
		"prune default":   {cfg.Prune.Enabled, true},
		"prune max":       {cfg.Prune.MaxDeletes, 5},
		"drift":           {cfg.Drift, "report"},
		"freeze duration": {cfg.FreezeWindows[0].Duration.D().String(), "96h0m0s"},
		"webhook":         {cfg.Webhooks.GitHub.Value(), "hook"},
		"gitlab off":      {cfg.Webhooks.GitLab == nil, true},
		"log level":       {cfg.Log.Level, "debug"},
		"lease default":   {cfg.LeaderElection.LeaseName, "cas-reconciler"},
		"timezone":        {cfg.Location.String(), "UTC"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %v, want %v", name, c[0], c[1])
		}
	}
}

func TestGoodYAML(t *testing.T) {
	cfg, err := load(t, "good.yaml", map[string]string{"DBX_CLIENT_SECRET": "oauth-secret"})
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Sources[0]
	if s.Branch != "main" || s.Schedule != "@every 10m" || s.Jitter.D().String() != "30s" {
		t.Errorf("source defaults: branch %q schedule %q jitter %s", s.Branch, s.Schedule, s.Jitter.D())
	}
	if string(s.Auth.SSH.Key) != "not a real key\n" || len(s.Auth.SSH.KnownHosts) == 0 {
		t.Errorf("ssh files not read: key %q known_hosts %q", s.Auth.SSH.Key, s.Auth.SSH.KnownHosts)
	}
	if cfg.Treasure.APIKey.Value() != "td-file-key" || cfg.Treasure.Region != "jp01" {
		t.Errorf("treasure = %+v", cfg.Treasure)
	}
	if cfg.Databricks.OAuth.ClientSecret.Value() != "oauth-secret" {
		t.Errorf("oauth secret not resolved")
	}
	if !cfg.LeaderElection.Enabled || cfg.LeaderElection.Namespace != "cas" || cfg.LeaderElection.RetryPeriod.D().String() != "2s" {
		t.Errorf("leader election = %+v", cfg.LeaderElection)
	}
	if cfg.Log.Format != "json" || cfg.Listen != "127.0.0.1:8080" {
		t.Errorf("log %+v listen %q", cfg.Log, cfg.Listen)
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	cfg, err := load(t, "good.cue", map[string]string{"GIT_TOKEN": "ghp_sekrit", "TD_API_KEY": "td-sekrit", "GITHUB_WEBHOOK_SECRET": "hook-sekrit"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprintf("%v %+v %s", cfg, cfg.Treasure, b); strings.Contains(s, "sekrit") {
		t.Errorf("secret value printed: %s", s)
	}
}

func TestSchemaErrorsAndChecksTogether(t *testing.T) {
	src := `
sources: [{name: "a", url: "https://h/a.git", schedule: "nope"}, {name: "a", url: "https://h/b.git"}]
treasure: {apiKey: env: "K", region: "moon"}
databricks: {host: "h", httpPath: "/p", token: env: "T", oauth: {clientId: "c", clientSecret: env: "S"}}
`
	_, err := Parse("c.cue", []byte(src), Options{LookupEnv: env(map[string]string{"K": "k", "T": "t", "S": "s"})})
	var inv *diag.InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("err = %v", err)
	}
	var got []string
	for _, d := range inv.Diags {
		got = append(got, d.String())
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		`c.cue:3:38: error: treasure.region: invalid value "moon"`,
		`c.cue:2:47: error: sources[0].schedule: invalid schedule "nope"`,
		`c.cue:2:67: error: sources[1].name: source name "a" is also used by sources[0]`,
		`c.cue:4:58: error: databricks.oauth: set either token or oauth, not both`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("missing %q in:\n%s", want, all)
		}
	}
}

// TestRefusedSourceHidesNothing checks that a source refused by the schema
// does not keep the other sources from being checked.
func TestRefusedSourceHidesNothing(t *testing.T) {
	src := `
sources: [{name: "a", url: "https://h/a.git", schedule: "nope"}, {name: "b", url: "https://h/b.git", jitter: "x"}]
treasure: apiKey: env: "K"
databricks: {host: "h", httpPath: "/p", token: env: "K"}
`
	_, err := Parse("c.cue", []byte(src), Options{LookupEnv: env(map[string]string{"K": "k"})})
	var inv *diag.InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("err = %v", err)
	}
	var got []string
	for _, d := range inv.Diags {
		got = append(got, d.String())
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		`c.cue:2:47: error: sources[0].schedule: invalid schedule "nope"`,
		`c.cue:2:110: error: sources[1].jitter: invalid value "x"`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("missing %q in:\n%s", want, all)
		}
	}
}

func TestSyntaxError(t *testing.T) {
	_, err := Parse("c.yaml", []byte("sources: [\n"), Options{})
	var inv *diag.InvalidError
	if !errors.As(err, &inv) || !strings.HasPrefix(inv.Diags[0].String(), "c.yaml:1: error: syntax error") {
		t.Fatalf("err = %v", err)
	}
}

func TestPrincipalAndProtect(t *testing.T) {
	const cueSrc = `
sources: [{name: "retail", url: "https://h/retail.git", prune: {maxDeletes: 3, protect: [{kind: "segment", parent: "Retail", name: "VIP"}]}},
	{name: "web", url: "https://h/web.git"}]
treasure: {apiKey: env: "K", principal: "reconciler@acme.example"}
databricks: {host: "h", httpPath: "/p", token: env: "K"}
prune: protect: [{kind: "parent", name: "Retail"}, {kind: "folder", parent: "Retail", path: "Gen/F01"}]
`
	const yamlSrc = `
sources:
  - name: retail
    url: https://h/retail.git
    prune:
      maxDeletes: 3
      protect:
        - {kind: segment, parent: Retail, name: VIP}
  - name: web
    url: https://h/web.git
treasure:
  apiKey: {env: K}
  principal: reconciler@acme.example
databricks: {host: h, httpPath: /p, token: {env: K}}
prune:
  protect:
    - {kind: parent, name: Retail}
    - {kind: folder, parent: Retail, path: Gen/F01}
`
	for file, src := range map[string]string{"c.cue": cueSrc, "c.yaml": yamlSrc} {
		t.Run(file, func(t *testing.T) {
			cfg, err := Parse(file, []byte(src), Options{LookupEnv: env(map[string]string{"K": "k"})})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Treasure.Principal != "reconciler@acme.example" {
				t.Errorf("treasure.principal = %q", cfg.Treasure.Principal)
			}
			wantGlobal := []Protected{{Kind: KindParent, Name: "Retail"}, {Kind: KindFolder, Parent: "Retail", Path: "Gen/F01"}}
			if !slices.Equal(cfg.Prune.Protect, wantGlobal) {
				t.Errorf("prune.protect = %+v, want %+v", cfg.Prune.Protect, wantGlobal)
			}
			src := cfg.Sources[0].Prune
			if src == nil || src.MaxDeletes != 3 || !slices.Equal(src.Protect, []Protected{{Kind: KindSegment, Parent: "Retail", Name: "VIP"}}) {
				t.Errorf("sources[0].prune = %+v", src)
			}
			if cfg.Sources[1].Prune != nil {
				t.Errorf("sources[1].prune = %+v, want none", cfg.Sources[1].Prune)
			}
		})
	}
	t.Run("defaults", func(t *testing.T) {
		cfg, err := Parse("c.cue", []byte(`
sources: [{name: "a", url: "https://h/a.git"}]
treasure: apiKey: env: "K"
databricks: {host: "h", httpPath: "/p", token: env: "K"}
`), Options{LookupEnv: env(map[string]string{"K": "k"})})
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Treasure.Principal != "" || len(cfg.Prune.Protect) != 0 {
			t.Errorf("principal %q, protect %+v; want none", cfg.Treasure.Principal, cfg.Prune.Protect)
		}
	})
}

// TestBadProtectEntries checks that every mistake in protect lists is
// reported at once, with the other problems of the file.
func TestBadProtectEntries(t *testing.T) {
	src := `
sources: [{name: "a", url: "https://h/a.git", schedule: "nope", prune: protect: [{kind: "segment", parent: "Retail"}]},
	{name: "b", url: "https://h/b.git", prune: protect: [{kind: "segment", parent: "R", name: "x"}, {kind: "sgment", parent: "R", name: "x"}]}]
treasure: {apiKey: env: "K", principal: ""}
databricks: {host: "h", httpPath: "/p", token: env: "K"}
prune: protect: [
	{kind: "folder", parent: "Retail", name: "Gen"},
	{kind: "folder", parent: "Retail", path: "/Gen//F01/"},
	{kind: "parent", name: "Old", parent: "Retail"},
	{kind: "segment", parent: "Retail", name: "VIP", path: "Gen"},
	{kind: "segment", parent: "Retail", name: "Fine"},
	{kind: "bucket", name: "x"},
	{kind: "activation", parent: "Retail", name: "S3"},
	{kind: "activation", parent: "Retail", segment: "VIP", name: "S3"},
]
`
	_, err := Parse("c.cue", []byte(src), Options{LookupEnv: env(map[string]string{"K": "k"})})
	var inv *diag.InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("err = %v, want *diag.InvalidError", err)
	}
	var got []string
	for _, d := range inv.Diags {
		got = append(got, d.String())
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		`c.cue:2:47: error: sources[0].schedule: invalid schedule "nope"`,
		`c.cue:2:82: error: sources[0].prune.protect[0]: a protected segment needs parent and name`,
		`c.cue:3:105: error: sources[1].prune.protect[1].kind: invalid value "sgment"`,
		`c.cue:4:41: error: treasure.principal: invalid value ""`,
		`c.cue:7:2: error: prune.protect[0]: a protected folder needs parent and path`,
		`c.cue:7:37: error: prune.protect[0].name: a protected folder is identified by parent and path, not name`,
		`c.cue:8:37: error: prune.protect[1].path: folder path "/Gen//F01/" must be names separated by single slashes`,
		`c.cue:9:32: error: prune.protect[2].parent: a protected parent is identified by name, not parent`,
		`c.cue:10:51: error: prune.protect[3].path: a protected segment is identified by parent and name, not path`,
		`c.cue:12:9: error: prune.protect[5].kind: invalid value "bucket"`,
		`c.cue:13:2: error: prune.protect[6]: a protected activation needs parent and segment and name`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("missing %q in:\n%s", want, all)
		}
	}
	if strings.Contains(all, "prune.protect[4]") || strings.Contains(all, "prune.protect[7]") || strings.Contains(all, "sources[1].prune.protect[0]") {
		t.Errorf("a valid entry was reported:\n%s", all)
	}
}

// TestMaxResponseBytesBounds checks the bounds of treasure.maxResponseBytes.
func TestMaxResponseBytesBounds(t *testing.T) {
	for v, ok := range map[string]bool{"1048576": true, "4294967296": true, "1024": false, "9223372036854775807": false} {
		src := `
sources: [{name: "a", url: "https://h/a.git"}]
treasure: {apiKey: env: "K", maxResponseBytes: ` + v + `}
databricks: {host: "h", httpPath: "/p", token: env: "K"}
`
		_, err := Parse("c.cue", []byte(src), Options{LookupEnv: env(map[string]string{"K": "k"})})
		if (err == nil) != ok {
			t.Errorf("maxResponseBytes %s: err %v, want accepted %v", v, err, ok)
		}
	}
}

// TestTreasureWire checks the overrides of undocumented wire choices: each
// is optional, reaches the Config, and a value that cannot be a path, a
// type name or a media type is refused with its position.
func TestTreasureWire(t *testing.T) {
	parse := func(wire string) (*Config, error) {
		src := `
sources: [{name: "a", url: "https://h/a.git"}]
treasure: {apiKey: env: "K", wire: {` + wire + `}}
databricks: {host: "h", httpPath: "/p", token: env: "K"}
`
		return Parse("c.cue", []byte(src), Options{LookupEnv: env(map[string]string{"K": "k"})})
	}
	c, err := parse(`casUploadPath: "/v2/composable_audiences", segmentType: "segment-batch", segmentFolderType: "folder-segment", folderType: "folder", mediaType: "application/json", syndicationsPath: "/audiences/segments/{segment}/syndications", syndicationColumns: "plain"`)
	if err != nil {
		t.Fatal(err)
	}
	want := Wire{CASUploadPath: "/v2/composable_audiences", SegmentType: "segment-batch", SegmentFolderType: "folder-segment", FolderType: "folder", MediaType: "application/json",
		SyndicationsPath: "/audiences/segments/{segment}/syndications", SyndicationColumns: "plain"}
	if c.Treasure.Wire == nil || *c.Treasure.Wire != want {
		t.Errorf("wire = %+v, want %+v", c.Treasure.Wire, want)
	}
	if c, err := parse(``); err != nil || c.Treasure.Wire == nil || *c.Treasure.Wire != (Wire{}) {
		t.Errorf("empty wire: %+v, %v", c, err)
	}
	for _, bad := range []string{`casUploadPath: "composable_audiences"`, `casUploadPath: "/a b"`, `segmentType: "Composable Segment"`,
		`folderType: ""`, `mediaType: "json"`, `segmentFolderType: 3`, `uploadPath: "/x"`,
		`syndicationsPath: "/entities/syndications"`, `syndicationColumns: "nested"`} {
		_, err := parse(bad)
		var inv *diag.InvalidError
		if !errors.As(err, &inv) || !strings.Contains(err.Error(), "c.cue:3:") {
			t.Errorf("wire {%s}: err = %v, want a diagnostic at c.cue:3", bad, err)
		}
	}
}

// absentSecrets references every kind of secret through environment
// variables and files that do not exist.
const absentSecrets = `
apiToken: env: "ABSENT_API_TOKEN"
sources: [
	{name: "a", url: "https://h/a.git", auth: token: env: "ABSENT_GIT_TOKEN"},
	{name: "b", url: "https://h/b.git", auth: basic: {username: "u", password: file: "absent/password"}},
	{name: "c", url: "ssh://git@h/c.git", auth: ssh: {keyFile: "absent/id", knownHostsFile: "absent/known_hosts", passphrase: env: "ABSENT_PASSPHRASE"}},
]
treasure: apiKey: env: "ABSENT_TD_KEY"
databricks: {host: "h", httpPath: "/p", oauth: {clientId: "c", clientSecret: file: "absent/client-secret"}}
webhooks: {github: env: "ABSENT_GITHUB", gitlab: file: "absent/gitlab", generic: env: "ABSENT_GENERIC"}
`

// TestSkippedSecretsAreNotRead: a part skipped is checked for shape only,
// so its absent variables and files are no error; the parts read still
// report theirs, each naming its field.
func TestSkippedSecretsAreNotRead(t *testing.T) {
	opts := Options{LookupEnv: env(nil), Dir: t.TempDir(), Skip: UseAll}
	cfg, err := Parse("c.cue", []byte(absentSecrets), opts)
	if err != nil {
		t.Fatalf("nothing read, yet: %v", err)
	}
	if cfg.Unresolved != UseAll || cfg.Treasure.APIKey.Value() != "" || cfg.Sources[2].Auth.SSH.Key != nil {
		t.Errorf("unresolved = %b, api key %q, ssh key %q", cfg.Unresolved, cfg.Treasure.APIKey.Value(), cfg.Sources[2].Auth.SSH.Key)
	}

	// Treasure and the warehouse read, git and the server skipped (plan of
	// a checkout).
	opts.Skip = UseGit | UseServer
	_, err = Parse("c.cue", []byte(absentSecrets), opts)
	var inv *diag.InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("err = %v", err)
	}
	var fields []string
	for _, d := range inv.Diags {
		field, _, _ := strings.Cut(d.Summary, ":")
		fields = append(fields, field)
	}
	if want := []string{"treasure.apiKey", "databricks.oauth.clientSecret"}; !slices.Equal(fields, want) {
		t.Errorf("problems in %v, want %v only:\n%s", fields, want, inv)
	}

	// Everything read (the zero Options): every absent secret is reported.
	opts.Skip = 0
	_, err = Parse("c.cue", []byte(absentSecrets), opts)
	if !errors.As(err, &inv) {
		t.Fatalf("err = %v", err)
	}
	if n, _ := inv.Diags.Count(); n != 11 {
		t.Errorf("%d problems, want 11 (every secret, ssh files included):\n%s", n, inv)
	}
}

// TestSkippedSecretsKeepTheirShape: a secret that is not read must still be
// a well-formed reference; the error names the field.
func TestSkippedSecretsKeepTheirShape(t *testing.T) {
	for _, tc := range []struct{ name, ref, field string }{
		{"bad env name", `webhooks: github: env: "NOT-A-NAME"`, "webhooks.github"},
		{"empty file", `apiToken: file: ""`, "apiToken"},
		{"both env and file", `webhooks: gitlab: {env: "A", file: "b"}`, "webhooks.gitlab"},
		{"empty reference", `apiToken: {}`, "apiToken"},
		{"literal", `apiToken: "sekrit-literal"`, "apiToken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := `
sources: [{name: "a", url: "https://h/a.git"}]
treasure: apiKey: env: "K"
databricks: {host: "h", httpPath: "/p", token: env: "K"}
` + tc.ref + "\n"
			_, err := Parse("c.cue", []byte(src), Options{LookupEnv: env(nil), Skip: UseAll})
			var inv *diag.InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("err = %v, want the reference refused", err)
			}
			msg := inv.Error()
			for _, d := range inv.Diags {
				msg += "\n" + d.String()
			}
			if !strings.Contains(msg, tc.field+":") || strings.Contains(msg, "sekrit") {
				t.Errorf("error does not name %s (or repeats the secret):\n%s", tc.field, msg)
			}
		})
	}
	// Required secrets stay required.
	_, err := Parse("c.cue", []byte(`
sources: [{name: "a", url: "https://h/a.git"}]
treasure: region: "us01"
databricks: {host: "h", httpPath: "/p"}
`), Options{LookupEnv: env(nil), Skip: UseAll})
	var inv *diag.InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("missing required secrets accepted: %v", err)
	}
	var all []string
	for _, d := range inv.Diags {
		all = append(all, d.String())
	}
	for _, want := range []string{"treasure.apiKey", "databricks: set token or oauth"} {
		if !strings.Contains(strings.Join(all, "\n"), want) {
			t.Errorf("missing %q in:\n%s", want, strings.Join(all, "\n"))
		}
	}
}

// TestSourceURLWithCredentials: credentials in a source URL are refused,
// naming the source and auth, without repeating them; an SSH user alone is
// an account and accepted.
func TestSourceURLWithCredentials(t *testing.T) {
	for _, tc := range []struct {
		url    string
		refuse bool
	}{
		{"https://user:tok3n-value@git.example.com/retail.git", true},
		{"https://tok3n-value@git.example.com/retail.git", true},
		{"http://user:tok3n-value@127.0.0.1:8080/retail.git", true},
		{"ssh://git:tok3n-value@git.example.com/retail.git", true},
		{"file://user:tok3n-value@localhost/srv/retail.git", true},
		{"https://git.example.com/retail.git", false},
		{"https://git.example.com/retail.git?ref=a@b", false},
		{"ssh://git@git.example.com/retail.git", false},
		{"git@git.example.com:retail.git", false},
		{"file:///srv/retail.git", false},
	} {
		t.Run(tc.url, func(t *testing.T) {
			src := fmt.Sprintf(`
sources: [{name: "retail", url: %q}]
treasure: apiKey: env: "K"
databricks: {host: "h", httpPath: "/p", token: env: "K"}
`, tc.url)
			_, err := Parse("c.cue", []byte(src), Options{LookupEnv: env(map[string]string{"K": "k"})})
			if !tc.refuse {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var inv *diag.InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("err = %v, want the URL refused", err)
			}
			var all []string
			for _, d := range inv.Diags {
				all = append(all, d.String())
			}
			msg := strings.Join(all, "\n")
			for _, want := range []string{"sources[0].url:", `source "retail"`, "auth"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message lacks %q:\n%s", want, msg)
				}
			}
			if strings.Contains(msg, "tok3n-value") {
				t.Errorf("message repeats the credential:\n%s", msg)
			}
		})
	}
	// A URL the schema refuses is not repeated when it holds credentials.
	_, err := Parse("c.cue", []byte(`
sources: [{name: "retail", url: "htps://user:tok3n-value@git.example.com/r.git"}]
treasure: apiKey: env: "K"
databricks: {host: "h", httpPath: "/p", token: env: "K"}
`), Options{LookupEnv: env(map[string]string{"K": "k"})})
	var inv *diag.InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("err = %v", err)
	}
	for _, d := range inv.Diags {
		if strings.Contains(d.String(), "tok3n-value") {
			t.Errorf("schema error repeats the credential: %s", d)
		}
	}
}

// TestLeaderElectionShards checks the shard count: one by default (the
// single leader), 1 to 256 accepted, anything else refused.
func TestLeaderElectionShards(t *testing.T) {
	for v, want := range map[string]int{"": 1, "shards: 1": 1, "shards: 3": 3, "shards: 256": 256, "shards: 0": 0, "shards: 257": 0, "shards: -2": 0} {
		src := `
sources: [{name: "a", url: "https://h/a.git"}]
treasure: apiKey: env: "K"
databricks: {host: "h", httpPath: "/p", token: env: "K"}
leaderElection: {enabled: true, namespace: "cas", ` + v + `}
`
		cfg, err := Parse("c.cue", []byte(src), Options{LookupEnv: env(map[string]string{"K": "k"})})
		switch {
		case want == 0 && err == nil:
			t.Errorf("%q accepted", v)
		case want != 0 && err != nil:
			t.Errorf("%q: %v", v, err)
		case want != 0 && cfg.LeaderElection.Shards != want:
			t.Errorf("%q: %d shards, want %d", v, cfg.LeaderElection.Shards, want)
		}
	}
}
