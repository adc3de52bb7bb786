package treasure_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/doctor"
	"github.com/cas-reconciler/reconciler/internal/standin/tdstandin"
	"github.com/cas-reconciler/reconciler/pkg/segment"
	"github.com/cas-reconciler/reconciler/pkg/treasure"
)

// The conformance suite runs the client through a whole object lifecycle.
// By default it runs against the stand-in. With RECONCILER_LIVE=1 it runs
// against a real Treasure Data account instead:
//
//	TD_API_KEY     master API key (required)
//	TD_REGION      us01 (default), jp01, eu01, ap02, ap03
//	TD_CONNECTION  Databricks connection name (default databricks-retail)
//	TD_CAS_TABLE   customers table catalog.schema.table (default retail_prod.cdp.customers)
//	TD_CAS_KEY     its key column (default customer_id)
//	TD_CAS_COLUMN  a STRING column used as attribute (default email)
//	TD_CAS_EVENTS  a behavior table catalog.schema.table (default retail_prod.cdp.orders)
//	TD_CAS_EVENTS_KEY, TD_CAS_EVENTS_TIME, TD_CAS_EVENTS_COLUMN
//	               its customer key, time and a STRING column (defaults customer_id, order_time, category);
//	               the same table also gives a joined attribute
//
// It creates objects named cas-conformance-<time> and deletes them again; the
// doctor's checks (package doctor) run on the parent it made, its sandbox
// included.

type backend struct {
	client     *treasure.Client
	connection string
	customers  segment.KeyedTable
	column     string
	events     segment.Table
	eventsKey  string
	eventsTime string
	eventsCol  string
	live       bool
	base       treasure.Options
}

// opts returns the client options with another owner.
func (b backend) opts(owner string) treasure.Options {
	o := b.base
	o.Owner = owner
	return o
}

