//go:build cgo

package warehouse_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin"
	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin/dbxtest"
	"github.com/cas-reconciler/reconciler/internal/warehouse"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// wideFixture is a catalog of nTables tables of nCols columns each (empty
// tables: only metadata matters), with the retail principals and grants.
func wideFixture(nTables, nCols int) (dbxstandin.Fixture, []segment.Table) {
	types := []string{"STRING", "BIGINT", "DECIMAL(12,2)", "TIMESTAMP", "DATE", "BOOLEAN", "DOUBLE", "ARRAY<STRING>"}
	sch := dbxstandin.Schema{Name: "cdp"}
	var names []segment.Table
	for i := range nTables {
		t := dbxstandin.Table{Name: fmt.Sprintf("t%02d", i), LastAltered: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		for j := range nCols {
			t.Columns = append(t.Columns, dbxstandin.Column{Name: fmt.Sprintf("c%03d", j), Type: types[j%len(types)]})
		}
		sch.Tables = append(sch.Tables, t)
		names = append(names, segment.Table{Catalog: "wide", Schema: "cdp", Table: t.Name})
	}
	fx := dbxstandin.Fixture{
		Catalogs:   []dbxstandin.Catalog{{Name: "wide", Schemas: []dbxstandin.Schema{sch}}},
		Principals: []dbxstandin.Principal{{Name: "treasure-sp", Tokens: []string{"dapi-treasure-sp"}}},
		Grants: []dbxstandin.Grant{
			{Principal: "treasure-sp", Privilege: dbxstandin.PrivUseCatalog, Catalog: "wide"},
			{Principal: "treasure-sp", Privilege: dbxstandin.PrivUseSchema, Catalog: "wide", Schema: "cdp"},
			{Principal: "treasure-sp", Privilege: dbxstandin.PrivSelect, Catalog: "wide", Schema: "cdp"},
		},
	}
	return fx, names
}

func reportQueries(b *testing.B, before, after map[string]int64) {
	var total int64
	for k, v := range after {
		d := v - before[k]
		total += d
		if d > 0 {
			b.ReportMetric(float64(d)/float64(b.N), k+"-queries/op")
		}
	}
	b.ReportMetric(float64(total)/float64(b.N), "queries/op")
}

// BenchmarkSnapshot measures a snapshot of 50 tables / 2,000 columns: cold
// (new client, empty cache) with each privilege check, and cached (nothing
// changed; privileges within their TTL).
func BenchmarkSnapshot(b *testing.B) {
	fx, tables := wideFixture(50, 40)
	_, ep := dbxtest.Serve(b, fx)
	for _, mode := range []struct {
		name string
		p    warehouse.PrivilegeCheck
	}{{"probe", warehouse.ProbeTables}, {"grants", warehouse.ReadGrants}} {
		b.Run("cold/"+mode.name, func(b *testing.B) {
			var before, after map[string]int64
			before = map[string]int64{}
			after = map[string]int64{}
			for b.Loop() {
				c := open(b, ep, func(o *warehouse.Options) { o.Privileges = mode.p })
				cat, err := c.Snapshot(context.Background(), tables)
				if err != nil {
					b.Fatal(err)
				}
				if n := len(cat.Table(tables[49]).Columns); n != 40 || !cat.Table(tables[0]).Access.Readable() {
					b.Fatalf("columns %d access %+v", n, cat.Table(tables[0]).Access)
				}
				for k, v := range c.Queries() {
					after[k] += v
				}
				c.Close()
			}
			reportQueries(b, before, after)
		})
	}
	b.Run("cached/probe", func(b *testing.B) {
		c := open(b, ep, nil)
		if _, err := c.Snapshot(context.Background(), tables); err != nil {
			b.Fatal(err)
		}
		before := c.Queries()
		for b.Loop() {
			if _, err := c.Snapshot(context.Background(), tables); err != nil {
				b.Fatal(err)
			}
		}
		reportQueries(b, before, c.Queries())
	})
	b.Run("cached/privileges-within-ttl", func(b *testing.B) {
		c := open(b, ep, func(o *warehouse.Options) { o.PrivilegeTTL = time.Hour })
		if _, err := c.Snapshot(context.Background(), tables); err != nil {
			b.Fatal(err)
		}
		before := c.Queries()
		for b.Loop() {
			if _, err := c.Snapshot(context.Background(), tables); err != nil {
				b.Fatal(err)
			}
		}
		after := c.Queries()
		if after[warehouse.KindColumns] != before[warehouse.KindColumns] {
			b.Fatalf("cached snapshots issued columns queries")
		}
		reportQueries(b, before, after)
	})
}
