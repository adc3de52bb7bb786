//go:build cgo

package warehouse_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin"
	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin/dbxtest"
	"github.com/cas-reconciler/reconciler/internal/warehouse"
)

// coldClient opens a client on a stand-in that starts stopped for coldFor
// on clock; the client's waits advance the same clock, and the driver's own
// retries are off so each 503 reaches the client.
func coldClient(t *testing.T, coldFor, budget time.Duration, log *slog.Logger) (*dbxstandin.Server, *warehouse.Client, *fakeClock) {
	t.Helper()
	fx, err := dbxstandin.LoadFixture(retailFixture)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	srv, ep := dbxtest.Serve(t, fx, dbxstandin.WithClock(clock.Now), dbxstandin.WithColdStart(coldFor))
	c := open(t, ep, func(o *warehouse.Options) {
		o.Retries, o.Now, o.StartTimeout, o.Logger = -1, clock.Now, budget, log
		o.RetryWaitMin, o.RetryWaitMax = 10*time.Second, time.Minute
		o.Sleep = func(ctx context.Context, d time.Duration) error { clock.Add(d); return ctx.Err() }
	})
	return srv, c, clock
}

// TestColdStartWithinBudget checks that a warehouse answering 503 while it
// starts is waited for within the start budget, with a log line per wait.
func TestColdStartWithinBudget(t *testing.T) {
	var logs bytes.Buffer
	srv, c, _ := coldClient(t, 3*time.Minute, 10*time.Minute, slog.New(slog.NewTextHandler(&logs, nil)))
	cat, err := c.Snapshot(context.Background(), allRetail[:1])
	if err != nil {
		t.Fatalf("snapshot of a starting warehouse: %v", err)
	}
	if !cat.Table(allRetail[0]).Found {
		t.Errorf("customers not found after the start")
	}
	if srv.Starts() != 1 || !srv.Running() {
		t.Errorf("starts = %d, running = %v; want 1, true", srv.Starts(), srv.Running())
	}
	if !strings.Contains(logs.String(), "warehouse starting") || !strings.Contains(logs.String(), "waited=") {
		t.Errorf("no progress log line:\n%s", logs.String())
	}
}

// TestColdStartBudgetExhausted checks that a warehouse still starting after
// the budget fails with StartTimeout, naming the host and no token.
func TestColdStartBudgetExhausted(t *testing.T) {
	_, c, clock := coldClient(t, time.Hour, 5*time.Minute, nil)
	t0 := clock.Now()
	_, err := c.Snapshot(context.Background(), allRetail[:1])
	var we *warehouse.Error
	if !errors.As(err, &we) || !we.StartTimedOut() || !we.Temporary() {
		t.Fatalf("err = %v, want a start timeout", err)
	}
	if waited := clock.Now().Sub(t0); waited < 5*time.Minute || waited > 6*time.Minute {
		t.Errorf("waited %s on the clock, want the 5m budget", waited)
	}
	if !strings.Contains(err.Error(), c.Host()) || !strings.Contains(err.Error(), "start budget 5m0s") {
		t.Errorf("error does not name host and budget: %v", err)
	}
	assertNoSecret(t, err, "dapi-treasure-sp")
}

// TestColdStartNoBudget checks that a negative budget gives up at the first
// 503, classified as Starting (temporary), not as a query error.
func TestColdStartNoBudget(t *testing.T) {
	_, c, _ := coldClient(t, time.Hour, -1, nil)
	_, err := c.Snapshot(context.Background(), allRetail[:1])
	var we *warehouse.Error
	if !errors.As(err, &we) || !we.IsStarting() || !we.Temporary() {
		t.Fatalf("err = %v, want class starting", err)
	}
}

// TestAutoStop checks the stand-in's auto-stop: idle past the limit, the
// next statement starts the warehouse again.
func TestAutoStop(t *testing.T) {
	fx, err := dbxstandin.LoadFixture(retailFixture)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	srv, ep := dbxtest.Serve(t, fx, dbxstandin.WithClock(clock.Now), dbxstandin.WithColdStart(time.Minute), dbxstandin.WithAutoStop(10*time.Minute))
	c := open(t, ep, func(o *warehouse.Options) {
		o.Retries, o.Now = -1, clock.Now
		o.Sleep = func(ctx context.Context, d time.Duration) error { clock.Add(d); return nil }
	})
	ctx := context.Background()
	if _, err := c.Snapshot(ctx, allRetail[:1]); err != nil {
		t.Fatal(err)
	}
	clock.Add(5 * time.Minute)
	c.CloseIdle()
	if _, err := c.Snapshot(ctx, allRetail[:1]); err != nil || srv.Starts() != 1 {
		t.Fatalf("within idle: err %v, starts %d", err, srv.Starts())
	}
	clock.Add(11 * time.Minute)
	if srv.Starts() != 1 {
		t.Fatal("started without a request")
	}
	c.CloseIdle()
	if _, err := c.Snapshot(ctx, allRetail[:1]); err != nil || srv.Starts() != 2 {
		t.Fatalf("after idle: err %v, starts %d, want a second start", err, srv.Starts())
	}
}
