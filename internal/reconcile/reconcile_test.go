//go:build cgo

package reconcile_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/reconcile"
	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin"
	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin/dbxtest"
	"github.com/cas-reconciler/reconciler/internal/standin/tdstandin"
	"github.com/cas-reconciler/reconciler/internal/warehouse"
	"github.com/cas-reconciler/reconciler/pkg/plan"
	"github.com/cas-reconciler/reconciler/pkg/treasure"
	"github.com/databricks/databricks-sql-go/logger"
)

func init() { _ = logger.SetLogLevel("disabled") }

const (
	apiKey   = "1/0123456789abcdef0123456789abcdef"
	retail   = "../../examples/retail"
	fixture  = "../../examples/retail-warehouse.yaml"
	connName = "databricks-retail"
	// otherConn is a second connection the stand-in knows.
	otherConn = "databricks-backup"
	// actConn is the connection the retail repository's activation uses.
	actConn = "s3-retail-exports"
)

type env struct {
	t   *testing.T
	td  *tdstandin.Server
	dbx *dbxstandin.Server
	r   *reconcile.Reconciler
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, tdstandin.Options{})
}

// newEnvWith is newEnv on a stand-in with opts (keys and connections are
// set here).
func newEnvWith(t *testing.T, opts tdstandin.Options) *env {
	t.Helper()
	opts.MasterKeys = []string{apiKey}
	opts.Connections = map[string]string{connName: "341079", otherConn: "341080", actConn: "341090"}
	td, err := tdstandin.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	td.Start()
	t.Cleanup(td.Close)
	client := newClient(t, td)
	dbx, ep := dbxtest.Start(t, fixture)
	wh, err := warehouse.Open(warehouse.Options{Host: ep.Host, Port: ep.Port, HTTPPath: ep.HTTPPath, Insecure: true,
		Token: "dapi-treasure-sp", RetryWaitMin: 10 * time.Millisecond, RetryWaitMax: 50 * time.Millisecond,
		Retries: 1, QueryTimeout: 20 * time.Second, ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wh.Close() })
	return &env{t: t, td: td, dbx: dbx, r: &reconcile.Reconciler{
		Loader:  reconcile.NewSpecLoader(),
		Catalog: wh,
		Remote:  client,
		Plan:    plan.Options{Owner: "retail", Prune: plan.PruneOptions{Enabled: true}},
	}}
}

// newClient returns a Treasure client of source "retail" on td.
func newClient(t *testing.T, td *tdstandin.Server) *treasure.Client {
	t.Helper()
	return newClientOwner(t, td, "retail")
}

