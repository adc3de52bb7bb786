//go:build cgo

package dbxstandin

import (
	"database/sql"
	"fmt"
	"testing"
)

// wideFixture has tables×cols columns, no rows.
func wideFixture(tables, cols int) Fixture {
	types := []string{"STRING", "BIGINT", "INT", "DECIMAL(12,2)", "TIMESTAMP", "DATE", "BOOLEAN", "DOUBLE", "ARRAY<STRING>", "MAP<STRING,INT>"}
	sch := Schema{Name: "wide"}
	for ti := range tables {
		tb := Table{Name: fmt.Sprintf("t%03d", ti)}
		for ci := range cols {
			tb.Columns = append(tb.Columns, Column{Name: fmt.Sprintf("c%04d", ci), Type: types[ci%len(types)]})
		}
		sch.Tables = append(sch.Tables, tb)
	}
	return Fixture{
		Principals: []Principal{{Name: "sp", Tokens: []string{"t-sp"}}},
		Grants: []Grant{
			{Principal: "sp", Privilege: PrivUseCatalog, Catalog: "big"},
			{Principal: "sp", Privilege: PrivUseSchema, Catalog: "big"},
			{Principal: "sp", Privilege: PrivSelect, Catalog: "big"},
		},
		Catalogs: []Catalog{{Name: "big", Schemas: []Schema{sch}}},
	}
}

// BenchmarkInformationSchema2000Columns reads 2,000 rows of
// information_schema.columns (20 tables × 100 columns) through the real
// driver: one ExecuteStatement with direct results per iteration.
func BenchmarkInformationSchema2000Columns(b *testing.B) {
	_, ep := ownServer(b, wideFixture(20, 100))
	db := openDB(b, ep.DSN("t-sp"))
	ctx := ctxT(b)
	const q = `SELECT table_name, column_name, ordinal_position, data_type, full_data_type, is_nullable
		FROM system.information_schema.columns WHERE table_catalog = :cat AND table_schema = :sch
		ORDER BY table_name, ordinal_position`
	b.ResetTimer()
	for b.Loop() {
		rows, err := db.QueryContext(ctx, q, namedArg("cat", "big"), namedArg("sch", "wide"))
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for rows.Next() {
			var tbl, col, dt, full, nullable string
			var pos int32
			if err := rows.Scan(&tbl, &col, &pos, &dt, &full, &nullable); err != nil {
				b.Fatal(err)
			}
			n++
		}
		if err := rows.Err(); err != nil {
			b.Fatal(err)
		}
		rows.Close()
		if n != 2000 {
			b.Fatalf("read %d rows, want 2000", n)
		}
	}
}

// BenchmarkLoadRetailFixture measures building the retail stand-in:
// parsing the fixture, generating ~115,000 rows and loading them.
func BenchmarkLoadRetailFixture(b *testing.B) {
	fx, err := LoadFixture(retailPath(b))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		srv, err := New(fx)
		if err != nil {
			b.Fatal(err)
		}
		_ = srv.Close()
	}
}

func namedArg(name string, v any) sql.NamedArg { return sql.Named(name, v) }
