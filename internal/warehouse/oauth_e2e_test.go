//go:build cgo

package warehouse_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin"
	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin/dbxtest"
	"github.com/cas-reconciler/reconciler/internal/warehouse"
)

// tokenServer is an OAuth token endpoint for the client credentials grant
// that hands out accessToken to clientID/secret.
type tokenServer struct {
	*httptest.Server
	requests atomic.Int32
}

func newTokenServer(t *testing.T, clientID, secret, accessToken string, expiresIn int) *tokenServer {
	ts := &tokenServer{}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.requests.Add(1)
		id, sec, ok := r.BasicAuth()
		if r.Method != http.MethodPost || r.FormValue("grant_type") != "client_credentials" || r.FormValue("scope") != "all-apis" {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request"})
			return
		}
		if !ok || id != clientID || sec != secret {
			w.WriteHeader(http.StatusUnauthorized)
			// A careless server echoes what it got; the client must not.
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": "bad secret " + sec})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": accessToken, "token_type": "Bearer", "expires_in": expiresIn})
	}))
	t.Cleanup(ts.Close)
	return ts
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestOAuthMachineToMachine(t *testing.T) {
	_, ep := dbxtest.Start(t, retailFixture)
	// The stand-in accepts the service principal's access token.
	ts := newTokenServer(t, "sp-client", "sp-secret-value", "dapi-treasure-sp", 3600)
	clock := &fakeClock{now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	c := open(t, ep, func(o *warehouse.Options) {
		o.Token, o.ClientID, o.ClientSecret, o.TokenURL, o.Now = "", "sp-client", "sp-secret-value", ts.URL, clock.Now
	})
	ctx := context.Background()
	for i := range 3 {
		cat, err := c.Snapshot(ctx, allRetail[:2])
		if err != nil {
			t.Fatalf("snapshot %d: %v", i, err)
		}
		if cat.Principal != "treasure-sp" || !cat.Table(allRetail[0]).Found {
			t.Fatalf("snapshot %d: %+v", i, cat)
		}
	}
	if n := ts.requests.Load(); n != 1 {
		t.Errorf("token exchanges = %d, want 1 (cached)", n)
	}
	// Past expiry (minus the 30s margin) the token is exchanged again.
	clock.Add(3600*time.Second - 10*time.Second)
	c.CloseIdle()
	if _, err := c.Snapshot(ctx, allRetail[:2]); err != nil {
		t.Fatal(err)
	}
	if n := ts.requests.Load(); n != 2 {
		t.Errorf("token exchanges after expiry = %d, want 2", n)
	}
}

func TestOAuthSecretRefused(t *testing.T) {
	_, ep := dbxtest.Start(t, retailFixture)
	ts := newTokenServer(t, "sp-client", "right-secret", "dapi-treasure-sp", 3600)
	const secret = "wrong-secret-4711"
	c := open(t, ep, func(o *warehouse.Options) {
		o.Token, o.ClientID, o.ClientSecret, o.TokenURL, o.Retries = "", "sp-client", secret, ts.URL, -1
	})
	_, err := c.Snapshot(context.Background(), allRetail)
	var we *warehouse.Error
	if !errors.As(err, &we) || we.Class != warehouse.AuthRefused {
		t.Fatalf("err = %v, want auth refused", err)
	}
	if !strings.Contains(err.Error(), ep.Host) {
		t.Errorf("error does not name the host: %v", err)
	}
	assertNoSecret(t, err, secret)
}

func TestOAuthTokenNotInErrors(t *testing.T) {
	// The warehouse refuses the exchanged token: the error must not carry it.
	_, ep := dbxtest.Start(t, retailFixture)
	const access = "eyJ-access-token-not-known-to-the-warehouse"
	ts := newTokenServer(t, "sp-client", "sp-secret", access, 3600)
	c := open(t, ep, func(o *warehouse.Options) {
		o.Token, o.ClientID, o.ClientSecret, o.TokenURL = "", "sp-client", "sp-secret", ts.URL
	})
	_, err := c.Snapshot(context.Background(), allRetail)
	var we *warehouse.Error
	if !errors.As(err, &we) || we.Class != warehouse.AuthRefused {
		t.Fatalf("err = %v, want auth refused", err)
	}
	assertNoSecret(t, err, access)
	assertNoSecret(t, err, "sp-secret")
}

// TestOAuthRefusedSecretIsNotRetried checks that a refused client secret
// fails at the first token exchange: the driver's retries are for 429 and
// 503, and a wrong secret stays wrong.
func TestOAuthRefusedSecretIsNotRetried(t *testing.T) {
	_, ep := dbxtest.Start(t, retailFixture)
	ts := newTokenServer(t, "sp-client", "right-secret", "dapi-treasure-sp", 3600)
	const secret = "wrong-secret-4711"
	c := open(t, ep, func(o *warehouse.Options) {
		o.Token, o.ClientID, o.ClientSecret, o.TokenURL = "", "sp-client", secret, ts.URL
		o.Retries, o.RetryWaitMin, o.RetryWaitMax = 4, time.Millisecond, 2*time.Millisecond
	})
	_, err := c.Snapshot(context.Background(), allRetail)
	var we *warehouse.Error
	if !errors.As(err, &we) || we.Class != warehouse.AuthRefused {
		t.Fatalf("err = %v, want auth refused", err)
	}
	if n := ts.requests.Load(); n != 1 {
		t.Errorf("%d token exchanges for a refused secret, want 1", n)
	}
	assertNoSecret(t, err, secret)
}

// The stand-in's own token endpoint, through the real driver: the
// service principal's client id and secret become a bearer token the
// warehouse accepts (the default token URL is the workspace's, port
// included); a wrong secret is refused with invalid_client and never
// appears in the error.
func TestServicePrincipalThroughTheStandInsTokenEndpoint(t *testing.T) {
	fx, err := dbxstandin.LoadFixture(retailFixture)
	if err != nil {
		t.Fatal(err)
	}
	srv, ep := dbxtest.Serve(t, fx, dbxstandin.WithOAuthClient("sp-client-id", "sp-secret-value", "treasure-sp"))
	c := open(t, ep, func(o *warehouse.Options) {
		o.Token, o.ClientID, o.ClientSecret = "", "sp-client-id", "sp-secret-value"
	})
	cat, err := c.Snapshot(context.Background(), allRetail[:2])
	if err != nil {
		t.Fatal(err)
	}
	if cat.Principal != "treasure-sp" || !cat.Table(allRetail[0]).Access.Readable() {
		t.Errorf("snapshot as the service principal = %+v", cat)
	}
	if n := srv.TokenRequests(); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}

	bad := open(t, ep, func(o *warehouse.Options) {
		o.Token, o.ClientID, o.ClientSecret = "", "sp-client-id", "not-the-secret-42"
	})
	_, err = bad.Snapshot(context.Background(), allRetail[:1])
	var we *warehouse.Error
	if !errors.As(err, &we) || !we.Unauthorized() || !strings.Contains(err.Error(), "401 invalid_client") {
		t.Fatalf("wrong secret: %v, want an unauthorized error with 401 invalid_client", err)
	}
	assertNoSecret(t, err, "not-the-secret-42")
}
