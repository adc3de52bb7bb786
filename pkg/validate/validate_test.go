package validate

import (
	"strings"
	"testing"

	"github.com/cas-reconciler/reconciler/pkg/catalog"
	"github.com/cas-reconciler/reconciler/pkg/diag"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

func tbl(name string) segment.Table { return segment.Table{Catalog: "cat", Schema: "sch", Table: name} }

func col(name, typ string) catalog.Column {
	ion, ok := catalog.IONType(typ)
	return catalog.Column{Name: name, Type: typ, ION: ion, Supported: ok}
}

func readable() catalog.Access { return catalog.Access{Checked: true} }

// catalog builds a Catalog of found, readable tables.
func newCatalog(tables map[string][]catalog.Column) *catalog.Catalog {
	cat := &catalog.Catalog{Principal: "sp", Tables: map[string]*catalog.Table{}}
	for name, cols := range tables {
		cat.Tables[catalog.Key(tbl(name))] = &catalog.Table{Name: tbl(name), Found: true, Columns: cols, Access: readable()}
	}
	return cat
}

func at(field string) segment.Origin {
	return segment.Origin{Pos: diag.Pos{File: "p.cue", Line: 1}, Fields: []segment.FieldPos{{Name: field, Pos: diag.Pos{File: "p.cue", Line: 2, Col: 3}}}}
}

func baseCatalog() *catalog.Catalog {
	return newCatalog(map[string][]catalog.Column{
		"customers": {col("id", "STRING"), col("email", "STRING"), col("ltv", "DECIMAL(12,2)"), col("tags", "ARRAY<STRING>"), col("props", "MAP<STRING,STRING>")},
		"orders":    {col("customer_id", "STRING"), col("order_time", "TIMESTAMP"), col("amount", "DECIMAL(12,2)"), col("category", "STRING")},
		"events":    {col("customer_id", "BIGINT"), col("ts", "BIGINT"), col("kind", "STRING")},
		"notes":     {col("customer_id", "STRING"), col("created", "STRING")},
	})
}

func parent() segment.Parent {
	return segment.Parent{Name: "P", Customers: segment.KeyedTable{Table: tbl("customers"), Key: "id"},
		Attributes: []segment.Attribute{{Name: "email", Column: "email"}, {Name: "ltv", Column: "ltv", Type: segment.Number}},
		Behaviors: []segment.Behavior{{Name: "orders", Table: tbl("orders"), Key: "customer_id", Time: "order_time",
			Columns: []segment.Column{{Name: "amount"}, {Name: "cat", Column: "category", Type: segment.String}}}}}
}

func codes(ds diag.Diagnostics) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Code)
	}
	return out
}

func TestCleanParentFillsTypes(t *testing.T) {
	st := segment.State{Parents: []segment.Parent{parent()}}
	out, ds := Check(st, baseCatalog(), Options{})
	if len(ds) != 0 {
		t.Fatalf("diagnostics: %v", ds)
	}
	if a, _ := out.Parents[0].Attribute("email"); a.Type != segment.String {
		t.Errorf("email type = %q", a.Type)
	}
	if c, _ := out.Parents[0].Behaviors[0].Column("amount"); c.Type != segment.Number {
		t.Errorf("amount type = %q", c.Type)
	}
	if a, _ := st.Parents[0].Attribute("email"); a.Type != "" {
		t.Error("input modified")
	}
}

