package dbxstandin

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func fixturePath(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "warehouse", name)
}

func TestParseType(t *testing.T) {
	tests := map[string][3]string{ // in: data_type, full_data_type, duckdb
		"STRING":                         {"STRING", "string", "VARCHAR"},
		"int":                            {"INT", "int", "INTEGER"},
		"BIGINT":                         {"BIGINT", "bigint", "BIGINT"},
		"DECIMAL(10,2)":                  {"DECIMAL", "decimal(10,2)", "DECIMAL(10,2)"},
		"decimal":                        {"DECIMAL", "decimal(10,0)", "DECIMAL(10,0)"},
		"TIMESTAMP":                      {"TIMESTAMP", "timestamp", "TIMESTAMPTZ"},
		"TIMESTAMP_NTZ":                  {"TIMESTAMP_NTZ", "timestamp_ntz", "TIMESTAMP"},
		"ARRAY<STRING>":                  {"ARRAY", "array<string>", "VARCHAR[]"},
		"MAP<STRING, INT>":               {"MAP", "map<string,int>", "MAP(VARCHAR, INTEGER)"},
		"STRUCT<a:INT, b:ARRAY<DOUBLE>>": {"STRUCT", "struct<a:int,b:array<double>>", `STRUCT("a" INTEGER, "b" DOUBLE[])`},
		"BINARY":                         {"BINARY", "binary", "BLOB"},
	}
	for in, want := range tests {
		dt, err := ParseType(in)
		if err != nil {
			t.Errorf("ParseType(%q): %v", in, err)
			continue
		}
		got := [3]string{dt.Name, dt.FullDataType(), dt.DuckDB()}
		if got != want {
			t.Errorf("ParseType(%q) = %v, want %v", in, got, want)
		}
	}
	for _, bad := range []string{"", "TEXT", "DECIMAL(40,2)", "DECIMAL(5,6)", "ARRAY<>", "MAP<STRING>", "STRUCT<a INT>", "INT INT"} {
		if _, err := ParseType(bad); err == nil {
			t.Errorf("ParseType(%q) succeeded", bad)
		}
	}
}

