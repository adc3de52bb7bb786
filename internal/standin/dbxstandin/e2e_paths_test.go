//go:build cgo

package dbxstandin

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin/tcli"
	dbsql "github.com/databricks/databricks-sql-go"
	dbsqlerr "github.com/databricks/databricks-sql-go/errors"
)

// shopFixture is a small fixture with inline rows covering every type.
func shopFixture() Fixture {
	return Fixture{
		Principals: []Principal{{Name: "alice@example.com", Tokens: []string{"t-alice"}}, {Name: "bob@example.com", Tokens: []string{"t-bob"}}},
		Grants: []Grant{
			{Principal: "alice@example.com", Privilege: PrivUseCatalog, Catalog: "shop"},
			{Principal: "alice@example.com", Privilege: PrivUseSchema, Catalog: "shop", Schema: "s"},
			{Principal: "alice@example.com", Privilege: PrivSelect, Catalog: "shop", Schema: "s", Table: "items"},
			{Principal: "bob@example.com", Privilege: PrivUseCatalog, Catalog: "shop"},
		},
		Catalogs: []Catalog{{Name: "shop", Schemas: []Schema{{Name: "s", Tables: []Table{{
			Name:        "items",
			LastAltered: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			Columns: []Column{
				{Name: "id", Type: "BIGINT", NotNull: true},
				{Name: "name", Type: "STRING"},
				{Name: "price", Type: "DECIMAL(10,2)"},
				{Name: "tags", Type: "ARRAY<STRING>"},
				{Name: "attrs", Type: "MAP<STRING,INT>"},
				{Name: "dims", Type: "STRUCT<w:INT,h:INT>"},
				{Name: "seen", Type: "TIMESTAMP_NTZ"},
				{Name: "ratio", Type: "FLOAT"},
				{Name: "small", Type: "SMALLINT"},
				{Name: "tiny", Type: "TINYINT"},
				{Name: "ok", Type: "BOOLEAN"},
				{Name: "day", Type: "DATE"},
			},
			Rows: [][]any{
				{1, "pen", "1.50", []any{"a", "b"}, map[string]any{"x": 1}, map[string]any{"w": 2, "h": 3}, "2026-01-02 03:04:05", 0.5, 7, 1, true, "2026-01-02"},
				{2, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil},
				{3, "it's", "-0.05", []any{}, map[string]any{}, map[string]any{"w": 0, "h": 0}, "2025-12-31 23:59:59", 2.25, -1, -2, false, "2025-12-31"},
			},
		}}}}}},
	}
}

