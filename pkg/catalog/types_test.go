package catalog

import (
	"testing"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

func TestIONType(t *testing.T) {
	tests := []struct {
		in   string
		want segment.IONType
		ok   bool
	}{
		{"STRING", segment.String, true},
		{"string", segment.String, true},
		{"VARCHAR(20)", segment.String, true},
		{"char(2)", segment.String, true},
		{"BIGINT", segment.Number, true},
		{"INT", segment.Number, true},
		{"smallint", segment.Number, true},
		{"TINYINT", segment.Number, true},
		{"DOUBLE", segment.Number, true},
		{"FLOAT", segment.Number, true},
		{"DECIMAL(12,2)", segment.Number, true},
		{"decimal(38, 0)", segment.Number, true},
		{"BOOLEAN", segment.Boolean, true},
		{"DATE", segment.Date, true},
		{"TIMESTAMP", segment.Timestamp, true},
		{"TIMESTAMP_NTZ", segment.Timestamp, true},
		{"ARRAY<STRING>", segment.StringArray, true},
		{"array<varchar(10)>", segment.StringArray, true},
		{"ARRAY<BIGINT>", segment.NumberArray, true},
		{"array<decimal(10,2)>", segment.NumberArray, true},
		{"ARRAY<DATE>", "", false},
		{"ARRAY<ARRAY<STRING>>", "", false},
		{"ARRAY<STRING", "", false},
		{"MAP<STRING,INT>", "", false},
		{"STRUCT<a:INT,b:STRING>", "", false},
		{"BINARY", "", false},
		{"VARIANT", "", false},
		{"INTERVAL DAY", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := IONType(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("IONType(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestTypePredicates(t *testing.T) {
	for _, s := range []string{"BIGINT", "int", "SMALLINT", "tinyint"} {
		if !IsIntegerType(s) {
			t.Errorf("IsIntegerType(%q) = false", s)
		}
	}
	for _, s := range []string{"DOUBLE", "DECIMAL(10,0)", "STRING", "TIMESTAMP"} {
		if IsIntegerType(s) {
			t.Errorf("IsIntegerType(%q) = true", s)
		}
	}
	for _, s := range []string{"DATE", "timestamp", "TIMESTAMP_NTZ"} {
		if !IsTimeType(s) {
			t.Errorf("IsTimeType(%q) = false", s)
		}
	}
	if IsTimeType("BIGINT") || IsTimeType("STRING") {
		t.Error("IsTimeType accepts non-time types")
	}
	same := [][2]string{{"STRING", "string"}, {"STRING", "VARCHAR(10)"}, {"INT", "BIGINT"}, {"DECIMAL(12,0)", "decimal(12, 0)"}}
	for _, p := range same {
		if !SameKeyType(p[0], p[1]) {
			t.Errorf("SameKeyType(%q, %q) = false", p[0], p[1])
		}
	}
	diff := [][2]string{{"STRING", "BIGINT"}, {"DECIMAL(12,0)", "BIGINT"}, {"DECIMAL(12,0)", "DECIMAL(10,0)"}, {"DATE", "STRING"}}
	for _, p := range diff {
		if SameKeyType(p[0], p[1]) {
			t.Errorf("SameKeyType(%q, %q) = true", p[0], p[1])
		}
	}
}

func TestTablesOf(t *testing.T) {
	cust := segment.Table{Catalog: "c", Schema: "s", Table: "customers"}
	st := segment.State{Parents: []segment.Parent{
		{Customers: segment.KeyedTable{Table: cust, Key: "id"},
			Attributes: []segment.Attribute{{Name: "a", Join: &segment.KeyedTable{Table: segment.Table{Catalog: "c", Schema: "s", Table: "extra"}, Key: "id"}}},
			Behaviors:  []segment.Behavior{{Table: segment.Table{Catalog: "d", Schema: "s", Table: "orders"}}, {Table: segment.Table{Catalog: "C", Schema: "S", Table: "Customers"}}}},
		{Customers: segment.KeyedTable{Table: cust, Key: "id"}},
	}}
	got := TablesOf(st)
	if len(got) != 3 || got[0].Table != "customers" || got[1].Table != "extra" || got[2].Catalog != "d" {
		t.Errorf("TablesOf = %v", got)
	}
	if keys := CustomerKeys(st); len(keys) != 2 || keys[0].Key != "id" {
		t.Errorf("CustomerKeys = %v", keys)
	}
}