func TestLoadRetailFixture(t *testing.T) {
	fx, err := LoadFixture(filepath.Join(fixturePath(""), "..", "..", "examples", "retail-warehouse.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := catalogModel{&fx}
	if p, ok := m.principalFor("dapi-treasure-sp"); !ok || p != "treasure-sp" {
		t.Errorf("dapi-treasure-sp -> %q %v", p, ok)
	}
	if p, ok := m.principalFor("dapi-intern"); !ok || p != "intern" {
		t.Errorf("dapi-intern -> %q %v", p, ok)
	}
	for _, tbl := range []string{"customers", "orders", "page_views", "email_events", "store_visits"} {
		if err := m.checkRead("treasure-sp", "retail_prod", "cdp", tbl); err != nil {
			t.Errorf("treasure-sp cannot read %s: %v", tbl, err)
		}
		err := m.checkRead("intern", "retail_prod", "cdp", tbl)
		if err == nil || err.Class != "INSUFFICIENT_PERMISSIONS" || !strings.Contains(err.Message, "USE SCHEMA") {
			t.Errorf("intern reading %s: %v", tbl, err)
		}
	}
	if err := m.checkRead("treasure-sp", "retail_prod", "cdp", "nope"); err == nil || err.State != StateTableNotFound {
		t.Errorf("missing table: %v", err)
	}
}

func TestLoadFixtureRejects(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"unknown field": "catalogs: [{name: c, schemas: []}]\nbogus: 1\n",
		"bad type":      "catalogs: [{name: c, schemas: [{name: s, tables: [{name: t, columns: [{name: a, type: TEXT}]}]}]}]\n",
		"reserved":      "catalogs: [{name: system, schemas: []}]\n",
		"row width":     "catalogs: [{name: c, schemas: [{name: s, tables: [{name: t, columns: [{name: a, type: INT}], rows: [[1, 2]]}]}]}]\n",
		"no gen":        "catalogs: [{name: c, schemas: [{name: s, tables: [{name: t, generate: {rows: 3}, columns: [{name: a, type: INT}]}]}]}]\n",
		"bad privilege": "catalogs: [{name: c, schemas: []}]\ngrants: [{principal: p, privilege: MODIFY, catalog: c}]\n",
		"dup token":     "catalogs: [{name: c, schemas: []}]\nprincipals: [{name: a, tokens: [x]}, {name: b, tokens: [x]}]\n",
	}
	for name, body := range cases {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadFixture(p); err == nil {
			t.Errorf("%s: fixture accepted", name)
		}
	}
}

func TestGrantInheritance(t *testing.T) {
	fx := Fixture{Grants: []Grant{
		{Principal: "p", Privilege: PrivUseCatalog, Catalog: "c"},
		{Principal: "p", Privilege: PrivUseSchema, Catalog: "c"},
		{Principal: "p", Privilege: PrivSelect, Catalog: "c", Schema: "s", Table: "t1"},
		{Principal: "q", Privilege: PrivAllPrivileges, Catalog: "c"},
	}, Catalogs: []Catalog{{Name: "c", Schemas: []Schema{{Name: "s", Tables: []Table{{Name: "t1"}, {Name: "t2"}}}}}}}
	m := catalogModel{&fx}
	if ok, lvl := m.holds("p", PrivUseSchema, "c", "s", ""); !ok || lvl != levelCatalog {
		t.Errorf("USE SCHEMA inherited from catalog: %v %q", ok, lvl)
	}
	if ok, lvl := m.holds("p", PrivSelect, "c", "s", "t1"); !ok || lvl != levelTable {
		t.Errorf("direct SELECT: %v %q", ok, lvl)
	}
	if err := m.checkRead("p", "c", "s", "t2"); err == nil || !strings.Contains(err.Message, "SELECT on Table 'c.s.t2'") {
		t.Errorf("t2 without SELECT: %v", err)
	}
	if err := m.checkRead("q", "C", "S", "T2"); err != nil {
		t.Errorf("ALL PRIVILEGES on catalog, mixed case names: %v", err)
	}
	if err := m.checkRead("nobody", "c", "s", "t1"); err == nil || !strings.Contains(err.Message, "USE CATALOG") {
		t.Errorf("no grants: %v", err)
	}
}

func TestGeneratedValuesAreDeterministic(t *testing.T) {
	col := Column{Name: "x", Type: "STRING", Gen: &ColumnGen{Kind: GenChoice, Values: []string{"a", "b", "c"}, Nulls: 0.2}}
	dt, _ := ParseType(col.Type)
	render := func(seed uint64) string {
		var b strings.Builder
		for _, v := range columnValues(seed, col, dt, 200) {
			if v == nil {
				b.WriteByte('-')
			} else {
				b.WriteString(*v)
			}
		}
		return b.String()
	}
	a, again, other := render(7), render(7), render(8)
	if a != again {
		t.Error("same seed gave different values")
	}
	if a == other {
		t.Error("different seeds gave the same values")
	}
	if !strings.Contains(a, "-") || !strings.Contains(a, "a") || !strings.Contains(a, "c") {
		t.Errorf("values lack variety: %s", a)
	}
}

func TestLoadBrokenFixture(t *testing.T) {
	fx, err := LoadFixture(fixturePath("broken.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := catalogModel{&fx}
	if err := m.checkRead("treasure-sp", "retail_prod", "restricted", "secrets"); err == nil || err.State != StatePermission {
		t.Errorf("restricted.secrets: %v", err)
	}
	if err := m.checkRead("treasure-sp", "retail_prod", "cdp", "page_views"); err == nil || err.State != StateTableNotFound {
		t.Errorf("page_views: %v", err)
	}
}
