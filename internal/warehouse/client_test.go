package warehouse

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

func TestOpenValidatesOptions(t *testing.T) {
	const secret = "dapi-secret-in-options"
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no host", Options{HTTPPath: "/p", Token: secret}, "host is required"},
		{"no path", Options{Host: "h", Token: secret}, "http path is required"},
		{"no credentials", Options{Host: "h", HTTPPath: "/p"}, "no credentials"},
		{"both", Options{Host: "h", HTTPPath: "/p", Token: secret, ClientID: "id", ClientSecret: secret}, "not both"},
		{"half oauth", Options{Host: "h", HTTPPath: "/p", ClientID: "id"}, "both a client id and a client secret"},
	}
	for _, tt := range tests {
		_, err := Open(tt.o)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("%s: secret in %q", tt.name, err)
		}
	}
}

// hangingServer accepts connections and never answers.
func hangingServer(t *testing.T) (string, int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	a := ln.Addr().(*net.TCPAddr)
	return a.IP.String(), a.Port
}

func TestTimeoutIsTyped(t *testing.T) {
	host, port := hangingServer(t)
	var observed []string
	var mu sync.Mutex
	c, err := Open(Options{Host: host, Port: port, HTTPPath: "/sql/1.0/warehouses/x", Insecure: true, Token: "dapi-timeout-secret",
		ConnectTimeout: 100 * time.Millisecond, QueryTimeout: 200 * time.Millisecond, Retries: -1,
		Observe: func(kind string, _ time.Duration, err error) {
			mu.Lock()
			defer mu.Unlock()
			observed = append(observed, kind+" "+errors.Unwrap(err).Error())
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Snapshot(context.Background(), []segment.Table{{Catalog: "c", Schema: "s", Table: "t"}})
	var we *Error
	if !errors.As(err, &we) || we.Class != Timeout || we.Host != host {
		t.Fatalf("err = %v, want timeout naming %s", err, host)
	}
	if !we.Temporary() {
		t.Error("timeout not temporary")
	}
	if (&Error{Class: AuthRefused}).Temporary() || (&Error{Class: Permission}).Temporary() {
		t.Error("auth or permission failures reported temporary")
	}
	if strings.Contains(err.Error(), "dapi-timeout-secret") {
		t.Errorf("secret in %q", err)
	}
	if len(observed) != 1 || !strings.HasPrefix(observed[0], KindPrivileges+" ") {
		t.Errorf("observed = %q, want one failed privileges (current_user) statement", observed)
	}
	if q := c.Queries(); q[KindPrivileges] != 1 || q[KindColumns] != 0 {
		t.Errorf("queries = %v", q)
	}
}

func TestNoTelemetryAnswersLocally(t *testing.T) {
	called := false
	rt := &noTelemetry{next: roundTripFunc(func(*http.Request) (*http.Response, error) { called = true; return nil, errors.New("network") })}
	for _, u := range []string{"https://h/api/2.0/connector-service/feature-flags/GOLANG/1.14.0", "https://h/telemetry-ext"} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		resp, err := rt.RoundTrip(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %v %v", u, resp, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if strings.Contains(u, "feature-flags") && !strings.Contains(string(body), `"value":"false"`) {
			t.Errorf("flag body = %s", body)
		}
	}
	if called {
		t.Error("telemetry request went to the network")
	}
	req, _ := http.NewRequest(http.MethodPost, "https://h/sql/1.0/warehouses/x", nil)
	if _, err := rt.RoundTrip(req); err == nil || !called {
		t.Error("warehouse request not passed through")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
