//go:build cgo

package warehouse_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin"
	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin/dbxtest"
	"github.com/cas-reconciler/reconciler/internal/syncbuf"
	"github.com/cas-reconciler/reconciler/internal/warehouse"
	"github.com/cas-reconciler/reconciler/pkg/catalog"
	"github.com/cas-reconciler/reconciler/pkg/segment"
	"github.com/databricks/databricks-sql-go/logger"
)

func init() { _ = logger.SetLogLevel("disabled") }

func open(t testing.TB, ep dbxstandin.Endpoint, mod func(*warehouse.Options)) *warehouse.Client {
	t.Helper()
	o := warehouse.Options{Host: ep.Host, Port: ep.Port, HTTPPath: ep.HTTPPath, Insecure: true,
		Token: "dapi-treasure-sp", RetryWaitMin: 10 * time.Millisecond, RetryWaitMax: 50 * time.Millisecond,
		QueryTimeout: 20 * time.Second, ConnectTimeout: 10 * time.Second}
	if mod != nil {
		mod(&o)
	}
	c, err := warehouse.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

const retailFixture = "../../examples/retail-warehouse.yaml"

func retailTables(names ...string) []segment.Table {
	var out []segment.Table
	for _, n := range names {
		out = append(out, segment.Table{Catalog: "retail_prod", Schema: "cdp", Table: n})
	}
	return out
}

var allRetail = retailTables("customers", "orders", "page_views", "email_events", "store_visits")

func TestSnapshotRetail(t *testing.T) {
	srv, ep := dbxtest.Start(t, retailFixture)
	c := open(t, ep, func(o *warehouse.Options) { o.Catalog = "retail_prod" })
	srv.ResetCalls()
	cat, err := c.Snapshot(context.Background(), append(allRetail, retailTables("no_such_table")...))
	if err != nil {
		t.Fatal(err)
	}
	if cat.Principal != "treasure-sp" {
		t.Errorf("principal = %q, want treasure-sp", cat.Principal)
	}
	cust := cat.Table(retailTables("customers")[0])
	if cust == nil || !cust.Found || len(cust.Columns) != 12 {
		t.Fatalf("customers = %+v", cust)
	}
	want := map[string]segment.IONType{"customer_id": segment.String, "ltv": segment.Number, "signup_date": segment.Date,
		"is_subscribed": segment.Boolean, "age": segment.Number, "interests": segment.StringArray, "last_login": segment.Timestamp}
	for name, ion := range want {
		col, ok := cust.Column(name)
		if !ok || col.ION != ion || !col.Supported {
			t.Errorf("column %s = %+v, want %s", name, col, ion)
		}
	}
	if col, _ := cust.Column("ltv"); !strings.EqualFold(col.Type, "DECIMAL(12,2)") {
		t.Errorf("ltv type = %q", col.Type)
	}
	if !cust.Access.Readable() {
		t.Errorf("customers access = %+v", cust.Access)
	}
	if want := time.Date(2026, 10, 15, 8, 30, 0, 0, time.UTC); !cust.LastAltered.Equal(want) {
		t.Errorf("last altered = %v, want %v", cust.LastAltered, want)
	}
	ev := cat.Table(retailTables("email_events")[0])
	if col, _ := ev.Column("event_time"); col == nil || !catalog.IsIntegerType(col.Type) {
		t.Errorf("event_time = %+v", col)
	}
	missing := cat.Table(retailTables("no_such_table")[0])
	if missing.Found || !missing.Access.NotFound {
		t.Errorf("missing table = %+v", missing)
	}
	q := c.Queries()
	if q[warehouse.KindColumns] != 1 || q[warehouse.KindProbe] != 6 {
		t.Errorf("queries = %v, want 1 columns query and 6 probes", q)
	}
	for _, s := range srv.Statements() {
		t.Log(s)
	}
}

func TestSnapshotIsCachedByLastAltered(t *testing.T) {
	srv, ep := dbxtest.Start(t, retailFixture)
	c := open(t, ep, func(o *warehouse.Options) { o.PrivilegeTTL = time.Hour })
	ctx := context.Background()
	if _, err := c.Snapshot(ctx, allRetail); err != nil {
		t.Fatal(err)
	}
	before := c.Queries()
	cat, err := c.Snapshot(ctx, allRetail)
	if err != nil {
		t.Fatal(err)
	}
	after := c.Queries()
	if after[warehouse.KindColumns] != before[warehouse.KindColumns] {
		t.Errorf("unchanged catalog issued %d columns queries", after[warehouse.KindColumns]-before[warehouse.KindColumns])
	}
	if after[warehouse.KindFreshness] != before[warehouse.KindFreshness]+1 {
		t.Errorf("freshness queries %d -> %d, want one more", before[warehouse.KindFreshness], after[warehouse.KindFreshness])
	}
	if after[warehouse.KindProbe] != before[warehouse.KindProbe] {
		t.Errorf("privileges re-probed within the TTL")
	}
	if len(cat.Table(allRetail[1]).Columns) != 8 {
		t.Errorf("cached orders columns = %d", len(cat.Table(allRetail[1]).Columns))
	}

	// A column added by hand bumps last_altered: the next snapshot sees it.
	if err := srv.AddColumn("retail_prod", "cdp", "orders", dbxstandin.Column{Name: "discount", Type: "DOUBLE"}); err != nil {
		t.Fatal(err)
	}
	cat, err = c.Snapshot(ctx, allRetail)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Queries()[warehouse.KindColumns]; got != after[warehouse.KindColumns]+1 {
		t.Errorf("changed table: columns queries %d, want %d", got, after[warehouse.KindColumns]+1)
	}
	if col, ok := cat.Table(allRetail[1]).Column("discount"); !ok || col.ION != segment.Number {
		t.Errorf("new column not seen: %+v", cat.Table(allRetail[1]).Columns)
	}
	// A dropped table disappears.
	if err := srv.DropTable("retail_prod", "cdp", "store_visits"); err != nil {
		t.Fatal(err)
	}
	cat, err = c.Snapshot(ctx, allRetail)
	if err != nil {
		t.Fatal(err)
	}
	if cat.Table(allRetail[4]).Found {
		t.Error("dropped table still found")
	}
}

func TestPermissionsOfIntern(t *testing.T) {
	for _, mode := range []warehouse.PrivilegeCheck{warehouse.ProbeTables, warehouse.ReadGrants} {
		_, ep := dbxtest.Start(t, retailFixture)
		c := open(t, ep, func(o *warehouse.Options) { o.Token = "dapi-intern"; o.Privileges = mode })
		cat, err := c.Snapshot(context.Background(), allRetail[:2])
		if err != nil {
			t.Fatal(err)
		}
		if cat.Principal != "intern" {
			t.Errorf("principal = %q", cat.Principal)
		}
		for _, tb := range cat.Tables {
			if tb.Found {
				t.Errorf("mode %d: %s visible to intern", mode, tb.Name)
			}
			if tb.Access.Readable() || len(tb.Access.Missing) == 0 || tb.Access.Missing[0] != catalog.UseSchema {
				t.Errorf("mode %d: %s access = %+v, want USE SCHEMA missing first", mode, tb.Name, tb.Access)
			}
		}
	}
}

func TestTokenRefused(t *testing.T) {
	_, ep := dbxtest.Start(t, retailFixture)
	const secret = "dapi-wrong-secret-123456"
	c := open(t, ep, func(o *warehouse.Options) { o.Token = secret })
	_, err := c.Snapshot(context.Background(), allRetail)
	var we *warehouse.Error
	if !errors.As(err, &we) || we.Class != warehouse.AuthRefused {
		t.Fatalf("err = %v, want auth refused", err)
	}
	if we.Host != ep.Host || !strings.Contains(err.Error(), ep.Host) {
		t.Errorf("error does not name the host: %v", err)
	}
	assertNoSecret(t, err, secret)
}

// assertNoSecret fails when secret appears anywhere in err's chain.
func assertNoSecret(t *testing.T, err error, secret string) {
	t.Helper()
	for e := err; e != nil; e = errors.Unwrap(e) {
		if strings.Contains(e.Error(), secret) {
			t.Errorf("secret in error text: %q", e.Error())
		}
	}
}

func TestUnreachableHost(t *testing.T) {
	c, err := warehouse.Open(warehouse.Options{Host: "127.0.0.1", Port: 1, HTTPPath: "/sql/1.0/warehouses/x", Insecure: true,
		Token: "dapi-unreachable-secret", Retries: -1, ConnectTimeout: 2 * time.Second, QueryTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Snapshot(context.Background(), allRetail)
	var we *warehouse.Error
	if !errors.As(err, &we) || we.Class != warehouse.Unreachable || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("err = %v, want unreachable naming the host", err)
	}
	assertNoSecret(t, err, "dapi-unreachable-secret")
}

func TestRetriesOn429And503(t *testing.T) {
	for _, status := range []int{429, 503} {
		srv, ep := dbxtest.Start(t, retailFixture)
		c := open(t, ep, nil)
		srv.InjectFaults(2, status, 0)
		cat, err := c.Snapshot(context.Background(), allRetail[:1])
		if err != nil {
			t.Fatalf("%d: %v", status, err)
		}
		if !cat.Table(allRetail[0]).Found {
			t.Errorf("%d: customers not found after retries", status)
		}
		n := 0
		for _, call := range srv.Calls() {
			if call.HTTPStatus == status {
				n++
			}
		}
		if n != 2 {
			t.Errorf("%d: saw %d failed calls, want 2", status, n)
		}
	}
}

func TestReadGrantsAgreesWithProbes(t *testing.T) {
	for _, fixture := range []string{"../../testdata/warehouse/broken-no-grant.yaml", retailFixture} {
		_, ep := dbxtest.Start(t, fixture)
		results := map[warehouse.PrivilegeCheck]*catalog.Catalog{}
		for _, mode := range []warehouse.PrivilegeCheck{warehouse.ProbeTables, warehouse.ReadGrants} {
			c := open(t, ep, func(o *warehouse.Options) { o.Privileges = mode })
			cat, err := c.Snapshot(context.Background(), allRetail)
			if err != nil {
				t.Fatal(err)
			}
			results[mode] = cat
		}
		readable := 0
		for _, tb := range allRetail {
			p, g := results[warehouse.ProbeTables].Table(tb).Access, results[warehouse.ReadGrants].Table(tb).Access
			if p.Readable() != g.Readable() || strings.Join(p.Missing, ",") != strings.Join(g.Missing, ",") {
				t.Errorf("%s %s: probe %+v, grants %+v", fixture, tb, p, g)
			}
			if p.Readable() {
				readable++
			}
		}
		if want := map[bool]int{true: 3, false: 5}[strings.Contains(fixture, "no-grant")]; readable != want {
			t.Errorf("%s: %d readable tables, want %d", fixture, readable, want)
		}
	}
}

// TestSecretsNotInDriverLogs runs successful and refused connections with
// the driver's logging at its most verbose and looks for the secrets in
// what reaches Options.Logger, and checks that nothing reaches the
// driver's own output.
func TestSecretsNotInDriverLogs(t *testing.T) {
	var own, buf syncbuf.Buffer
	logger.SetLogOutput(&own)
	_ = logger.SetLogLevel("trace")
	t.Cleanup(func() { _ = logger.SetLogLevel("disabled") })
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, ep := dbxtest.Start(t, retailFixture)
	ts := newTokenServer(t, "sp-client", "sp-secret-xyz", "dapi-treasure-sp", 3600)
	ctx := context.Background()
	for _, mod := range []func(*warehouse.Options){
		nil,
		func(o *warehouse.Options) { o.Token = "dapi-refused-secret-1" },
		func(o *warehouse.Options) {
			o.Token, o.ClientID, o.ClientSecret, o.TokenURL = "", "sp-client", "sp-secret-xyz", ts.URL
		},
		func(o *warehouse.Options) {
			o.Token, o.ClientID, o.ClientSecret, o.TokenURL, o.Retries = "", "sp-client", "sp-wrong-secret", ts.URL, -1
		},
	} {
		c := open(t, ep, func(o *warehouse.Options) {
			o.Logger = log
			if mod != nil {
				mod(o)
			}
		})
		_, _ = c.Snapshot(ctx, allRetail[:1])
		c.Close()
	}
	if own.String() != "" {
		t.Errorf("the driver wrote to its own output:\n%.2000s", own.String())
	}
	logs := buf.String()
	if !strings.Contains(logs, "connect") {
		t.Fatalf("driver logged nothing; the test would prove nothing:\n%.2000s", logs)
	}
	for _, s := range []string{"dapi-treasure-sp", "dapi-refused-secret-1", "sp-secret-xyz", "sp-wrong-secret"} {
		if strings.Contains(logs, s) {
			t.Errorf("secret %q in driver logs", s)
		}
	}
}

func TestSnapshotSpansCatalogs(t *testing.T) {
	fx, wide := wideFixture(3, 4)
	second := fx.Catalogs[0]
	second.Name = "other"
	fx.Catalogs = append(fx.Catalogs, second)
	fx.Grants = append(fx.Grants,
		dbxstandin.Grant{Principal: "treasure-sp", Privilege: dbxstandin.PrivUseCatalog, Catalog: "other"},
		dbxstandin.Grant{Principal: "treasure-sp", Privilege: dbxstandin.PrivUseSchema, Catalog: "other", Schema: "cdp"})
	_, ep := dbxtest.Serve(t, fx)
	c := open(t, ep, nil)
	tables := append([]segment.Table{}, wide...)
	tables = append(tables, segment.Table{Catalog: "other", Schema: "cdp", Table: "t00"}, segment.Table{Catalog: "nosuch", Schema: "cdp", Table: "t00"})
	cat, err := c.Snapshot(context.Background(), tables)
	if err != nil {
		t.Fatal(err)
	}
	q := c.Queries()
	if q[warehouse.KindColumns] != 3 {
		t.Errorf("columns queries = %d, want one per catalog (3)", q[warehouse.KindColumns])
	}
	if tb := cat.Table(wide[2]); !tb.Found || len(tb.Columns) != 4 || !tb.Access.Readable() {
		t.Errorf("wide t02 = %+v", tb)
	}
	if tb := cat.Table(tables[3]); tb.Found || tb.Access.Readable() || len(tb.Access.Missing) != 1 || tb.Access.Missing[0] != catalog.Select {
		t.Errorf("other.cdp.t00 (no SELECT) = %+v", tb)
	}
	if tb := cat.Table(tables[4]); tb.Found || tb.Access.Readable() {
		t.Errorf("nosuch.cdp.t00 = %+v", tb)
	}
	t.Logf("nosuch access: %+v", cat.Table(tables[4]).Access)
}

// TestReadAnswersTheKeysOfTheRequest: a request that names customers keys
// gets their uniqueness in the catalog; one without keys sends no
// uniqueness statement.
func TestReadAnswersTheKeysOfTheRequest(t *testing.T) {
	_, ep := dbxtest.Start(t, retailFixture)
	c := open(t, ep, func(o *warehouse.Options) { o.Catalog = "retail_prod" })
	key := segment.KeyedTable{Table: allRetail[0], Key: "customer_id"}

	cat, err := c.Read(context.Background(), catalog.Request{Tables: allRetail[:2]})
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Keys) != 0 || cat.Table(allRetail[1]) == nil || !cat.Table(allRetail[1]).Found {
		t.Errorf("a request without keys: keys %v, tables %v", cat.Keys, cat.Names())
	}

	cat, err = c.Read(context.Background(), catalog.Request{Tables: allRetail[:2], Keys: []segment.KeyedTable{key}})
	if err != nil {
		t.Fatal(err)
	}
	u, ok := cat.Keys[catalog.KeyID(key.Table, key.Key)]
	if !ok || !u.Unique() || u.Rows == 0 {
		t.Errorf("uniqueness of %s.%s: %+v (checked %v), want unique rows", key.Table, key.Key, u, ok)
	}
}
