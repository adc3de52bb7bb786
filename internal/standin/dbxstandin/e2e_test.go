//go:build cgo

package dbxstandin

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"
	dbsqlerr "github.com/databricks/databricks-sql-go/errors"
	"github.com/databricks/databricks-sql-go/logger"
)

func TestMain(m *testing.M) {
	_ = logger.SetLogLevel("disabled")
	code := m.Run()
	if shared.srv != nil {
		_ = shared.srv.Close()
	}
	os.Exit(code)
}

func retailPath(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "examples", "retail-warehouse.yaml")
}

var shared struct {
	once sync.Once
	srv  *Server
	ep   Endpoint
	err  error
}

// retail returns a started server on the retail fixture shared by the
// read-only tests of this package.
func retail(t testing.TB) (*Server, Endpoint) {
	t.Helper()
	shared.once.Do(func() {
		fx, err := LoadFixture(retailPath(t))
		if err != nil {
			shared.err = err
			return
		}
		shared.srv, shared.err = New(fx)
		if shared.err == nil {
			shared.ep, shared.err = shared.srv.Start()
		}
	})
	if shared.err != nil {
		t.Fatalf("retail stand-in: %v", shared.err)
	}
	return shared.srv, shared.ep
}

// ownServer starts a private server for tests that change state.
func ownServer(t testing.TB, fx Fixture, opts ...Option) (*Server, Endpoint) {
	t.Helper()
	srv, err := New(fx, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	ep, err := srv.Start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return srv, ep
}

func openDB(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("databricks", dsn)
	if err != nil {
		t.Fatalf("sql.Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSimpleQueryThroughDriver(t *testing.T) {
	srv, ep := retail(t)
	db := openDB(t, ep.DSN("dapi-treasure-sp"))
	ctx := ctxT(t)

	var n int64
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM retail_prod.cdp.customers").Scan(&n); err != nil {
		t.Fatalf("count: %v", err)
	}
	if n != 5000 {
		t.Errorf("customers = %d, want 5000", n)
	}

	rows, err := db.QueryContext(ctx, "SELECT customer_id, ltv, signup_date, is_subscribed, age, interests, last_login, country FROM `retail_prod`.`cdp`.`customers` ORDER BY customer_id LIMIT 3")
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	defer rows.Close()
	cts, _ := rows.ColumnTypes()
	var got []string
	for _, ct := range cts {
		got = append(got, ct.DatabaseTypeName())
	}
	want := "STRING DECIMAL DATE BOOLEAN INT ARRAY TIMESTAMP STRING"
	if strings.Join(got, " ") != want {
		t.Errorf("column types = %v, want %s", got, want)
	}
	var ids []string
	for rows.Next() {
		var (
			id, country string
			ltv         sql.RawBytes
			signup      time.Time
			sub         bool
			age         int32
			interests   sql.RawBytes
			login       sql.NullTime
		)
		if err := rows.Scan(&id, &ltv, &signup, &sub, &age, &interests, &login, &country); err != nil {
			t.Fatalf("scan: %v", err)
		}
		ids = append(ids, id)
		if !strings.Contains(string(ltv), ".") {
			t.Errorf("ltv %q has no decimal point", ltv)
		}
		if !strings.HasPrefix(string(interests), "[") {
			t.Errorf("interests %q is not a JSON array", interests)
		}
		if age < 18 || age > 80 {
			t.Errorf("age %d out of generated range", age)
		}
		if signup.Year() < 2019 || signup.Year() > 2026 {
			t.Errorf("signup_date %v out of range", signup)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(ids, ",") != "c000001,c000002,c000003" {
		t.Errorf("ids = %v", ids)
	}
	if !containsCall(srv.Calls(), "OpenSession") {
		t.Errorf("RPC log has no OpenSession: %+v", srv.Calls())
	}
}

func containsCall(calls []Call, method string) bool {
	for _, c := range calls {
		if c.Method == method {
			return true
		}
	}
	return false
}

func TestInformationSchemaColumnsThroughDriver(t *testing.T) {
	_, ep := retail(t)
	db := openDB(t, ep.DSN("dapi-treasure-sp"))
	rows, err := db.QueryContext(ctxT(t), `
		SELECT c.table_name, c.column_name, c.ordinal_position, c.data_type, c.full_data_type, c.is_nullable, t.table_type
		FROM system.information_schema.columns c
		JOIN system.information_schema.tables t
		  ON t.table_catalog = c.table_catalog AND t.table_schema = c.table_schema AND t.table_name = c.table_name
		WHERE c.table_catalog = :cat AND c.table_schema = :sch AND c.table_name IN (:t0, :t1)
		ORDER BY c.table_name, c.ordinal_position`,
		sql.Named("cat", "retail_prod"), sql.Named("sch", "cdp"), sql.Named("t0", "customers"), sql.Named("t1", "email_events"))
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var tbl, col, dt, full, nullable, typ string
		var pos int32
		if err := rows.Scan(&tbl, &col, &pos, &dt, &full, &nullable, &typ); err != nil {
			t.Fatalf("scan: %v", err)
		}
		got = append(got, strings.Join([]string{tbl, col, dt, full, nullable, typ}, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 12+5 {
		t.Fatalf("got %d rows, want 17: %v", len(got), got)
	}
	for _, w := range []string{
		"customers|customer_id|STRING|string|NO|MANAGED",
		"customers|ltv|DECIMAL|decimal(12,2)|YES|MANAGED",
		"customers|interests|ARRAY|array<string>|YES|MANAGED",
		"customers|last_login|TIMESTAMP|timestamp|YES|MANAGED",
		"email_events|event_time|BIGINT|bigint|YES|MANAGED",
	} {
		if !contains(got, w) {
			t.Errorf("missing row %q in %v", w, got)
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestSQLStateSurfacesThroughDriver(t *testing.T) {
	_, ep := retail(t)
	tests := map[string]struct {
		token, query, class, state string
	}{
		"unknown table":                {"dapi-treasure-sp", "SELECT * FROM retail_prod.cdp.nope LIMIT 0", "TABLE_OR_VIEW_NOT_FOUND", "42P01"},
		"unknown catalog":              {"dapi-treasure-sp", "SELECT * FROM other.cdp.customers", "TABLE_OR_VIEW_NOT_FOUND", "42P01"},
		"show tables, unknown catalog": {"dapi-treasure-sp", "SHOW TABLES IN other.cdp", "NO_SUCH_CATALOG_EXCEPTION", "42704"},
		"show tables, unknown schema":  {"dapi-treasure-sp", "SHOW TABLES IN retail_prod.nope", "SCHEMA_NOT_FOUND", "42704"},
		"show tables, no use schema":   {"dapi-intern", "SHOW TABLES IN retail_prod.cdp", "INSUFFICIENT_PERMISSIONS", "42501"},
		"intern lacks grants":          {"dapi-intern", "SELECT * FROM retail_prod.cdp.customers LIMIT 0", "INSUFFICIENT_PERMISSIONS", "42501"},
		"dollar parameter":             {"dapi-treasure-sp", "SELECT * FROM retail_prod.cdp.customers WHERE customer_id = $1", "PARSE_SYNTAX_ERROR", "42601"},
		"double-quoted literal":        {"dapi-treasure-sp", `SELECT * FROM retail_prod.cdp.customers WHERE country = "US"`, "PARSE_SYNTAX_ERROR", "42601"},
		"unknown column":               {"dapi-treasure-sp", "SELECT nope FROM retail_prod.cdp.customers", "UNRESOLVED_COLUMN", "42703"},
		"internal catalog":             {"dapi-treasure-sp", "SELECT * FROM __uc.main.columns", "TABLE_OR_VIEW_NOT_FOUND", "42P01"},
		"duckdb table function":        {"dapi-treasure-sp", "SELECT * FROM read_csv('/etc/passwd')", "UNRESOLVED_ROUTINE", "42883"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			db := openDB(t, ep.DSN(tc.token))
			rows, err := db.QueryContext(ctxT(t), tc.query)
			if err == nil {
				rows.Close()
				t.Fatalf("query succeeded, want %s", tc.class)
			}
			var ee dbsqlerr.DBExecutionError
			if !errors.As(err, &ee) {
				t.Fatalf("error %T %v is not a DBExecutionError", err, err)
			}
			if ee.SqlState() != tc.state {
				t.Errorf("SqlState = %q, want %q (err %v)", ee.SqlState(), tc.state, err)
			}
			if !strings.Contains(err.Error(), "["+tc.class) || !strings.Contains(err.Error(), "SQLSTATE: "+tc.state) {
				t.Errorf("error text %q lacks [%s and SQLSTATE: %s", err, tc.class, tc.state)
			}
		})
	}
}

var _ = dbsql.NewConnector

func TestLimitZeroProbe(t *testing.T) {
	_, ep := retail(t)
	db := openDB(t, ep.DSN("dapi-treasure-sp"))
	rows, err := db.QueryContext(ctxT(t), "SELECT * FROM `retail_prod`.`cdp`.`orders` LIMIT 0")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ct := range cts {
		got = append(got, ct.Name()+":"+ct.DatabaseTypeName())
	}
	want := "order_id:STRING customer_id:STRING order_time:TIMESTAMP amount:DECIMAL category:STRING channel:STRING quantity:INT coupon_code:STRING"
	if strings.Join(got, " ") != want {
		t.Errorf("columns = %v\nwant %s", got, want)
	}
	if rows.Next() {
		t.Error("LIMIT 0 returned a row")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestShowTablesListsTheVisibleTables(t *testing.T) {
	_, ep := retail(t)
	db := openDB(t, ep.DSN("dapi-treasure-sp"))
	rows, err := db.QueryContext(ctxT(t), "SHOW TABLES IN `retail_prod`.`cdp`")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var names []string
	for rows.Next() {
		var schema, name string
		var temp bool
		if err := rows.Scan(&schema, &name, &temp); err != nil {
			t.Fatal(err)
		}
		names = append(names, schema+"."+name)
	}
	if strings.Join(cols, ",") != "database,tableName,isTemporary" ||
		strings.Join(names, ",") != "cdp.customers,cdp.email_events,cdp.orders,cdp.page_views,cdp.store_visits" {
		t.Errorf("SHOW TABLES = %v %v", cols, names)
	}
}

// TestCollectSetSizes: collect_set leaves NULL out, keeps each value once,
// and is empty (size 0, not NULL) over no rows, with or without FILTER.
func TestCollectSetSizes(t *testing.T) {
	_, ep := retail(t)
	db := openDB(t, ep.DSN("dapi-treasure-sp"))
	var all, some, none int64
	err := db.QueryRowContext(ctxT(t), "SELECT size(collect_set(x)), size(collect_set(x) FILTER (WHERE x > 1)), size(collect_set(x) FILTER (WHERE x > 5)) FROM VALUES (1), (1), (NULL), (2), (3) AS t(x)").Scan(&all, &some, &none)
	if err != nil {
		t.Fatal(err)
	}
	if all != 3 || some != 2 || none != 0 {
		t.Errorf("sizes %d, %d, %d, want 3, 2, 0", all, some, none)
	}
}
