package treasure

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/standin/tdstandin"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

const (
	testKey   = "4711/0123456789abcdef0123456789abcdef01234567"
	testOwner = "retail"
	connName  = "databricks-retail"
	connID    = "341079"
)

// fakeClock is a clock whose Sleep advances time instantly and records the
// waits.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sleeps = append(f.sleeps, d)
	f.now = f.now.Add(d)
	return nil
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func (f *fakeClock) Sleeps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.sleeps...)
}

type env struct {
	srv   *tdstandin.Server
	c     *Client
	clock *fakeClock
}

// newEnv starts a stand-in and a client on fake time. mod adjusts the
// client options.
func newEnv(t testing.TB, mod func(*Options)) *env {
	t.Helper()
	clock := newFakeClock()
	srv, err := tdstandin.New(tdstandin.Options{MasterKeys: []string{testKey}, WriteOnlyKeys: []string{"4711/writeonly0123456789"},
		Connections: map[string]string{connName: connID}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	o := Options{APIKey: testKey, Owner: testOwner, CDPURL: srv.URL(), CASURL: srv.URL(), ClassicURL: srv.URL(),
		Now: clock.Now, Sleep: clock.Sleep, Jitter: func() float64 { return 0 }, Timeout: 5 * time.Second}
	if mod != nil {
		mod(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, c: c, clock: clock}
}

func (e *env) client(t testing.TB, mod func(*Options)) *Client {
	t.Helper()
	o := e.c.o
	mod(&o)
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// retailParent is a composable parent segment on the retail fixture.
func retailParent(name string) *segment.Parent {
	cdp := func(t string) segment.Table { return segment.Table{Catalog: "retail_prod", Schema: "cdp", Table: t} }
	return &segment.Parent{
		Name: name, Description: "Retail customers", Timezone: "UTC", Connection: connName,
		Customers: segment.KeyedTable{Table: cdp("customers"), Key: "customer_id"},
		Attributes: []segment.Attribute{
			{Name: "email", Column: "email", Type: segment.String},
			{Name: "country", Column: "country", Type: segment.String, Group: "Profile"},
			{Name: "ltv", Column: "ltv", Type: segment.Number},
			{Name: "interests", Column: "interests", Type: segment.StringArray},
			{Name: "visit_spend", Column: "spend", Type: segment.Number,
				Join: &segment.KeyedTable{Table: cdp("store_visits"), Key: "customer_id"}},
		},
		Behaviors: []segment.Behavior{
			{Name: "orders", Table: cdp("orders"), Key: "customer_id", Time: "order_time", Columns: []segment.Column{
				{Name: "amount", Type: segment.Number}, {Name: "category", Type: segment.String},
				{Name: "sales_channel", Column: "channel", Type: segment.String}}},
			{Name: "page_views", Table: cdp("page_views"), Key: "customer_id", Time: "view_time", Columns: []segment.Column{
				{Name: "url", Type: segment.String}}},
		},
	}
}

func valueRule(attr, value string) segment.Rule {
	v := segment.StringOf(value)
	return segment.Rule{Type: segment.And, Conditions: []segment.ConditionSet{{Type: segment.And, Conditions: []segment.Condition{{
		Type: segment.ValueCondition, LeftValue: &segment.LeftValue{Name: attr},
		Operator: &segment.Operator{Type: segment.Equal, RightValue: &v}}}}}}
}

func refRule(id, name string, exclude bool) segment.Rule {
	return segment.Rule{Type: segment.And, Conditions: []segment.ConditionSet{{Type: segment.And, Conditions: []segment.Condition{{
		Type: segment.ReferenceCondition, ID: id, Segment: name, Exclude: exclude}}}}}
}

// mustParent creates the retail parent segment.
func (e *env) mustParent(t testing.TB, name string) *segment.Parent {
	t.Helper()
	id, err := e.c.ResolveConnection(context.Background(), connName)
	if err != nil {
		t.Fatal(err)
	}
	p := retailParent(name)
	p.ConnectionID = id
	got, err := e.c.CreateParent(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// count returns how many logged requests match method and path prefix.
func count(reqs []tdstandin.Request, method, prefix string) int {
	n := 0
	for _, r := range reqs {
		if (method == "" || r.Method == method) && len(r.Path) >= len(prefix) && r.Path[:len(prefix)] == prefix {
			n++
		}
	}
	return n
}

func newRawServer(t testing.TB, h http.Handler) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}

func newTextLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
