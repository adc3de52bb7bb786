//go:build cgo

package warehouse_test

import (
	"context"
	"testing"

	"github.com/cas-reconciler/reconciler/pkg/dbxstandin/dbxtest"
	"github.com/cas-reconciler/reconciler/pkg/segment"
	"github.com/cas-reconciler/reconciler/pkg/warehouse"
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
			want warehouse.Missing
		}{{noCatalog, warehouse.MissingCatalog}, {noSchema, warehouse.MissingSchema}, {noTable, ""}, {allRetail[0], ""}} {
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
