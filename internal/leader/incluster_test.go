package leader

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/standin/leadertest"
)

// fakeClock is a settable clock for the token cache.
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

// serviceAccount writes a service account directory trusting srv.
func serviceAccount(t *testing.T, srv *httptest.Server, token string) string {
	t.Helper()
	dir := t.TempDir()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), ca, 0o600); err != nil {
		t.Fatal(err)
	}
	writeToken(t, dir, token)
	return dir
}

func writeToken(t *testing.T, dir, token string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func envFor(srv *httptest.Server) func(string) string {
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "https://"))
	return func(k string) string {
		switch k {
		case "KUBERNETES_SERVICE_HOST":
			return host
		case "KUBERNETES_SERVICE_PORT":
			return port
		}
		return ""
	}
}

func TestInClusterClientRereadsTheToken(t *testing.T) {
	api := leadertest.New("token-1", "token-2")
	srv := httptest.NewTLSServer(api)
	defer srv.Close()
	dir := serviceAccount(t, srv, "token-1")
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c, err := inClusterClient(dir, envFor(srv), clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Authenticated over TLS against the CA in the service account.
	if _, err := c.Get(ctx, "cas", "lease"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get = %v, want ErrNotFound", err)
	}

	// The token rotates; only token-2 is valid from now on.
	writeToken(t, dir, "token-2")
	api.Partition("token-1", leadertest.Unavailable)
	clock.Add(tokenMaxAge / 2)
	if _, err := c.Get(ctx, "cas", "lease"); errors.Is(err, ErrNotFound) {
		t.Fatal("the token file was read again before the cache expired")
	}
	clock.Add(tokenMaxAge / 2)
	if _, err := c.Get(ctx, "cas", "lease"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after the rotation = %v, want ErrNotFound with the new token", err)
	}

	// A token file that disappears for a moment keeps the last token.
	if err := os.Remove(filepath.Join(dir, "token")); err != nil {
		t.Fatal(err)
	}
	clock.Add(2 * tokenMaxAge)
	if _, err := c.Get(ctx, "cas", "lease"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get while the token file is missing = %v, want the last token used", err)
	}
}

func TestInClusterClientRejectsAnotherServer(t *testing.T) {
	srv := httptest.NewTLSServer(leadertest.New("token-1"))
	defer srv.Close()
	dir := serviceAccount(t, srv, "token-1")
	// The service account trusts another CA than the one of srv.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := inClusterClient(dir, envFor(srv), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(context.Background(), "cas", "lease")
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Get from an untrusted server = %v, want a certificate error", err)
	}
}

func TestInClusterClientNeedsACluster(t *testing.T) {
	srv := httptest.NewTLSServer(leadertest.New("token-1"))
	defer srv.Close()
	good := serviceAccount(t, srv, "token-1")
	noToken := serviceAccount(t, srv, "token-1")
	if err := os.Remove(filepath.Join(noToken, "token")); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		dir  string
		env  func(string) string
		want string
	}{
		"no service env": {dir: good, env: func(string) string { return "" }, want: "not running in a Kubernetes pod"},
		"no CA":          {dir: t.TempDir(), env: envFor(srv), want: "read cluster CA"},
		"no token":       {dir: noToken, env: envFor(srv), want: "read service account token"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := inClusterClient(tc.dir, tc.env, time.Now)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
