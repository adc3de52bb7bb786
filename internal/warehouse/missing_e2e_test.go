//go:build cgo

package warehouse_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin"
	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin/dbxtest"
	"github.com/cas-reconciler/reconciler/internal/warehouse"
	"github.com/cas-reconciler/reconciler/pkg/catalog"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// A table whose catalog or schema does not exist is reported as such in
// the Catalog, from the error class the warehouse answers (through the
// real driver), in both privilege modes: never a failed Snapshot.
func TestMissingCatalogAndSchemaAreNamed(t *testing.T) {
	for _, mode := range []warehouse.PrivilegeCheck{warehouse.ProbeTables, warehouse.ReadGrants} {
		_, ep := dbxtest.Start(t, retailFixture)
		c := open(t, ep, func(o *warehouse.Options) { o.Privileges = mode })
		noCatalog := segment.Table{Catalog: "retail_dev", Schema: "cdp", Table: "customers"}
		noSchema := segment.Table{Catalog: "retail_prod", Schema: "cdp_v2", Table: "orders"}
		noTable := retailTables("no_such_table")[0]
		tables := append([]segment.Table{noCatalog, noSchema, noTable}, allRetail[0])
		cat, err := c.Snapshot(context.Background(), tables)
		if err != nil {
			t.Fatalf("mode %d: %v", mode, err)
		}
		for _, tc := range []struct {
			t    segment.Table
			want catalog.Missing
		}{{noCatalog, catalog.MissingCatalog}, {noSchema, catalog.MissingSchema}, {noTable, ""}, {allRetail[0], ""}} {
			got := cat.Table(tc.t)
			if got.Missing != tc.want {
				t.Errorf("mode %d: %s missing %q, want %q", mode, tc.t, got.Missing, tc.want)
			}
			if tc.want != "" && (got.Found || len(got.Access.Missing) > 0) {
				t.Errorf("mode %d: %s = %+v", mode, tc.t, got)
			}
		}
		if !cat.Table(allRetail[0]).Found || !cat.Table(allRetail[0]).Access.Readable() {
			t.Errorf("mode %d: customers = %+v", mode, cat.Table(allRetail[0]))
		}
	}
}

// Grants mode reads the documented privilege relations as Unity Catalog
// fills them: rows of every grantee (only the principal's count), rows
// inherited from the catalog or schema, and privilege types spelt with
// underscores (USE_CATALOG, ALL_PRIVILEGES).
func TestReadGrantsCountsInheritedRowsOfThePrincipalOnly(t *testing.T) {
	fx, err := dbxstandin.LoadFixture(retailFixture)
	if err != nil {
		t.Fatal(err)
	}
	g := func(principal, priv, schema, table string) dbxstandin.Grant {
		return dbxstandin.Grant{Principal: principal, Privilege: priv, Catalog: "retail_prod", Schema: schema, Table: table}
	}
	fx.Grants = []dbxstandin.Grant{
		// treasure-sp: everything through one catalog-level grant.
		g("treasure-sp", dbxstandin.PrivAllPrivileges, "", ""),
		// intern: USE CATALOG, and SELECT on one table, but no USE SCHEMA;
		// a group holds USE SCHEMA, which intern's rows do not show.
		g("intern", dbxstandin.PrivUseCatalog, "", ""),
		g("intern", dbxstandin.PrivSelect, "cdp", "orders"),
		g("retail-analysts", dbxstandin.PrivUseSchema, "cdp", ""),
		g("retail-analysts", dbxstandin.PrivSelect, "cdp", ""),
	}
	_, ep := dbxtest.Serve(t, fx)
	for token, want := range map[string]map[string]string{
		"dapi-treasure-sp": {"orders": "", "customers": ""},
		"dapi-intern":      {"orders": "USE SCHEMA", "customers": "USE SCHEMA,SELECT"},
	} {
		c := open(t, ep, func(o *warehouse.Options) { o.Token, o.Privileges = token, warehouse.ReadGrants })
		cat, err := c.Snapshot(context.Background(), retailTables("orders", "customers"))
		if err != nil {
			t.Fatal(err)
		}
		for name, missing := range want {
			if got := strings.Join(cat.Table(retailTables(name)[0]).Access.Missing, ","); got != missing {
				t.Errorf("%s: %s missing %q, want %q", token, name, got, missing)
			}
		}
	}
}