func TestAllTypesAndNullsThroughDriver(t *testing.T) {
	_, ep := ownServer(t, shopFixture())
	db := openDB(t, ep.DSN("t-alice"))
	rows, err := db.QueryContext(ctxT(t), "SELECT * FROM shop.s.items ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cts, _ := rows.ColumnTypes()
	var types []string
	for _, ct := range cts {
		types = append(types, ct.DatabaseTypeName())
	}
	if got, want := strings.Join(types, " "), "BIGINT STRING DECIMAL ARRAY MAP STRUCT TIMESTAMP FLOAT SMALLINT TINYINT BOOLEAN DATE"; got != want {
		t.Errorf("types = %s, want %s", got, want)
	}
	var lines []string
	for rows.Next() {
		vals := make([]any, len(cts))
		ptrs := make([]any, len(cts))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			switch x := v.(type) {
			case []byte:
				parts[i] = string(x)
			case time.Time:
				parts[i] = x.UTC().Format(time.DateTime)
			default:
				parts[i] = fmt.Sprint(x)
			}
		}
		lines = append(lines, strings.Join(parts, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`1|pen|1.50|["a","b"]|{"x":1}|{"w":2,"h":3}|2026-01-02 03:04:05|0.5|7|1|true|2026-01-02 00:00:00`,
		`2|<nil>|<nil>|<nil>|<nil>|<nil>|<nil>|<nil>|<nil>|<nil>|<nil>|<nil>`,
		`3|it's|-0.05|[]|{}|{"w":0,"h":0}|2025-12-31 23:59:59|2.25|-1|-2|false|2025-12-31 00:00:00`,
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestMultiPageFetch(t *testing.T) {
	srv, ep := retail(t)
	db := openDB(t, ep.DSN("dapi-treasure-sp", "maxRows=1000"))
	srv.ResetCalls()
	rows, err := db.QueryContext(ctxT(t), "SELECT order_id, amount FROM retail_prod.cdp.orders ORDER BY order_id")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var id string
		var amount sql.RawBytes
		if err := rows.Scan(&id, &amount); err != nil {
			t.Fatal(err)
		}
		n++
		if want := fmt.Sprintf("o%07d", n); id != want {
			t.Fatalf("row %d: id %s, want %s", n, id, want)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if n != 40000 {
		t.Fatalf("read %d rows, want 40000", n)
	}
	var offsets []int64
	for _, c := range srv.Calls() {
		if c.Method == "ExecuteStatement" && c.MaxRows != 1000 {
			t.Errorf("direct results maxRows = %d, want 1000", c.MaxRows)
		}
		if c.Method == "FetchResults" {
			offsets = append(offsets, c.StartRowOffset)
		}
	}
	if len(offsets) != 39 {
		t.Fatalf("%d FetchResults, want 39", len(offsets))
	}
	for i, o := range offsets {
		if o != int64(1000*(i+1)) {
			t.Fatalf("FetchResults %d started at %d, want %d", i, o, 1000*(i+1))
		}
	}
}

func TestNamedAndPositionalParameters(t *testing.T) {
	srv, ep := retail(t)
	db := openDB(t, ep.DSN("dapi-treasure-sp"))
	ctx := ctxT(t)
	ids := func(query string, args ...any) []string {
		t.Helper()
		rows, err := db.QueryContext(ctx, query, args...)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			out = append(out, id)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	literal := ids(`SELECT customer_id FROM retail_prod.cdp.customers
		WHERE country = 'JP' AND age >= 30 AND is_subscribed = true AND ltv > 100.00 AND last_login >= TIMESTAMP '2026-06-01 00:00:00+00'
		ORDER BY customer_id`)
	if len(literal) < 10 {
		t.Fatalf("literal query matched only %d rows; the fixture changed?", len(literal))
	}
	srv.ResetCalls()
	named := ids(`SELECT customer_id FROM retail_prod.cdp.customers
		WHERE country = :country AND age >= :age AND is_subscribed = :sub AND ltv > :ltv AND last_login >= :since
		ORDER BY customer_id`,
		sql.Named("country", "JP"), sql.Named("age", int64(30)), sql.Named("sub", true),
		dbsql.Parameter{Name: "ltv", Type: dbsql.SqlDecimal, Value: "100.00"},
		sql.Named("since", time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)))
	if strings.Join(named, ",") != strings.Join(literal, ",") {
		t.Errorf("named parameters matched %d rows, literals %d", len(named), len(literal))
	}
	var sent []string
	for _, c := range srv.Calls() {
		for _, p := range c.Params {
			sent = append(sent, p.Name+":"+p.Type)
		}
	}
	for _, w := range []string{"country:STRING", "age:BIGINT", "sub:BOOLEAN", "since:TIMESTAMP"} {
		if !contains(sent, w) {
			t.Errorf("RPC log lacks parameter %s: %v", w, sent)
		}
	}

	positional := ids(`SELECT customer_id FROM retail_prod.cdp.customers
		WHERE country = ? AND age >= ? AND is_subscribed = ? AND ltv > ? AND last_login >= ? ORDER BY customer_id`,
		"JP", 30, true, 100.0, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	if strings.Join(positional, ",") != strings.Join(literal, ",") {
		t.Errorf("positional parameters matched %d rows, literals %d", len(positional), len(literal))
	}

	var (
		s  string
		n  int64
		f  float64
		b  bool
		nl sql.NullString
	)
	if err := db.QueryRowContext(ctx, "SELECT ?, ?, ?, ?, ?", "it's", int64(-7), 2.5, false, nil).Scan(&s, &n, &f, &b, &nl); err != nil {
		t.Fatal(err)
	}
	if s != "it's" || n != -7 || f != 2.5 || b || nl.Valid {
		t.Errorf("echo = %q %d %v %v %v", s, n, f, b, nl)
	}

	_, err := db.QueryContext(ctx, "SELECT :missing")
	var ee dbsqlerr.DBExecutionError
	if !errors.As(err, &ee) || ee.SqlState() != StateInvalidParameter {
		t.Errorf("unbound parameter error = %v", err)
	}
}

func TestInformationSchemaVisibilityAndPrivileges(t *testing.T) {
	_, ep := retail(t)
	sp := openDB(t, ep.DSN("dapi-treasure-sp"))
	intern := openDB(t, ep.DSN("dapi-intern"))
	ctx := ctxT(t)
	strs := func(db *sql.DB, q string) []string {
		t.Helper()
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var out []string
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			parts := make([]string, len(vals))
			for i, v := range vals {
				parts[i] = v.String
				if !v.Valid {
					parts[i] = "NULL"
				}
			}
			out = append(out, strings.Join(parts, "|"))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	tables := strs(sp, "SELECT table_name, table_type, CAST(last_altered AS STRING) FROM retail_prod.information_schema.tables WHERE table_schema = 'cdp' ORDER BY table_name")
	wantTables := []string{
		"customers|MANAGED|2026-10-15 08:30:00+00", "email_events|MANAGED|2026-11-01 02:00:00+00",
		"orders|MANAGED|2026-11-01 02:00:00+00", "page_views|MANAGED|2026-11-01 02:00:00+00", "store_visits|MANAGED|2026-10-30 02:00:00+00",
	}
	if strings.Join(tables, ",") != strings.Join(wantTables, ",") {
		t.Errorf("tables = %v\nwant %v", tables, wantTables)
	}
	if got := strs(intern, "SELECT table_name FROM retail_prod.information_schema.tables"); len(got) != 0 {
		t.Errorf("intern sees tables %v", got)
	}
	if got := strs(intern, "SELECT count(*) FROM information_schema.columns"); strings.Join(got, ",") != "0" {
		t.Errorf("intern column count = %v", got)
	}
	privs := strs(sp, "SELECT grantee, table_name, privilege_type, inherited_from FROM system.information_schema.table_privileges WHERE table_name IN ('orders', 'customers') ORDER BY table_name")
	wantPrivs := []string{"treasure-sp|customers|SELECT|SCHEMA", "treasure-sp|orders|SELECT|SCHEMA"}
	if strings.Join(privs, ",") != strings.Join(wantPrivs, ",") {
		t.Errorf("table_privileges = %v, want %v", privs, wantPrivs)
	}
	// The privilege relations list every grantee's rows, spelt with
	// underscores.
	if got := strs(intern, "SELECT grantee, catalog_name, privilege_type FROM retail_prod.information_schema.catalog_privileges ORDER BY grantee"); strings.Join(got, ",") != "intern|retail_prod|USE_CATALOG,treasure-sp|retail_prod|USE_CATALOG" {
		t.Errorf("intern catalog_privileges = %v", got)
	}
	if got := strs(sp, "SELECT privilege_type, inherited_from FROM retail_prod.information_schema.schema_privileges WHERE schema_name = 'cdp' ORDER BY privilege_type"); strings.Join(got, ",") != "SELECT|NULL,USE_SCHEMA|NULL" {
		t.Errorf("schema_privileges = %v", got)
	}
	if got := strs(sp, "SELECT catalog_name, schema_name FROM system.information_schema.schemata"); strings.Join(got, ",") != "retail_prod|cdp" {
		t.Errorf("schemata = %v", got)
	}
	if got := strs(sp, "SELECT current_user(), current_user ( )"); strings.Join(got, ",") != "treasure-sp|treasure-sp" {
		t.Errorf("current_user = %v", got)
	}
	_, err := sp.QueryContext(ctx, "SELECT * FROM nowhere.information_schema.columns")
	if err == nil || !strings.Contains(err.Error(), "TABLE_OR_VIEW_NOT_FOUND") {
		t.Errorf("unknown catalog information_schema: %v", err)
	}
}

func TestBadTokenGets401(t *testing.T) {
	srv, ep := ownServer(t, shopFixture())
	db := openDB(t, ep.DSN("dapi-wrong-secret"))
	err := db.PingContext(ctxT(t))
	if err == nil {
		t.Fatal("ping with a bad token succeeded")
	}
	if !strings.Contains(err.Error(), "401") && !strings.Contains(strings.ToLower(err.Error()), "invalid access token") {
		t.Errorf("error %q does not look like a 401", err)
	}
	if strings.Contains(err.Error(), "dapi-wrong-secret") {
		t.Errorf("error leaks the token: %v", err)
	}
	calls := srv.Calls()
	if len(calls) == 0 || calls[0].HTTPStatus != http.StatusUnauthorized || calls[0].Method != "OpenSession" || calls[0].Principal != "" {
		t.Errorf("calls = %+v, want a rejected OpenSession", calls)
	}
	if fmt.Sprintf("%+v", calls) != strings.ReplaceAll(fmt.Sprintf("%+v", calls), "dapi-wrong-secret", "") {
		t.Errorf("RPC log holds the token")
	}
}

func TestRetryAfterFaultsAreRetried(t *testing.T) {
	srv, ep := ownServer(t, shopFixture())
	db := openDB(t, ep.DSN("t-alice"))
	ctx := ctxT(t)
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
	srv.ResetCalls()
	srv.InjectFaults(1, http.StatusTooManyRequests, 1)
	srv.InjectFaults(1, http.StatusServiceUnavailable, 1)
	var n int64
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM shop.s.items").Scan(&n); err != nil {
		t.Fatalf("query after faults: %v", err)
	}
	if n != 3 {
		t.Errorf("count = %d", n)
	}
	var seq []string
	for _, c := range srv.Calls() {
		seq = append(seq, fmt.Sprintf("%s/%d", c.Method, c.HTTPStatus))
	}
	want := "ExecuteStatement/429 ExecuteStatement/503 ExecuteStatement/200"
	if got := strings.Join(seq, " "); !strings.HasPrefix(got, want) {
		t.Errorf("calls = %s, want prefix %s", got, want)
	}
}

func TestRunningThenFinishedPolling(t *testing.T) {
	srv, ep := ownServer(t, shopFixture(), WithRunningPolls(1))
	db := openDB(t, ep.DSN("t-alice"))
	var name string
	if err := db.QueryRowContext(ctxT(t), "SELECT name FROM shop.s.items WHERE id = :id", sql.Named("id", 1)).Scan(&name); err != nil {
		t.Fatal(err)
	}
	if name != "pen" {
		t.Errorf("name = %q", name)
	}
	var seq []string
	for _, c := range srv.Calls() {
		if c.Method != "OpenSession" && c.Method != "CloseSession" {
			seq = append(seq, c.Method)
		}
	}
	want := "ExecuteStatement GetOperationStatus GetOperationStatus GetResultSetMetadata FetchResults"
	if got := strings.Join(seq, " "); !strings.HasPrefix(got, want) {
		t.Errorf("calls = %s, want prefix %s", got, want)
	}
}

func TestRuntimeCatalogChanges(t *testing.T) {
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	srv, ep := ownServer(t, shopFixture(), WithClock(func() time.Time { return at }))
	alice := openDB(t, ep.DSN("t-alice"))
	ctx := ctxT(t)
	columnList := func() string {
		t.Helper()
		var cols string
		var altered time.Time
		q := `SELECT string_agg(c.column_name, ',' ORDER BY c.ordinal_position), max(t.last_altered)
			FROM shop.information_schema.columns c JOIN shop.information_schema.tables t USING (table_catalog, table_schema, table_name)
			WHERE c.table_name = 'items'`
		if err := alice.QueryRowContext(ctx, q).Scan(&cols, &altered); err != nil {
			t.Fatal(err)
		}
		return cols + "@" + altered.UTC().Format(time.DateTime)
	}
	if got := columnList(); !strings.HasSuffix(got, "@2026-01-02 03:04:05") {
		t.Errorf("initial = %s", got)
	}
	if err := srv.AddColumn("shop", "s", "items", Column{Name: "color", Type: "STRING"}); err != nil {
		t.Fatal(err)
	}
	if got := columnList(); !strings.HasSuffix(got, ",day,color@2026-11-28 12:00:00") {
		t.Errorf("after add = %s", got)
	}
	var color sql.NullString
	if err := alice.QueryRowContext(ctx, "SELECT color FROM shop.s.items WHERE id = 1").Scan(&color); err != nil || color.Valid {
		t.Errorf("new column = %v, %v", color, err)
	}
	if err := srv.DropColumn("shop", "s", "items", "price"); err != nil {
		t.Fatal(err)
	}
	if got := columnList(); strings.Contains(got, "price") {
		t.Errorf("after drop = %s", got)
	}
	if _, err := alice.QueryContext(ctx, "SELECT price FROM shop.s.items"); err == nil || !strings.Contains(err.Error(), "UNRESOLVED_COLUMN") {
		t.Errorf("dropped column query: %v", err)
	}
	if err := srv.SetLastAltered("shop", "s", "items", at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := columnList(); !strings.HasSuffix(got, "@2026-11-28 13:00:00") {
		t.Errorf("after touch = %s", got)
	}

	sel := Grant{Principal: "alice@example.com", Privilege: PrivSelect, Catalog: "shop", Schema: "s", Table: "items"}
	if err := srv.Revoke(sel); err != nil {
		t.Fatal(err)
	}
	_, err := alice.QueryContext(ctx, "SELECT * FROM shop.s.items LIMIT 0")
	var ee dbsqlerr.DBExecutionError
	if !errors.As(err, &ee) || ee.SqlState() != StatePermission {
		t.Errorf("after revoke: %v", err)
	}
	var n int
	if err := alice.QueryRowContext(ctx, "SELECT count(*) FROM shop.information_schema.columns").Scan(&n); err != nil || n != 0 {
		t.Errorf("columns visible after revoke: %d, %v", n, err)
	}
	if err := srv.Revoke(sel); !errors.Is(err, ErrNotFound) {
		t.Errorf("second revoke = %v, want ErrNotFound", err)
	}
	if err := srv.Grant(Grant{Principal: "alice@example.com", Privilege: PrivSelect, Catalog: "shop"}); err != nil {
		t.Fatal(err)
	}
	if err := alice.QueryRowContext(ctx, "SELECT count(*) FROM shop.s.items").Scan(&n); err != nil || n != 3 {
		t.Errorf("after catalog-level grant: %d, %v", n, err)
	}
	if err := srv.DropTable("shop", "s", "items"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.QueryContext(ctx, "SELECT * FROM shop.s.items"); err == nil || !strings.Contains(err.Error(), "42P01") {
		t.Errorf("dropped table query: %v", err)
	}
}

func TestUseAndSessionNamespace(t *testing.T) {
	_, ep := retail(t)
	db := openDB(t, ep.DSN("dapi-treasure-sp", "catalog=retail_prod", "schema=cdp"))
	ctx := ctxT(t)
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n int64
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM store_visits").Scan(&n); err != nil || n != 10000 {
		t.Fatalf("unqualified count = %d, %v", n, err)
	}
	if _, err := conn.ExecContext(ctx, "USE SCHEMA nope"); err == nil {
		t.Error("USE of a missing schema succeeded")
	}
	if _, err := conn.ExecContext(ctx, "USE CATALOG retail_prod"); err != nil {
		t.Errorf("USE CATALOG: %v", err)
	}
}

func TestUnknownHandles(t *testing.T) {
	_, ep := retail(t)
	trans, err := thrift.NewTHttpClient(ep.URL + ep.HTTPPath)
	if err != nil {
		t.Fatal(err)
	}
	trans.(*thrift.THttpClient).SetHeader("Authorization", "Bearer dapi-treasure-sp")
	client := tcli.NewTCLIServiceClientFactory(trans, thrift.NewTBinaryProtocolFactoryConf(nil))
	ctx := context.Background()
	bogus := &tcli.THandleIdentifier{GUID: make([]byte, 16), Secret: make([]byte, 16)}

	ex, err := client.ExecuteStatement(ctx, &tcli.TExecuteStatementReq{SessionHandle: &tcli.TSessionHandle{SessionId: bogus}, Statement: "SELECT 1"})
	if err != nil {
		t.Fatal(err)
	}
	if ex.Status.StatusCode != tcli.TStatusCode_ERROR_STATUS || !strings.Contains(ex.Status.GetErrorMessage(), "Invalid SessionHandle") {
		t.Errorf("ExecuteStatement on unknown session: %+v", ex.Status)
	}
	op := &tcli.TOperationHandle{OperationId: bogus, OperationType: tcli.TOperationType_EXECUTE_STATEMENT, HasResultSet: true}
	fr, err := client.FetchResults(ctx, &tcli.TFetchResultsReq{OperationHandle: op, MaxRows: 10})
	if err != nil {
		t.Fatal(err)
	}
	if fr.Status.StatusCode != tcli.TStatusCode_ERROR_STATUS || !strings.Contains(fr.Status.GetErrorMessage(), "Invalid OperationHandle") {
		t.Errorf("FetchResults on unknown operation: %+v", fr.Status)
	}
	st, err := client.GetOperationStatus(ctx, &tcli.TGetOperationStatusReq{OperationHandle: op})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status.StatusCode != tcli.TStatusCode_ERROR_STATUS {
		t.Errorf("GetOperationStatus on unknown operation: %+v", st.Status)
	}
}

// A warehouse that forgot a session answers ERROR_STATUS with "Invalid
// SessionHandle"; driver v1.14.0 surfaces that as an execution error and
// does not reconnect by itself (only transport-level errors with that text
// become driver.ErrBadConn). Callers must drop the connection themselves.
func TestExpiredSessionSurfacesInvalidSessionHandle(t *testing.T) {
	srv, ep := ownServer(t, shopFixture())
	db := openDB(t, ep.DSN("t-alice"))
	db.SetMaxOpenConns(1)
	ctx := ctxT(t)
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM shop.s.items").Scan(&n); err != nil {
		t.Fatal(err)
	}
	srv.ExpireSessions()
	err := db.QueryRowContext(ctx, "SELECT count(*) FROM shop.s.items").Scan(&n)
	if err == nil || !strings.Contains(err.Error(), "Invalid SessionHandle") {
		t.Fatalf("query on an expired session: %v, want Invalid SessionHandle", err)
	}
	// A fresh pool opens a new session and works.
	db2 := openDB(t, ep.DSN("t-alice"))
	if err := db2.QueryRowContext(ctx, "SELECT count(*) FROM shop.s.items").Scan(&n); err != nil || n != 3 {
		t.Fatalf("fresh pool: %d, %v", n, err)
	}
	opens := 0
	for _, c := range srv.Calls() {
		if c.Method == "OpenSession" {
			opens++
		}
	}
	if opens != 2 {
		t.Errorf("OpenSession calls = %d, want 2", opens)
	}
}

func TestBrokenFixtureThroughConnector(t *testing.T) {
	fx, err := LoadFixture(fixturePath("broken.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, ep := ownServer(t, fx)
	// The connector route: telemetry cannot be switched off here, so the
	// driver's feature-flag request to https://127.0.0.1:443 fails fast.
	connector, err := dbsql.NewConnector(
		dbsql.WithServerHostname("http://"+ep.Host),
		dbsql.WithPort(ep.Port),
		dbsql.WithHTTPPath(ep.HTTPPath),
		dbsql.WithAccessToken("dapi-treasure-sp"),
		dbsql.WithInitialNamespace("retail_prod", "cdp"),
		dbsql.WithCloudFetch(false),
		dbsql.WithMaxRows(2),
	)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	t.Cleanup(func() { _ = db.Close() })
	ctx := ctxT(t)
	rows, err := db.QueryContext(ctx, "SELECT table_name, table_type, data_source_format FROM information_schema.tables ORDER BY table_name")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var name, typ string
		var format sql.NullString
		if err := rows.Scan(&name, &typ, &format); err != nil {
			t.Fatal(err)
		}
		got = append(got, name+":"+typ+":"+format.String)
	}
	rows.Close()
	if want := "customers:MANAGED:DELTA,orders:MANAGED:DELTA,vip_customers:VIEW:"; strings.Join(got, ",") != want {
		t.Errorf("tables = %v, want %s", got, want)
	}
	var ltv sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT ltv FROM customers WHERE customer_id = ?", 2).Scan(&ltv); err != nil || ltv.String != "n/a" {
		t.Errorf("ltv = %v, %v", ltv, err)
	}
	_, err = db.QueryContext(ctx, "SELECT * FROM restricted.secrets")
	if err == nil || !strings.Contains(err.Error(), "INSUFFICIENT_PERMISSIONS") || !strings.Contains(err.Error(), "retail_prod.restricted") {
		t.Errorf("restricted schema: %v", err)
	}
}

func TestNestedValuesKeepStructFieldOrder(t *testing.T) {
	_, ep := retail(t)
	db := openDB(t, ep.DSN("dapi-treasure-sp"))
	var s, m, a []byte
	q := "SELECT {'z': 1, 'a': [{'y': 2, 'b': NULL}]}, MAP {'k2': 2, 'k1': 1}, [TIMESTAMP '2026-01-02 03:04:05']"
	if err := db.QueryRowContext(ctxT(t), q).Scan(&s, &m, &a); err != nil {
		t.Fatal(err)
	}
	if got, want := string(s), `{"z":1,"a":[{"y":2,"b":null}]}`; got != want {
		t.Errorf("struct = %s, want %s", got, want)
	}
	if got, want := string(m), `{"k2":2,"k1":1}`; got != want {
		t.Errorf("map = %s, want %s", got, want)
	}
	if got, want := string(a), `["2026-01-02 03:04:05"]`; got != want {
		t.Errorf("array = %s, want %s", got, want)
	}
}

func TestWrongWarehousePathIsRejected(t *testing.T) {
	srv, ep := ownServer(t, shopFixture(), WithWarehouseID("abc123"))
	if ep.HTTPPath != "/sql/1.0/warehouses/abc123" {
		t.Fatalf("HTTPPath = %s", ep.HTTPPath)
	}
	wrong := ep
	wrong.HTTPPath = "/sql/1.0/warehouses/other"
	db := openDB(t, wrong.DSN("t-alice"))
	if err := db.PingContext(ctxT(t)); err == nil {
		t.Fatal("ping on a wrong warehouse path succeeded")
	}
	calls := srv.Calls()
	if len(calls) == 0 || calls[0].HTTPStatus != http.StatusNotFound || calls[0].Method != "OpenSession" {
		t.Errorf("calls = %+v, want a 404", calls)
	}
	if err := openDB(t, ep.DSN("t-alice")).PingContext(ctxT(t)); err != nil {
		t.Errorf("ping on the right path: %v", err)
	}
}

func TestConcurrentSessions(t *testing.T) {
	_, ep := retail(t)
	db := openDB(t, ep.DSN("dapi-treasure-sp", "maxRows=500"))
	ctx := ctxT(t)
	tables := []string{"customers", "orders", "page_views", "email_events", "store_visits"}
	want := map[string]int64{"customers": 5000, "orders": 40000, "page_views": 40000, "email_events": 20000, "store_visits": 10000}
	errs := make(chan error, 40)
	for g := range 8 {
		go func() {
			for i := range 5 {
				tbl := tables[(g+i)%len(tables)]
				rows, err := db.QueryContext(ctx, "SELECT customer_id FROM retail_prod.cdp."+tbl+" WHERE customer_id >= :from", sql.Named("from", "c004000"))
				if err != nil {
					errs <- err
					continue
				}
				n := int64(0)
				for rows.Next() {
					n++
				}
				rows.Close()
				var total int64
				if err := db.QueryRowContext(ctx, "SELECT count(*) FROM retail_prod.cdp."+tbl).Scan(&total); err != nil {
					errs <- err
					continue
				}
				if total != want[tbl] || n == 0 || n >= total {
					errs <- fmt.Errorf("%s: total %d, filtered %d", tbl, total, n)
					continue
				}
				errs <- nil
			}
		}()
	}
	for range 40 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestCancelWhileRunning(t *testing.T) {
	srv, ep := ownServer(t, shopFixture(), WithRunningPolls(1000))
	db := openDB(t, ep.DSN("t-alice"))
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	_, err := db.QueryContext(ctx, "SELECT * FROM shop.s.items")
	if err == nil {
		t.Fatal("query finished although the warehouse reported RUNNING")
	}
	// The driver cancels the operation on the server before returning.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if containsCall(srv.Calls(), "CancelOperation") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no CancelOperation in %+v", srv.Calls())
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.mu.Lock()
	open := len(srv.ops)
	srv.mu.Unlock()
	if open != 0 {
		t.Errorf("%d operations left open after cancel", open)
	}
}
