package wiring_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/cas-reconciler/reconciler/internal/config"
	"github.com/cas-reconciler/reconciler/internal/logging"
	"github.com/cas-reconciler/reconciler/internal/reconcile"
	"github.com/cas-reconciler/reconciler/internal/wiring"
	"github.com/cas-reconciler/reconciler/pkg/plan"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

const offlineConfig = `
listen: "127.0.0.1:0"
apiToken: env: "API_TOKEN"
sources: [{name: "retail", url: "https://git.invalid/retail.git", auth: token: env: "GIT_TOKEN"},
	{name: "web", url: "https://git.invalid/web.git", suspend: true}]
treasure: apiKey: env: "TD_API_KEY"
databricks: {host: "dbc.invalid", httpPath: "/sql/1.0/warehouses/x", token: env: "DBX_TOKEN"}
`

// offline is a configuration whose every secret is read and whose hosts
// are never dialed (Build does no network I/O).
func offline(t *testing.T) *config.Config {
	t.Helper()
	vars := map[string]string{"API_TOKEN": "api-token-123", "GIT_TOKEN": "git-token-123", "TD_API_KEY": "td-key-123", "DBX_TOKEN": "dapi-123"}
	cfg, err := config.Parse("c.cue", []byte(offlineConfig), config.Options{LookupEnv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestBuildTeachesTheRedactor(t *testing.T) {
	red := logging.NewRedactor()
	c, err := wiring.Build(offline(t), wiring.Options{Redactor: red})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if got := red.String("key td-key-123 and token git-token-123"); strings.Contains(got, "123") {
		t.Errorf("redactor did not learn the secrets: %s", got)
	}
	s, err := c.Source("web")
	if err != nil || s.Reconciler.Plan.Owner != "web" || !s.Reconciler.Plan.Prune.Enabled || s.Treasure.Owner() != "web" {
		t.Errorf("source web = %+v, %v", s, err)
	}
	if _, err := c.Source("nope"); err == nil {
		t.Error("unknown source found")
	}
}

// TestBuildPassesPrincipalAndProtect checks that treasure.principal and
// the protect lists reach each source's plan options, and that the
// protected objects are the ones plan keeps.
func TestBuildPassesPrincipalAndProtect(t *testing.T) {
	cfg, err := config.Parse("c.cue", []byte(`
sources: [{name: "retail", url: "https://git.invalid/retail.git",
	prune: {maxDeletes: 0, maxDeletePercent: 0, allowParentDelete: true, protect: [{kind: "segment", parent: "Retail", name: "VIP"}]}},
	{name: "web", url: "https://git.invalid/web.git"}]
treasure: {apiKey: env: "K", principal: "reconciler@acme.example"}
databricks: {host: "dbc.invalid", httpPath: "/p", token: env: "K"}
prune: protect: [{kind: "parent", name: "Old"}, {kind: "folder", parent: "Retail", path: "Gen/F01"}, {kind: "segment", parent: "Retail", name: "VIP"}]
`), config.Options{LookupEnv: func(string) (string, bool) { return "secret-value", true }})
	if err != nil {
		t.Fatal(err)
	}
	c, err := wiring.Build(cfg, wiring.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })

	global := []plan.Object{
		{Kind: plan.KindParent, Key: segment.Key{Parent: "Old"}},
		{Kind: plan.KindFolder, Key: segment.Key{Parent: "Retail", Name: "Gen/F01"}},
		{Kind: plan.KindSegment, Key: segment.Key{Parent: "Retail", Name: "VIP"}},
	}
	for _, name := range []string{"retail", "web"} {
		s, err := c.Source(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Reconciler.Plan.Principal; got != "reconciler@acme.example" {
			t.Errorf("%s: plan principal = %q", name, got)
		}
		// The source's list adds to the global one; VIP is in both.
		if got := s.Reconciler.Plan.Protect; !slices.Equal(got, global) {
			t.Errorf("%s: plan protect = %v, want %v", name, got, global)
		}
	}

	// Everything owned below but Stay is gone from the repository: only
	// Other may be deleted.
	retail, _ := c.Source("retail")
	own := segment.Meta{Owned: true, OwnerSource: "retail"}
	desired := segment.State{
		Parents:  []segment.Parent{{Name: "Retail"}},
		Segments: []segment.Segment{{Parent: "Retail", Name: "Stay"}},
	}
	observed := segment.State{
		Parents:  []segment.Parent{{Name: "Retail", Meta: own}, {Name: "Old", Meta: own}},
		Folders:  []segment.Folder{{Parent: "Retail", Path: "Gen/F01", Meta: own}},
		Segments: []segment.Segment{{Parent: "Retail", Name: "Stay", Meta: own}, {Parent: "Retail", Name: "VIP", Meta: own}, {Parent: "Retail", Name: "Other", Meta: own}},
	}
	p := plan.Compute(desired, observed, retail.Reconciler.Plan)
	blocked := map[string]string{}
	for _, ch := range p.Changes {
		if ch.Action == plan.Delete {
			blocked[ch.Ref()] = ch.Blocked
		}
	}
	want := map[string]string{
		"parent:Old":            "protected by prune.protect",
		"folder:Retail/Gen/F01": "protected by prune.protect",
		"segment:Retail/VIP":    "protected by prune.protect",
		"segment:Retail/Other":  "",
	}
	if !maps.Equal(blocked, want) {
		t.Errorf("deletes (ref: blocked) = %v, want %v", blocked, want)
	}
}

// TestBuildWiresOnlyWhatWasRead: a configuration loaded without its git and
// warehouse secrets builds no repository and no Databricks client (the
// reconcilers skip the warehouse checks); one without the Treasure Data key
// builds nothing.
func TestBuildWiresOnlyWhatWasRead(t *testing.T) {
	parse := func(skip config.Uses) *config.Config {
		t.Helper()
		cfg, err := config.Parse("c.cue", []byte(offlineConfig), config.Options{
			LookupEnv: func(k string) (string, bool) {
				return map[string]string{"TD_API_KEY": "td-key-123"}[k], k == "TD_API_KEY"
			},
			Skip: skip,
		})
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	cfg := parse(config.UseWarehouse | config.UseGit | config.UseServer)
	c, err := wiring.Build(cfg, wiring.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Warehouse != nil || c.Sources[0].Repo != nil || c.Sources[0].Reconciler.Catalog != nil || c.Sources[0].Treasure == nil {
		t.Errorf("warehouse %v, repo %v, catalog %v, treasure %v", c.Warehouse, c.Sources[0].Repo, c.Sources[0].Reconciler.Catalog, c.Sources[0].Treasure)
	}
	if _, _, err := c.Sources[0].Snapshot(t.Context()); err == nil || !strings.Contains(err.Error(), "git credentials were not read") {
		t.Errorf("Snapshot without a repository: %v", err)
	}
	if _, err := wiring.Build(parse(config.UseAll), wiring.Options{}); err == nil {
		t.Error("Build without the Treasure Data key succeeded")
	}
}

// TestBuildAsksForUniquenessThroughTheRequest: with checkUniqueness the
// reconciler requires unique keys (its warehouse request then names them)
// and its catalog is the Databricks client itself, which answers them.
func TestBuildAsksForUniquenessThroughTheRequest(t *testing.T) {
	for _, check := range []bool{false, true} {
		cfg := offline(t)
		cfg.Databricks.CheckUniqueness = check
		c, err := wiring.Build(cfg, wiring.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range c.Sources {
			r := s.Reconciler
			if r.Validate.RequireUniqueKeys != check || r.Catalog != reconcile.Catalog(c.Warehouse) || r.Loader != reconcile.Loader(s.Loader) {
				t.Errorf("checkUniqueness %v, source %s: require %v, catalog %T, loader %T", check, s.Name, r.Validate.RequireUniqueKeys, r.Catalog, r.Loader)
			}
		}
		_ = c.Close()
	}
}
