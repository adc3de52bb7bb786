package leader

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cas-reconciler/reconciler/internal/standin/leadertest"
)

const testToken = "s3cr3t-service-account-token"

func newTestServer(t *testing.T) (*leadertest.API, *Client) {
	t.Helper()
	api := leadertest.New(testToken)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return api, NewClient(srv.URL, srv.Client(), func() (string, error) { return testToken, nil })
}

func TestClientCreateGetUpdate(t *testing.T) {
	api, c := newTestServer(t)
	ctx := context.Background()
	if _, err := c.Get(ctx, "cas", "lease"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a missing lease = %v, want ErrNotFound", err)
	}

	acquired := time.Date(2026, 3, 4, 5, 6, 7, 891234567, time.FixedZone("CET", 3600))
	created, err := c.Create(ctx, &Lease{
		Metadata: ObjectMeta{Namespace: "cas", Name: "lease", Labels: map[string]string{"app": "reconciler"}},
		Spec: LeaseSpec{HolderIdentity: "a", LeaseDurationSeconds: 15, AcquireTime: MicroTime{acquired},
			RenewTime: MicroTime{acquired}},
	})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if created.Metadata.ResourceVersion == "" {
		t.Error("created lease has no resourceVersion")
	}

	// The stored object has the Kubernetes wire shape.
	raw, _ := api.Object("cas", "lease")
	var stored map[string]any
	if err := json.Unmarshal(raw, &stored); err != nil {
		t.Fatal(err)
	}
	spec := stored["spec"].(map[string]any)
	want := map[string]any{
		"holderIdentity":       "a",
		"leaseDurationSeconds": float64(15),
		"acquireTime":          "2026-03-04T04:06:07.891234Z",
		"renewTime":            "2026-03-04T04:06:07.891234Z",
	}
	if diff := cmp.Diff(want, spec); diff != "" {
		t.Errorf("stored spec (-want +got):\n%s", diff)
	}
	if stored["apiVersion"] != "coordination.k8s.io/v1" || stored["kind"] != "Lease" {
		t.Errorf("stored object is %v %v", stored["apiVersion"], stored["kind"])
	}

	got, err := c.Get(ctx, "cas", "lease")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if !got.Spec.AcquireTime.Equal(acquired.Truncate(time.Microsecond)) || got.Spec.HolderIdentity != "a" ||
		got.Metadata.Labels["app"] != "reconciler" {
		t.Errorf("Get = %+v", got)
	}

	upd := *got
	upd.Spec.HolderIdentity = "b"
	upd.Spec.LeaseTransitions = 1
	updated, err := c.Update(ctx, &upd)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if updated.Metadata.ResourceVersion == got.Metadata.ResourceVersion {
		t.Error("Update did not change the resourceVersion")
	}
	if l, _ := api.Lease("cas", "lease"); l.HolderIdentity != "b" || l.LeaseTransitions != 1 {
		t.Errorf("stored after Update = %+v", l)
	}
	raw, _ = api.Object("cas", "lease")
	if !strings.Contains(string(raw), `"labels":{"app":"reconciler"}`) {
		t.Errorf("Update dropped the labels: %s", raw)
	}

	// got is now stale.
	_, err = c.Update(ctx, got)
	if !errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) {
		t.Fatalf("Update of a stale version = %v, want ErrConflict", err)
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 409 || apiErr.Reason != "Conflict" {
		t.Errorf("stale Update error = %#v, want a 409 Conflict APIError", err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "leader: update lease cas/lease: Conflict (409): Operation cannot be fulfilled") {
		t.Errorf("conflict error reads %q", msg)
	}

	_, err = c.Create(ctx, &Lease{Metadata: ObjectMeta{Namespace: "cas", Name: "lease"}})
	if !errors.Is(err, ErrAlreadyExists) || errors.Is(err, ErrConflict) {
		t.Errorf("Create of an existing lease = %v, want ErrAlreadyExists only", err)
	}
	if _, err := c.Update(ctx, &Lease{Metadata: ObjectMeta{Namespace: "cas", Name: "lease"}}); err == nil {
		t.Error("Update without a resourceVersion was sent")
	}
	missing := *updated
	missing.Metadata.Name = "other"
	if _, err := c.Update(ctx, &missing); !errors.Is(err, ErrNotFound) {
		t.Errorf("Update of a missing lease = %v, want ErrNotFound", err)
	}
}

func TestClientErrorsNameTheStatus(t *testing.T) {
	for name, tc := range map[string]struct {
		code   int
		body   string
		want   string
		notErr []error
	}{
		"forbidden": {
			code: 403,
			body: `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403,` +
				`"message":"leases.coordination.k8s.io \"lease\" is forbidden: User \"system:serviceaccount:cas:x\" cannot get resource \"leases\""}`,
			want:   `leader: get lease cas/lease: Forbidden (403): leases.coordination.k8s.io "lease" is forbidden: User`,
			notErr: []error{ErrNotFound, ErrConflict},
		},
		"proxy page": {
			code: 502,
			body: "<html>bad gateway</html>",
			want: "leader: get lease cas/lease: Bad Gateway (502): <html>bad gateway</html>",
		},
		"long message": {
			code: 500,
			body: strings.Repeat("x", 5000),
			want: "leader: get lease cas/lease: Internal Server Error (500): " + strings.Repeat("x", maxMessage) + "…",
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.code)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			_, err := NewClient(srv.URL, nil, nil).Get(context.Background(), "cas", "lease")
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error = %v, want prefix %q", err, tc.want)
			}
			if err != nil && len(err.Error()) > len(tc.want)+200 {
				t.Errorf("error is %d bytes long", len(err.Error()))
			}
			for _, e := range tc.notErr {
				if errors.Is(err, e) {
					t.Errorf("error matches %v", e)
				}
			}
		})
	}
}