func TestFindings(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*segment.Parent, *catalog.Catalog)
		code   string
		pos    string
		text   []string
	}{
		{"missing table", func(p *segment.Parent, _ *catalog.Catalog) {
			p.Behaviors[0].Table = tbl("ordrs")
			p.Behaviors[0].Origin = at("table")
		}, CodeNotChecked, "p.cue:2:3", nil},
		{"table not found", func(p *segment.Parent, c *catalog.Catalog) {
			c.Tables[catalog.Key(tbl("orders"))] = &catalog.Table{Name: tbl("orders"), Access: catalog.Access{Checked: true, NotFound: true}}
			p.Behaviors[0].Origin = at("table")
		}, CodeTableMissing, "p.cue:2:3", []string{"cat.sch.orders does not exist"}},
		{"column typo", func(p *segment.Parent, _ *catalog.Catalog) {
			p.Attributes[0].Column = "emial"
			p.Attributes[0].Origin = at("column")
		}, CodeColumnMissing, "p.cue:2:3", []string{`Did you mean "email"?`}},
		{"type mismatch", func(p *segment.Parent, _ *catalog.Catalog) {
			p.Attributes[1].Type = segment.String
			p.Attributes[1].Origin = at("type")
		}, CodeTypeMismatch, "p.cue:2:3", []string{"declares type string", "DECIMAL(12,2) (number)"}},
		{"unsupported", func(p *segment.Parent, _ *catalog.Catalog) {
			p.Attributes = append(p.Attributes, segment.Attribute{Name: "props", Column: "props"})
		}, CodeUnsupportedType, "", []string{"MAP<STRING,STRING>"}},
		{"array ok", func(p *segment.Parent, _ *catalog.Catalog) {
			p.Attributes = append(p.Attributes, segment.Attribute{Name: "tags", Column: "tags", Type: segment.StringArray})
		}, "", "", nil},
		{"key type", func(p *segment.Parent, _ *catalog.Catalog) {
			p.Behaviors = append(p.Behaviors, segment.Behavior{Name: "events", Table: tbl("events"), Key: "customer_id", Time: "ts", Origin: at("key")})
		}, CodeKeyType, "p.cue:2:3", []string{"BIGINT", "customers key customers.id is STRING"}},
		{"join key type", func(p *segment.Parent, _ *catalog.Catalog) {
			p.Attributes = append(p.Attributes, segment.Attribute{Name: "kind", Column: "kind",
				Join: &segment.KeyedTable{Table: tbl("events"), Key: "customer_id"}, Origin: at("join.key")})
		}, CodeKeyType, "p.cue:2:3", []string{"join key"}},
		{"time type", func(p *segment.Parent, _ *catalog.Catalog) {
			p.Behaviors = append(p.Behaviors, segment.Behavior{Name: "notes", Table: tbl("notes"), Key: "customer_id", Time: "created", Origin: at("time")})
		}, CodeTimeType, "p.cue:2:3", []string{"not a TIMESTAMP, DATE or integer epoch"}},
		{"missing customers key", func(p *segment.Parent, _ *catalog.Catalog) {
			p.Customers.Key = "ID2"
			p.Origin = at("customers.key")
		}, CodeColumnMissing, "p.cue:2:3", []string{"customers key"}},
		{"no grant", func(p *segment.Parent, c *catalog.Catalog) {
			c.Tables[catalog.Key(tbl("orders"))].Found = false
			c.Tables[catalog.Key(tbl("orders"))].Access = catalog.Access{Checked: true, Missing: []string{catalog.UseSchema, catalog.Select}}
			p.Behaviors[0].Origin = at("table")
		}, CodePrivilege, "p.cue:2:3", []string{"sp lacks USE SCHEMA, SELECT on schema cat.sch",
			"GRANT USE SCHEMA ON SCHEMA cat.sch TO `sp`;", "GRANT SELECT ON TABLE cat.sch.orders TO `sp`;"}},
		{"not unique", func(p *segment.Parent, c *catalog.Catalog) {
			c.Keys = map[string]catalog.Uniqueness{catalog.KeyID(tbl("customers"), "id"): {Rows: 10, Distinct: 9, Nulls: 1}}
			p.Origin = at("customers.key")
		}, CodeKeyNotUnique, "p.cue:2:3", []string{"10 rows, 9 distinct keys, 1 null keys"}},
		{"unique", func(p *segment.Parent, c *catalog.Catalog) {
			c.Keys = map[string]catalog.Uniqueness{catalog.KeyID(tbl("customers"), "id"): {Rows: 10, Distinct: 10}}
		}, "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, cat := parent(), baseCatalog()
			p.Origin.Pos = diag.Pos{File: "p.cue", Line: 1}
			tt.modify(&p, cat)
			_, ds := Check(segment.State{Parents: []segment.Parent{p}}, cat, Options{})
			if tt.code == "" {
				if len(ds) != 0 {
					t.Fatalf("diagnostics: %v", ds)
				}
				return
			}
			if len(ds) != 1 || ds[0].Code != tt.code {
				t.Fatalf("codes = %v, want [%s]: %v", codes(ds), tt.code, ds)
			}
			if got := ds[0].Pos.String(); got != tt.pos {
				t.Errorf("pos = %s, want %s", got, tt.pos)
			}
			for _, s := range tt.text {
				if !strings.Contains(ds[0].Summary+"\n"+ds[0].Detail, s) {
					t.Errorf("%q not in %q / %q", s, ds[0].Summary, ds[0].Detail)
				}
			}
		})
	}
}

