//go:build cgo

package dbxstandin

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cas-reconciler/reconciler/internal/syncbuf"
)

func TestTokensNeverLoggedOrRecorded(t *testing.T) {
	var buf syncbuf.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, ep := ownServer(t, shopFixture(), WithLogger(logger))
	ctx := ctxT(t)

	good := openDB(t, ep.DSN("t-alice"))
	if _, err := good.QueryContext(ctx, "SELECT * FROM shop.s.missing"); err == nil {
		t.Fatal("query of a missing table succeeded")
	}
	bad := openDB(t, ep.DSN("t-not-a-real-token"))
	if err := bad.PingContext(ctx); err == nil {
		t.Fatal("bad token accepted")
	}
	if !strings.Contains(buf.String(), "statement failed") {
		t.Fatalf("logger saw nothing, the test would prove nothing: %q", buf.String())
	}
	recorded := fmt.Sprintf("%+v", srv.Calls())
	for _, secret := range []string{"t-alice", "t-not-a-real-token"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("log contains token %q", secret)
		}
		if strings.Contains(recorded, secret) {
			t.Errorf("RPC log contains token %q", secret)
		}
	}
}

func TestLoadFixtureFromJSON(t *testing.T) {
	data, err := json.Marshal(shopFixture())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "shop.json")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	fx, err := LoadFixture(p)
	if err != nil {
		t.Fatal(err)
	}
	_, ep := ownServer(t, fx)
	db := openDB(t, ep.DSN("t-alice"))
	var name, price string
	if err := db.QueryRowContext(ctxT(t), "SELECT name, CAST(price AS STRING) FROM shop.s.items WHERE id = 3").Scan(&name, &price); err != nil {
		t.Fatal(err)
	}
	if name != "it's" || price != "-0.05" {
		t.Errorf("row 3 = %q %q", name, price)
	}
}