func tableOf(t *testing.T, name, def string) segment.Table {
	t.Helper()
	parts := strings.Split(env(name, def), ".")
	if len(parts) != 3 {
		t.Fatalf("%s must be catalog.schema.table", name)
	}
	return segment.Table{Catalog: parts[0], Schema: parts[1], Table: parts[2]}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func newBackend(t *testing.T) backend {
	t.Helper()
	b := backend{connection: env("TD_CONNECTION", "databricks-retail"), column: env("TD_CAS_COLUMN", "email"),
		events: tableOf(t, "TD_CAS_EVENTS", "retail_prod.cdp.orders"), eventsKey: env("TD_CAS_EVENTS_KEY", "customer_id"),
		eventsTime: env("TD_CAS_EVENTS_TIME", "order_time"), eventsCol: env("TD_CAS_EVENTS_COLUMN", "category")}
	b.customers = segment.KeyedTable{Table: tableOf(t, "TD_CAS_TABLE", "retail_prod.cdp.customers"), Key: env("TD_CAS_KEY", "customer_id")}
	opts := treasure.Options{Owner: "conformance"}
	if os.Getenv("RECONCILER_LIVE") == "1" {
		opts.APIKey, opts.Region = os.Getenv("TD_API_KEY"), env("TD_REGION", "us01")
		if opts.APIKey == "" {
			t.Fatal("RECONCILER_LIVE=1 needs TD_API_KEY")
		}
		b.live = true
	} else {
		key := "1/conformance0123456789"
		srv, err := tdstandin.New(tdstandin.Options{MasterKeys: []string{key}, Connections: map[string]string{b.connection: "341079"}})
		if err != nil {
			t.Fatal(err)
		}
		srv.Start()
		t.Cleanup(srv.Close)
		opts.APIKey, opts.CDPURL, opts.CASURL, opts.ClassicURL = key, srv.URL(), srv.URL(), srv.URL()
		opts.RateLimit = -1
	}
	b.base = opts
	c, err := treasure.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	b.client = c
	return b
}

func rule(attr, v string) segment.Rule {
	val := segment.StringOf(v)
	return segment.Rule{Type: segment.And, Conditions: []segment.ConditionSet{{Type: segment.And, Conditions: []segment.Condition{{
		Type: segment.ValueCondition, LeftValue: &segment.LeftValue{Name: attr}, Operator: &segment.Operator{Type: segment.Equal, RightValue: &val}}}}}}
}

func TestConformance(t *testing.T) {
	if os.Getenv("RECONCILER_LIVE") != "1" {
		t.Log("running against the stand-in; set RECONCILER_LIVE=1 with TD_API_KEY and TD_REGION to run against a real account")
	}
	b := newBackend(t)
	c := b.client
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	name := fmt.Sprintf("cas-conformance-%d", time.Now().Unix())
	var cleanups []func(ctx context.Context) error
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		for i := len(cleanups) - 1; i >= 0; i-- {
			if err := cleanups[i](ctx); err != nil && treasure.ReasonOf(err) != treasure.ReasonNotFound {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	step := func(name string, fn func(t *testing.T)) {
		if !t.Run(name, fn) {
			t.FailNow()
		}
	}

	var connID string
	var parent *segment.Parent
	step("resolve connection", func(t *testing.T) {
		var err error
		if connID, err = c.ResolveConnection(ctx, b.connection); err != nil || connID == "" {
			t.Fatalf("%q: %v", connID, err)
		}
	})
	step("create parent", func(t *testing.T) {
		want := &segment.Parent{Name: name, Description: "conformance run", Timezone: "UTC", Connection: b.connection, ConnectionID: connID,
			Customers: b.customers, Attributes: []segment.Attribute{{Name: "attr", Column: b.column, Type: segment.String}}}
		var err error
		if parent, err = c.CreateParent(ctx, want); err != nil {
			t.Fatal(err)
		}
		id := parent.Meta.ID
		cleanups = append(cleanups, func(ctx context.Context) error { return c.DeleteParent(ctx, id) })
		if parent.RootFolderID == "" || !parent.Meta.Owned || parent.Description != "conformance run" ||
			len(parent.Attributes) != 1 || parent.Attributes[0].Column != b.column || parent.Customers != b.customers {
			t.Errorf("created parent = %+v", parent)
		}
	})
	step("replace parent (PUT /audiences) with a behavior and a joined attribute", func(t *testing.T) {
		want := *parent
		want.Attributes = []segment.Attribute{{Name: "attr", Column: b.column, Type: segment.String},
			{Name: "joined", Column: b.eventsCol, Type: segment.String, Join: &segment.KeyedTable{Table: b.events, Key: b.eventsKey}}}
		want.Behaviors = []segment.Behavior{{Name: "events", Table: b.events, Key: b.eventsKey, Time: b.eventsTime,
			Columns: []segment.Column{{Name: b.eventsCol, Type: segment.String}}}}
		got, err := c.UpdateParent(ctx, parent.Meta.ID, &want)
		if err != nil {
			t.Fatal(err)
		}
		j, ok := got.Attribute("joined")
		if !ok || j.Join == nil || *j.Join != (segment.KeyedTable{Table: b.events, Key: b.eventsKey}) {
			t.Errorf("joined attribute = %+v", j)
		}
		bh, ok := got.Behavior("events")
		if !ok || bh.Table != b.events || bh.Key != b.eventsKey || len(bh.Columns) != 1 || bh.Columns[0].Name != b.eventsCol {
			t.Errorf("behavior = %+v", bh)
		}
		parent = got
	})
	step("doctor", func(t *testing.T) {
		var rep doctor.Report
		found := doctor.Run(ctx, c, doctor.Options{Parents: []string{name}, Connections: []string{b.connection}}, &rep)
		if len(found) != 1 {
			t.Fatalf("doctor read %d parents\n%+v", len(found), rep.Checks)
		}
		dc, err := treasure.New(b.opts(doctor.Owner))
		if err != nil {
			t.Fatal(err)
		}
		doctor.Sandbox(ctx, dc, found[0], doctor.SandboxOptions{Folder: "doctor-sandbox"}, &rep)
		if rep.Failed() {
			var sb strings.Builder
			_ = rep.WriteText(&sb)
			t.Errorf("doctor:\n%s", sb.String())
		}
		for _, step := range []string{"create", "plan", "update", "delete", "cleanup"} {
			if c, ok := rep.Check("sandbox:doctor-sandbox:" + step); !ok || c.Status != doctor.OK {
				t.Errorf("sandbox %s: %+v", step, c)
			}
		}
	})
	var outer, inner *segment.Folder
	step("create folders", func(t *testing.T) {
		var err error
		if outer, err = c.CreateFolder(ctx, parent.Meta.ID, parent.RootFolderID, &segment.Folder{Parent: name, Path: "Outer"}); err != nil {
			t.Fatal(err)
		}
		cleanups = append(cleanups, func(ctx context.Context) error { return c.DeleteFolder(ctx, outer.Meta.ID) })
		if inner, err = c.CreateFolder(ctx, parent.Meta.ID, outer.Meta.ID, &segment.Folder{Parent: name, Path: "Outer/Inner"}); err != nil {
			t.Fatal(err)
		}
		cleanups = append(cleanups, func(ctx context.Context) error { return c.DeleteFolder(ctx, inner.Meta.ID) })
	})
	var s1, s2 *segment.Segment
	step("create segments", func(t *testing.T) {
		var err error
		if s1, err = c.CreateSegment(ctx, parent.Meta.ID, inner.Meta.ID, &segment.Segment{Name: "One", Parent: name, Folder: "Outer/Inner", Rule: rule("attr", "a")}); err != nil {
			t.Fatal(err)
		}
		cleanups = append(cleanups, func(ctx context.Context) error { return c.DeleteSegment(ctx, s1.Meta.ID) })
		ref := segment.Rule{Type: segment.And, Conditions: []segment.ConditionSet{{Type: segment.And, Conditions: []segment.Condition{{
			Type: segment.ReferenceCondition, ID: s1.Meta.ID, Segment: "One"}}}}}
		if s2, err = c.CreateSegment(ctx, parent.Meta.ID, outer.Meta.ID, &segment.Segment{Name: "Two", Parent: name, Folder: "Outer", Rule: ref}); err != nil {
			t.Fatal(err)
		}
		cleanups = append(cleanups, func(ctx context.Context) error { return c.DeleteSegment(ctx, s2.Meta.ID) })
	})
	step("observe", func(t *testing.T) {
		st, err := c.Observe(ctx, []string{name})
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Parents) != 1 || len(st.Folders) != 2 || len(st.Segments) != 2 {
			t.Fatalf("observed %d parents, %d folders, %d segments", len(st.Parents), len(st.Folders), len(st.Segments))
		}
		if st.Folders[1].Path != "Outer/Inner" || st.Segments[0].Name != "Two" || st.Segments[1].Folder != "Outer/Inner" {
			t.Errorf("tree = %+v / %+v", st.Folders, st.Segments)
		}
		if r := st.Segments[0].Rule.Conditions[0].Conditions[0]; r.ID != s1.Meta.ID || r.Segment != "One" {
			t.Errorf("reference = %+v", r)
		}
		if v := st.Segments[1].Rule.Conditions[0].Conditions[0].Operator.RightValue; v == nil || v.Str != "a" {
			t.Errorf("rule of One = %+v", st.Segments[1].Rule)
		}
	})
	step("update segment", func(t *testing.T) {
		if _, err := c.UpdateSegment(ctx, s1.Meta.ID, inner.Meta.ID, &segment.Segment{Name: "One", Parent: name, Folder: "Outer/Inner", Rule: rule("attr", "b")}); err != nil {
			t.Fatal(err)
		}
		st, err := c.Observe(ctx, []string{name})
		if err != nil {
			t.Fatal(err)
		}
		if v := st.Segments[1].Rule.Conditions[0].Conditions[0].Operator.RightValue; v == nil || v.Str != "b" {
			t.Errorf("rule after update = %+v", st.Segments[1].Rule)
		}
	})
	step("refused deletes", func(t *testing.T) {
		err := c.DeleteSegment(ctx, s1.Meta.ID)
		var ae *treasure.APIError
		if !errors.As(err, &ae) || ae.Reason != treasure.ReasonConflict || len(ae.ReferencedBy) != 1 || ae.ReferencedBy[0] != s2.Meta.ID {
			t.Errorf("delete referenced segment: %v", err)
		}
		if err := c.DeleteFolder(ctx, outer.Meta.ID); treasure.ReasonOf(err) != treasure.ReasonConflict {
			t.Errorf("delete non-empty folder: %v", err)
		}
	})
	step("create is idempotent by name", func(t *testing.T) {
		again, err := c.CreateFolder(ctx, parent.Meta.ID, parent.RootFolderID, &segment.Folder{Parent: name, Path: "Outer"})
		if err != nil || again.Meta.ID != outer.Meta.ID {
			t.Errorf("second create of Outer: %v, %+v", err, again)
		}
	})
	step("delete in order", func(t *testing.T) {
		for _, fn := range []func() error{
			func() error { return c.DeleteSegment(ctx, s2.Meta.ID) },
			func() error { return c.DeleteSegment(ctx, s1.Meta.ID) },
			func() error { return c.DeleteFolder(ctx, inner.Meta.ID) },
			func() error { return c.DeleteFolder(ctx, outer.Meta.ID) },
			func() error { return c.DeleteParent(ctx, parent.Meta.ID) },
		} {
			if err := fn(); err != nil {
				t.Fatal(err)
			}
		}
		st, err := c.Observe(ctx, []string{name})
		if err != nil || len(st.Parents) != 0 {
			t.Errorf("after delete: %v %+v", err, st.Parents)
		}
	})
}