func TestRequireUniqueKeys(t *testing.T) {
	_, ds := Check(segment.State{Parents: []segment.Parent{parent()}}, baseCatalog(), Options{RequireUniqueKeys: true})
	if len(ds) != 1 || ds[0].Code != CodeNotChecked || ds[0].Severity != diag.Warning {
		t.Fatalf("diagnostics: %v", ds)
	}
}

func TestRuleConditionsUseRealTypes(t *testing.T) {
	num := segment.NumberOf(3)
	str := segment.StringOf("shoes")
	ts := segment.Value{Kind: segment.TimestampValue, Str: "2026-01-01"}
	cond := func(agg *segment.Aggregation, op *segment.Operator, f *segment.Filter) segment.Condition {
		return segment.Condition{Type: segment.ValueCondition, Operator: op,
			LeftValue: &segment.LeftValue{Source: &segment.SourceRef{Name: "orders"}, Aggregation: agg, Filter: f}}
	}
	colFilter := func(column string, op segment.Operator) *segment.Filter {
		return &segment.Filter{Type: segment.And, Conditions: []segment.Filter{{Type: segment.ColumnFilter, Column: column, Operator: &op,
			Origin: segment.Origin{Pos: diag.Pos{File: "s.cue", Line: 5}}}}}
	}
	tests := []struct {
		name string
		c    segment.Condition
		bad  bool
	}{
		{"sum of number", cond(&segment.Aggregation{Type: segment.Sum, Column: "amount"}, &segment.Operator{Type: segment.Greater, RightValue: &num}, nil), false},
		{"sum of string", cond(&segment.Aggregation{Type: segment.Sum, Column: "cat"}, &segment.Operator{Type: segment.Greater, RightValue: &num}, nil), true},
		{"last string equals number", cond(&segment.Aggregation{Type: segment.Last, Column: "category"}, &segment.Operator{Type: segment.Equal, RightValue: &num}, nil), true},
		{"filter string equals string", cond(&segment.Aggregation{Type: segment.Count}, nil, colFilter("cat", segment.Operator{Type: segment.Equal, RightValue: &str})), false},
		{"filter number in strings", cond(&segment.Aggregation{Type: segment.Count}, nil, colFilter("amount", segment.Operator{Type: segment.In, RightValues: []segment.Value{str}})), true},
		{"filter time op on string", cond(&segment.Aggregation{Type: segment.Count}, nil, colFilter("cat", segment.Operator{Type: segment.TimeWithinPast, Value: "3", Unit: "day"})), true},
		{"filter time op on timestamp", cond(&segment.Aggregation{Type: segment.Count}, nil, colFilter("order_time", segment.Operator{Type: segment.TimeWithinPast, Value: "3", Unit: "day"})), false},
		{"filter timestamp value", cond(&segment.Aggregation{Type: segment.Count}, nil, colFilter("order_time", segment.Operator{Type: segment.Greater, RightValue: &ts})), false},
		{"filter regexp on number", cond(&segment.Aggregation{Type: segment.Count}, nil, colFilter("amount", segment.Operator{Type: segment.Regexp, RightValue: &str})), true},
		{"unknown column left to spec", cond(&segment.Aggregation{Type: segment.Sum, Column: "nope"}, nil, nil), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := segment.Segment{Name: "S", Parent: "P", Rule: segment.Rule{Type: segment.And,
				Conditions: []segment.ConditionSet{{Type: segment.And, Conditions: []segment.Condition{tt.c}}}}}
			_, ds := Check(segment.State{Parents: []segment.Parent{parent()}, Segments: []segment.Segment{s}}, baseCatalog(), Options{})
			if got := len(ds) > 0; got != tt.bad {
				t.Fatalf("diagnostics = %v, want bad=%v", ds, tt.bad)
			}
			if tt.bad && ds[0].Code != CodeRuleType {
				t.Errorf("code = %s", ds[0].Code)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	cands := []string{"order_time", "amount", "category", "id"}
	for in, want := range map[string]string{"amout": "amount", "categroy": "category", "ordertime": "order_time", "ID": "id", "zzz": "", "quantity": ""} {
		if got := suggest(in, cands); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}