// newClientOwner returns a Treasure client of source owner on td.
func newClientOwner(t *testing.T, td *tdstandin.Server, owner string) *treasure.Client {
	t.Helper()
	client, err := treasure.New(treasure.Options{APIKey: apiKey, Owner: owner, CDPURL: td.URL(), CASURL: td.URL(),
		ClassicURL: td.URL(), RateLimit: -1, MaxRetries: 1, Timeout: 5 * time.Second,
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// newEnvReconciler returns a new reconciler on e's stand-ins, with a new
// client: what a restarted daemon or the CLI has.
func newEnvReconciler(e *env) *reconcile.Reconciler {
	return &reconcile.Reconciler{Loader: reconcile.NewSpecLoader(), Catalog: e.r.Catalog, Remote: newClient(e.t, e.td),
		Plan: e.r.Plan}
}

func snap(dir, rev string) reconcile.Snapshot {
	return reconcile.Snapshot{Revision: rev, FS: os.DirFS(dir)}
}

// writes counts requests that change Treasure.
func (e *env) writes() int {
	n := 0
	for _, r := range e.td.Requests() {
		if r.Method != "GET" {
			n++
		}
	}
	return n
}

func TestRunAppliesThenNoChanges(t *testing.T) {
	e := newEnv(t)
	res, err := e.r.Run(context.Background(), snap(retail, "r1"), reconcile.Mode{})
	if err != nil {
		t.Fatalf("first run: %v", err)
	}
	if !res.Applied || res.Report.Failed() || res.Plan.Summary().Add < 20 {
		t.Fatalf("first run applied=%v summary=%+v", res.Applied, res.Plan.Summary())
	}
	if len(e.td.Segments()) == 0 {
		t.Fatal("no segment reached Treasure")
	}
	before := e.writes()
	res, err = e.r.Run(context.Background(), snap(retail, "r1"), reconcile.Mode{})
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if res.Plan.HasChanges() || res.Applied {
		t.Errorf("second run planned changes: %s", plan.SummaryLine(res.Plan))
	}
	if e.writes() != before {
		t.Errorf("second run wrote %d times", e.writes()-before)
	}
	if _, rev := e.r.LastApplied(); rev != "r1" {
		t.Errorf("LastApplied revision = %q", rev)
	}
	var names []string
	for _, s := range res.Steps {
		names = append(names, s.Step)
	}
	if len(names) != 4 || names[0] != reconcile.StepLoad || names[3] != reconcile.StepPlan {
		t.Errorf("steps = %v", names)
	}
}

func TestInvalidSpecStallsAndWritesNothing(t *testing.T) {
	e := newEnv(t)
	res, err := e.r.Run(context.Background(), snap("../../testdata/repos/broken-unknown-attribute", "bad"), reconcile.Mode{})
	var st *reconcile.Stalled
	if !errors.As(err, &st) || st.Reason != reconcile.ReasonInvalidSpec {
		t.Fatalf("err = %v, want Stalled InvalidSpec", err)
	}
	if !res.Diagnostics.HasErrors() {
		t.Error("no diagnostics in the result")
	}
	if len(e.td.Requests()) != 0 {
		t.Errorf("Treasure saw %d requests", len(e.td.Requests()))
	}
}

func TestWarehouseMismatchStalls(t *testing.T) {
	e := newEnv(t)
	if err := e.dbx.DropColumn("retail_prod", "cdp", "customers", "ltv"); err != nil {
		t.Fatal(err)
	}
	res, err := e.r.Run(context.Background(), snap(retail, "r1"), reconcile.Mode{})
	var st *reconcile.Stalled
	if !errors.As(err, &st) || st.Reason != reconcile.ReasonWarehouseMismatch {
		t.Fatalf("err = %v, want Stalled WarehouseMismatch", err)
	}
	found := false
	for _, d := range res.Diagnostics {
		if d.Pos.File == "parent.cue" {
			found = true
		}
	}
	if !found {
		t.Errorf("no diagnostic points into parent.cue: %v", res.Diagnostics)
	}
	if e.writes() != 0 {
		t.Errorf("Treasure saw %d writes", e.writes())
	}
}

func TestWarehouseDownWaits(t *testing.T) {
	e := newEnv(t)
	e.dbx.Close()
	_, err := e.r.Run(context.Background(), snap(retail, "r1"), reconcile.Mode{})
	var w *reconcile.Waiting
	if !errors.As(err, &w) || w.Reason != reconcile.ReasonWarehouseDown {
		t.Fatalf("err = %v, want Waiting WarehouseUnavailable", err)
	}
	if len(e.td.Requests()) != 0 {
		t.Errorf("Treasure saw %d requests", len(e.td.Requests()))
	}
}

func TestTreasureOutageWaitsThenRecovers(t *testing.T) {
	e := newEnv(t)
	e.td.Inject(tdstandin.Fault{Method: "GET", Times: 50, Status: 503, RetryAfter: "7"})
	_, err := e.r.Run(context.Background(), snap(retail, "r1"), reconcile.Mode{})
	var w *reconcile.Waiting
	if !errors.As(err, &w) || w.Reason != reconcile.ReasonTreasureDown {
		t.Fatalf("err = %v, want Waiting TreasureUnavailable", err)
	}
	if w.RetryAfter != 7*time.Second {
		t.Errorf("RetryAfter = %v, want 7s", w.RetryAfter)
	}
	if e.writes() != 0 {
		t.Errorf("Treasure saw %d writes during the outage", e.writes())
	}
	e.td.ClearFaults()
	if _, err := e.r.Run(context.Background(), snap(retail, "r1"), reconcile.Mode{}); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
}

func TestDryRunAndFreezeHoldApply(t *testing.T) {
	e := newEnv(t)
	for _, mode := range []reconcile.Mode{{DryRun: true}, {Frozen: true}} {
		res, err := e.r.Run(context.Background(), snap(retail, "r1"), mode)
		if err != nil {
			t.Fatal(err)
		}
		if res.Applied || res.Held == "" || !res.Plan.HasChanges() {
			t.Errorf("mode %+v: applied=%v held=%q", mode, res.Applied, res.Held)
		}
	}
	if e.writes() != 0 {
		t.Errorf("Treasure saw %d writes", e.writes())
	}
}
