package warehouse_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/warehouse"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// TestLiveWarehouse snapshots real tables when RECONCILER_LIVE=1:
// DATABRICKS_HOST, DATABRICKS_HTTP_PATH, DATABRICKS_TOKEN (or
// DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET) and
// RECONCILER_LIVE_TABLES, a comma-separated list of catalog.schema.table.
func TestLiveWarehouse(t *testing.T) {
	if os.Getenv("RECONCILER_LIVE") != "1" {
		t.Skip("set RECONCILER_LIVE=1 to run against a real warehouse")
	}
	var tables []segment.Table
	for _, s := range strings.Split(os.Getenv("RECONCILER_LIVE_TABLES"), ",") {
		p := strings.Split(strings.TrimSpace(s), ".")
		if len(p) != 3 {
			t.Fatalf("RECONCILER_LIVE_TABLES: %q is not catalog.schema.table", s)
		}
		tables = append(tables, segment.Table{Catalog: p[0], Schema: p[1], Table: p[2]})
	}
	c, err := warehouse.Open(warehouse.Options{
		Host:         strings.TrimPrefix(os.Getenv("DATABRICKS_HOST"), "https://"),
		HTTPPath:     os.Getenv("DATABRICKS_HTTP_PATH"),
		Token:        os.Getenv("DATABRICKS_TOKEN"),
		ClientID:     os.Getenv("DATABRICKS_CLIENT_ID"),
		ClientSecret: os.Getenv("DATABRICKS_CLIENT_SECRET"),
		TokenURL:     os.Getenv("DATABRICKS_TOKEN_URL"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cat, err := c.Snapshot(ctx, tables)
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range cat.Names() {
		e := cat.Table(tb)
		t.Logf("%s found=%v type=%s columns=%d access=%+v", tb, e.Found, e.Type, len(e.Columns), e.Access)
		if !e.Found || !e.Access.Readable() {
			t.Errorf("%s is not readable", tb)
		}
	}
	t.Logf("principal %s, queries %v", cat.Principal, c.Queries())
}
