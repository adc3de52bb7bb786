package dbxstandin

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func testEnv() rewriteEnv {
	return rewriteEnv{
		catalog:   "main_cat",
		principal: "o'neil@example.com",
		relation: func(catalog, rel string) (string, error) {
			if rel == "nope" {
				return "", tableNotFound(rel)
			}
			return fmt.Sprintf("<%s:%s>", catalog, rel), nil
		},
	}
}

func TestRewrite(t *testing.T) {
	tests := map[string]struct {
		in, want string
	}{
		"backticks":              {"SELECT `a b`, `x``y` FROM `c`.`s`.`t`", `SELECT "a b", "x` + "`" + `y" FROM "c"."s"."t"`},
		"backtick with quote":    {"SELECT `say \"hi\"`", `SELECT "say ""hi"""`},
		"named params":           {"SELECT * FROM t WHERE a = :a AND b = :b_2", "SELECT * FROM t WHERE a = $a AND b = $b_2"},
		"cast is not a param":    {"SELECT x::INT, :p FROM t", "SELECT x::INT, $p FROM t"},
		"param in string kept":   {"SELECT ':a', '?' FROM t WHERE x = ?", "SELECT ':a', '?' FROM t WHERE x = ?"},
		"backslash escapes":      {`SELECT 'it\'s', 'a\\b', 'tab\t'`, "SELECT 'it''s', 'a\\b', 'tab\t'"},
		"raw string":             {`SELECT r'a\n'`, `SELECT 'a\n'`},
		"comments kept":          {"SELECT 1 -- :x `y`\n/* 'z' :w */ FROM t", "SELECT 1 -- :x `y`\n/* 'z' :w */ FROM t"},
		"catalog info schema":    {"SELECT * FROM retail.information_schema.columns c WHERE c.x = 1", "SELECT * FROM <retail:columns> c WHERE c.x = 1"},
		"alias added":            {"SELECT columns.table_name FROM Retail.Information_Schema.COLUMNS WHERE 1=1", `SELECT columns.table_name FROM <retail:columns> AS "columns" WHERE 1=1`},
		"explicit AS alias kept": {"SELECT * FROM system.information_schema.tables AS t", "SELECT * FROM <:tables> AS t"},
		"backticked info schema": {"SELECT * FROM `retail`.`information_schema`.`tables` JOIN x", `SELECT * FROM <retail:tables> AS "tables" JOIN x`},
		"two-part info schema":   {"SELECT * FROM information_schema.schemata;", `SELECT * FROM <main_cat:schemata> AS "schemata"`},
		"qualified column":       {"SELECT retail.information_schema.columns.table_name FROM t", `SELECT "columns".table_name FROM t`},
		"current_user":           {"SELECT current_user(), CURRENT_USER ( ) FROM t", "SELECT 'o''neil@example.com', 'o''neil@example.com' FROM t"},
		"column named like it":   {"SELECT current_user FROM t", "SELECT current_user FROM t"},
		"with query":             {"WITH a AS (SELECT 1) SELECT * FROM a", "WITH a AS (SELECT 1) SELECT * FROM a"},
		"unicode in string":      {"SELECT 'café'", "SELECT 'café'"},
		"renamed functions":      {"SELECT startswith(a, :p), ENDSWITH(a, 'x'), size(l) FROM t", "SELECT starts_with(a, $p), ends_with(a, 'x'), len(l) FROM t"},
		"collect_set":            {"SELECT size(collect_set(`a`)) FROM t", `SELECT len(coalesce(list_distinct(list("a")), [])) FROM t`},
		"collect_set filter": {"SELECT size(collect_set(a) FILTER (WHERE (b > 1) AND c)) /* n */, 2 FROM t",
			"SELECT len(coalesce(list_distinct(list(a) FILTER (WHERE (b > 1) AND c)), [])) /* n */, 2 FROM t"},
		"collect_set nested":     {"SELECT collect_set(collect_set(a))", "SELECT coalesce(list_distinct(list(coalesce(list_distinct(list(a)), []))), [])"},
		"collect_set at the end": {"SELECT collect_set(a)", "SELECT coalesce(list_distinct(list(a)), [])"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rw, err := rewrite(tc.in, testEnv())
			if err != nil {
				t.Fatalf("rewrite(%q): %v", tc.in, err)
			}
			if rw.kind != kindQuery {
				t.Errorf("kind = %s", rw.kind)
			}
			if rw.sql != tc.want {
				t.Errorf("rewrite(%q)\n got %s\nwant %s", tc.in, rw.sql, tc.want)
			}
		})
	}
}