func TestClientSendsTheBearerToken(t *testing.T) {
	api, c := newTestServer(t)
	if _, err := c.Get(context.Background(), "cas", "lease"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get with the token = %v, want ErrNotFound (authenticated)", err)
	}
	srv := httptest.NewServer(api)
	defer srv.Close()
	_, err := NewClient(srv.URL, nil, func() (string, error) { return "wrong", nil }).Get(context.Background(), "cas", "lease")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 401 || apiErr.Reason != "Unauthorized" {
		t.Errorf("Get with a wrong token = %v, want 401 Unauthorized", err)
	}
}

func TestTokenNeverInErrors(t *testing.T) {
	ctx := context.Background()
	echo := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			_, _ = w.Write([]byte(`{"kind":"Status","code":401,"reason":"Unauthorized","message":"bad header ` +
				r.Header.Get("Authorization") + `"}`))
		}
	}
	for name, tc := range map[string]struct {
		handler http.Handler
		token   func() (string, error)
		op      func(*Client) error
	}{
		"echoed in a Status": {handler: echo(401)},
		"echoed in a body": {handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			_, _ = w.Write([]byte(strings.Repeat("x", maxMessage-10) + r.Header.Get("Authorization")))
		})},
		"conflict": {handler: leadertest.New(testToken), op: func(c *Client) error {
			l, err := c.Create(ctx, &Lease{Metadata: ObjectMeta{Namespace: "cas", Name: "l"}})
			if err != nil {
				return err
			}
			l.Metadata.ResourceVersion = "stale"
			_, err = c.Update(ctx, l)
			return err
		}},
		"unavailable": {handler: func() http.Handler {
			api := leadertest.New(testToken)
			api.SetOutage(leadertest.Unavailable)
			return api
		}()},
		"token source fails": {handler: leadertest.New(testToken),
			token: func() (string, error) { return "", errors.New("open /var/run/token: permission denied") }},
		"not json": {handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("{" + r.Header.Get("Authorization")))
		})},
		"connection refused": {},
	} {
		t.Run(name, func(t *testing.T) {
			url := "http://127.0.0.1:1"
			if tc.handler != nil {
				srv := httptest.NewServer(tc.handler)
				defer srv.Close()
				url = srv.URL
			}
			token := tc.token
			if token == nil {
				token = func() (string, error) { return testToken, nil }
			}
			c := NewClient(url, nil, token)
			op := tc.op
			if op == nil {
				op = func(c *Client) error { _, err := c.Get(ctx, "cas", "l"); return err }
			}
			err := op(c)
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error contains the token: %v", err)
			}
		})
	}
}