func TestRewriteMarkers(t *testing.T) {
	rw, err := rewrite("SELECT :a, :b, :a WHERE x::INT = 1", testEnv())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rw.named, ",") != "a,b,a" || rw.pos != 0 {
		t.Errorf("named = %v pos = %d", rw.named, rw.pos)
	}
	rw, err = rewrite("SELECT ?, ? FROM t", testEnv())
	if err != nil {
		t.Fatal(err)
	}
	if rw.pos != 2 || len(rw.named) != 0 {
		t.Errorf("named = %v pos = %d", rw.named, rw.pos)
	}
}

func TestRewriteRejects(t *testing.T) {
	tests := map[string]struct {
		in, class string
	}{
		"dollar positional":     {"SELECT * FROM t WHERE a = $1", "PARSE_SYNTAX_ERROR"},
		"dollar named":          {"SELECT $name", "PARSE_SYNTAX_ERROR"},
		"double-quoted literal": {`SELECT * FROM t WHERE a = "x"`, "PARSE_SYNTAX_ERROR"},
		"unterminated string":   {"SELECT 'abc", "PARSE_SYNTAX_ERROR"},
		"unterminated backtick": {"SELECT `abc", "PARSE_SYNTAX_ERROR"},
		"unclosed comment":      {"SELECT 1 /* x", "UNCLOSED_BRACKETED_COMMENT"},
		"two statements":        {"SELECT 1; SELECT 2", "PARSE_SYNTAX_ERROR"},
		"empty":                 {"  -- nothing\n", "PARSE_SYNTAX_ERROR"},
		"mixed markers":         {"SELECT :a, ?", "UNBOUND_SQL_PARAMETER"},
		"internal catalog":      {"SELECT * FROM __UC.main.columns", "TABLE_OR_VIEW_NOT_FOUND"},
		"unknown info relation": {"SELECT * FROM c.information_schema.nope", "TABLE_OR_VIEW_NOT_FOUND"},
		"number with suffix":    {"SELECT 10L", "PARSE_SYNTAX_ERROR"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := rewrite(tc.in, testEnv())
			var se *SQLError
			if !errors.As(err, &se) {
				t.Fatalf("rewrite(%q) = %v, want a SQLError", tc.in, err)
			}
			if se.Class != tc.class {
				t.Errorf("class = %s, want %s (%v)", se.Class, tc.class, se)
			}
			if tc.class == "PARSE_SYNTAX_ERROR" && se.State != StateSyntax {
				t.Errorf("state = %s", se.State)
			}
		})
	}
}

func TestRewriteStatementKinds(t *testing.T) {
	for in, want := range map[string]string{
		"USE CATALOG x":          kindUse,
		"use schema `a`.b":       kindUse,
		"SET ansi_mode = true":   kindSet,
		"(SELECT 1) UNION ALL 2": kindQuery,
		"VALUES (1)":             kindQuery,
		"INSERT INTO t VALUES 1": kindOther,
		"DROP TABLE t":           kindOther,
	} {
		rw, err := rewrite(in, testEnv())
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if rw.kind != want {
			t.Errorf("%s: kind %s, want %s", in, rw.kind, want)
		}
	}
}

func TestSQLErrorText(t *testing.T) {
	err := tableNotFound(backtickName([]string{"c", "s", "t"}))
	if got := err.Error(); !strings.HasPrefix(got, "[TABLE_OR_VIEW_NOT_FOUND] The table or view `c`.`s`.`t` cannot be found.") || !strings.HasSuffix(got, "SQLSTATE: 42P01") {
		t.Errorf("text = %s", got)
	}
	err = insufficientPermissions(PrivUseSchema, "Schema", "system.query")
	if got, want := err.Error(), "[INSUFFICIENT_PERMISSIONS] Insufficient privileges: User does not have USE SCHEMA on Schema 'system.query'. SQLSTATE: 42501"; got != want {
		t.Errorf("text = %s\nwant %s", got, want)
	}
}
