package treasure

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

func TestParseEveryErrorShape(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		reason  Reason
		message string
		code    string
		details []string
		refs    []string
	}{
		{"rest", 404, `{"code":"record_not_found","message":"Couldn't find Audience with 'id'=9"}`,
			ReasonNotFound, "Couldn't find Audience with 'id'=9", "record_not_found", nil, nil},
		{"5xx", 500, `{"status":500,"error":"Internal Server Error","details":"temporary failure"}`,
			ReasonServer, "Internal Server Error", "", []string{"temporary failure"}, nil},
		{"classic", 404, `{"error":"Resource not found","text":"Connection 'x' does not exist","severity":"error"}`,
			ReasonNotFound, "Resource not found", "", []string{"Connection 'x' does not exist"}, nil},
		{"jsonapi validation", 400, `{"errors":[{"code":"validation-error","status":"400","detail":"Name can't be blank","source":{"pointer":"/attributes/name"},"meta":{"validationCode":"CANNOT_BE_BLANK"}}]}`,
			ReasonValidation, "Name can't be blank", "CANNOT_BE_BLANK", []string{"at /attributes/name"}, nil},
		{"jsonapi uniqueness", 400, `{"errors":[{"code":"validation-error","status":"400","detail":"Name has already been taken","meta":{"validationCode":"VIOLATES_UNIQUENESS_CONSTRAINT"}}]}`,
			ReasonConflict, "Name has already been taken", "VIOLATES_UNIQUENESS_CONSTRAINT", nil, nil},
		{"jsonapi conflict", 409, `{"errors":[{"code":"conflict-error","status":"409","detail":"Segment is referenced by other segments","meta":{"referencedBySegments":[{"id":"12"},{"id":34}],"referencedByPredictiveSegments":[]}}]}`,
			ReasonConflict, "Segment is referenced by other segments", "conflict-error", []string{"referenced by segments 12, 34"}, []string{"12", "34"}},
		{"jsonapi permission", 403, `{"errors":[{"code":"permission-error","status":"403","detail":"no edit permission","meta":{"permissionCode":"SEGMENT_FOLDER_EDIT_REQUIRED"}}]}`,
			ReasonForbidden, "no edit permission", "SEGMENT_FOLDER_EDIT_REQUIRED", nil, nil},
		{"jsonapi unprocessable", 422, `{"errors":[{"code":"unprocessable-entity-error","status":"422","detail":"Cannot move","meta":{"unprocessableEntityCode":"CANNOT_MOVE"}}]}`,
			ReasonValidation, "Cannot move", "CANNOT_MOVE", nil, nil},
		{"errors object taken", 400, `{"errors":{"name":["has already been taken"]}}`,
			ReasonConflict, "name has already been taken", "", nil, nil},
		{"errors object 409", 409, `{"errors":{"id":["Segment is referenced by other segments: 123, 345"],"deletion":["SegmentFolder has segments: 123, 456"]},"referencedBySegments":[{"id":"123"},{"id":"345"}]}`,
			ReasonConflict, "deletion SegmentFolder has segments: 123, 456", "",
			[]string{"id Segment is referenced by other segments: 123, 345", "referenced by segments 123, 345"}, []string{"123", "345"}},
		{"base", 400, `{"base":["Name is not unique"]}`, ReasonConflict, "Name is not unique", "", nil, nil},
		{"generic", 403, `{"errors":"Forbidden request"}`, ReasonForbidden, "Forbidden request", "", nil, nil},
		{"connection not found", 400, `{"code":"CONNECTION_NOT_FOUND","message":"connection 9 not found"}`,
			ReasonValidation, "connection 9 not found", "CONNECTION_NOT_FOUND", nil, nil},
		{"html", 502, "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>",
			ReasonServer, "502 Bad Gateway 502 Bad Gateway", "", nil, nil},
		{"text", 429, "Too Many Requests\n", ReasonRateLimited, "Too Many Requests", "", nil, nil},
		{"empty", 401, "", ReasonAuth, "", "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &APIError{Status: tt.status}
			e.parseBody([]byte(tt.body))
			e.classify()
			if e.Reason != tt.reason || e.Message != tt.message || e.Code != tt.code {
				t.Errorf("got reason %q message %q code %q, want %q %q %q", e.Reason, e.Message, e.Code, tt.reason, tt.message, tt.code)
			}
			if !slices.Equal(e.Details, tt.details) {
				t.Errorf("details = %q, want %q", e.Details, tt.details)
			}
			if !slices.Equal(e.ReferencedBy, tt.refs) {
				t.Errorf("referenced by = %q, want %q", e.ReferencedBy, tt.refs)
			}
		})
	}
}

func TestRetryAfterForms(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"7": 7 * time.Second, "0": 0, "-3": 0, "": 0, "soon": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       0,
	} {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}

// TestStandInErrors drives every error the stand-in can answer through the
// client and checks the classification callers branch on.
func TestStandInErrors(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	p := e.mustParent(t, "Retail")
	mk, err := e.c.CreateFolder(ctx, p.Meta.ID, p.RootFolderID, &segment.Folder{Parent: "Retail", Path: "Marketing"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.c.CreateSegment(ctx, p.Meta.ID, mk.Meta.ID, &segment.Segment{Name: "A", Parent: "Retail", Rule: valueRule("country", "JP")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.CreateSegment(ctx, p.Meta.ID, p.RootFolderID, &segment.Segment{Name: "B", Parent: "Retail", Rule: refRule(a.Meta.ID, "A", false)}); err != nil {
		t.Fatal(err)
	}
	other := e.client(t, func(o *Options) { o.Owner = "someone-else" })
	writeOnly := e.client(t, func(o *Options) { o.APIKey = "4711/writeonly0123456789" })
	badKey := e.client(t, func(o *Options) { o.APIKey = "4711/wrong0123456789" })

	tests := []struct {
		name     string
		run      func() error
		status   int
		reason   Reason
		contains string
	}{
		{"folder name taken by another owner", func() error {
			_, err := other.CreateFolder(ctx, p.Meta.ID, p.RootFolderID, &segment.Folder{Parent: "Retail", Path: "Marketing"})
			return err
		}, 400, ReasonConflict, "Name has already been taken"},
		{"segment name taken by another owner", func() error {
			_, err := other.CreateSegment(ctx, p.Meta.ID, mk.Meta.ID, &segment.Segment{Name: "A", Rule: valueRule("country", "US")})
			return err
		}, 400, ReasonConflict, "name has already been taken"},
		{"parent name taken by another owner", func() error {
			_, err := other.CreateParent(ctx, &segment.Parent{Name: "Retail", Timezone: "UTC", ConnectionID: connID,
				Customers: retailParent("x").Customers, Attributes: retailParent("x").Attributes})
			return err
		}, 400, ReasonConflict, "name has already been taken"},
		{"delete referenced segment", func() error { return e.c.DeleteSegment(ctx, a.Meta.ID) }, 409, ReasonConflict, "referenced by"},
		{"delete non-empty folder", func() error { return e.c.DeleteFolder(ctx, mk.Meta.ID) }, 409, ReasonConflict, "has segments"},
		{"unknown segment", func() error { _, err := e.c.GetSegment(ctx, "999999"); return err }, 404, ReasonNotFound, "Couldn't find Segment"},
		{"unknown folder", func() error {
			_, err := e.c.UpdateFolder(ctx, "999999", &segment.Folder{Path: "X"})
			return err
		}, 404, ReasonNotFound, "Couldn't find SegmentFolder"},
		{"unknown parent", func() error { _, err := e.c.GetParent(ctx, "999999"); return err }, 404, ReasonNotFound, "Couldn't find Audience"},
		{"unknown connection name", func() error { _, err := e.c.ResolveConnection(ctx, "nope"); return err }, 404, ReasonNotFound, "does not exist"},
		{"unknown connection id", func() error {
			q := retailParent("Other")
			q.ConnectionID = "999"
			_, err := e.c.CreateParent(ctx, q)
			return err
		}, 400, ReasonValidation, "connection 999 not found"},
		{"missing catalog", func() error {
			q := retailParent("Other")
			q.ConnectionID = connID
			q.Customers.Catalog = ""
			_, err := e.c.CreateParent(ctx, q)
			return err
		}, 400, ReasonValidation, "catalog is required"},
		{"malformed rule", func() error {
			_, err := e.c.CreateSegment(ctx, p.Meta.ID, mk.Meta.ID, &segment.Segment{Name: "C", Rule: segment.Rule{Type: "Xor",
				Conditions: []segment.ConditionSet{{Type: "And"}}}})
			return err
		}, 400, ReasonValidation, "not And, Or or Composite"},
		{"reference without id", func() error {
			_, err := e.c.CreateSegment(ctx, p.Meta.ID, mk.Meta.ID, &segment.Segment{Name: "D", Rule: refRule("", "A", false)})
			return err
		}, 0, ReasonValidation, "carries no id"},
		{"write-only key", func() error { _, err := writeOnly.Observe(ctx, []string{"Retail"}); return err }, 403, ReasonForbidden, "write-only"},
		{"write-only key on entities", func() error { _, err := writeOnly.GetSegment(ctx, a.Meta.ID); return err }, 403, ReasonForbidden, "write-only"},
		{"bad key", func() error { _, err := badKey.Observe(ctx, []string{"Retail"}); return err }, 401, ReasonAuth, "Master API Key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v (%T) is not an *APIError", err, err)
			}
			if ae.Status != tt.status || ae.Reason != tt.reason || !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("got %d %s %q, want %d %s containing %q", ae.Status, ae.Reason, err, tt.status, tt.reason, tt.contains)
			}
			// The reconciler stalls on refused keys through these two
			// methods, never through the text.
			if ae.Unauthorized() != (tt.status == 401) || ae.Forbidden() != (tt.status == 403) {
				t.Errorf("Unauthorized() = %v, Forbidden() = %v for status %d", ae.Unauthorized(), ae.Forbidden(), tt.status)
			}
			assertNoSecret(t, err, testKey, "4711/writeonly0123456789", "4711/wrong0123456789")
		})
	}
	// The 409 of the referenced segment names the referencing segment, in
	// both documented shapes.
	err = e.c.DeleteSegment(ctx, a.Meta.ID)
	var ae *APIError
	if !errors.As(err, &ae) || len(ae.ReferencedBy) != 1 {
		t.Fatalf("referenced by = %v", err)
	}
	if n := len(e.srv.Segments()); n != 2 {
		t.Errorf("%d segments after refused deletes, want 2", n)
	}
}

// assertNoSecret fails when any secret appears in the error's text.
func assertNoSecret(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	var all []string
	for _, s := range secrets {
		all = append(all, s)
		if _, after, ok := strings.Cut(s, "/"); ok {
			all = append(all, after)
		}
	}
	texts := []string{err.Error()}
	var ae *APIError
	if errors.As(err, &ae) {
		texts = append(texts, ae.Message, ae.RequestID, strings.Join(ae.Details, " "))
	}
	for _, txt := range texts {
		for _, s := range all {
			if strings.Contains(txt, s) {
				t.Errorf("error text %q contains a secret", txt)
			}
		}
	}
}

// TestNoSecretLeaks makes a server echo the request headers in every kind
// of answer (JSON bodies, HTML, request id header) and checks that the key
// never reaches an error, a log line or the observer.
func TestNoSecretLeaks(t *testing.T) {
	echo := func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		w.Header().Set("X-Request-Id", auth)
		switch r.URL.Query().Get("shape") {
		case "html":
			w.WriteHeader(502)
			w.Write([]byte("<html><body>bad gateway for " + auth + "</body></html>"))
		case "jsonapi":
			w.WriteHeader(400)
			w.Write([]byte(`{"errors":[{"code":"validation-error","detail":"key ` + auth + ` is odd","meta":{"validationCode":"X"}}]}`))
		case "object":
			w.WriteHeader(400)
			w.Write([]byte(`{"errors":{"name":["` + auth + `"]}}`))
		case "rest":
			w.WriteHeader(401)
			w.Write([]byte(`{"code":"unauthorized","message":"bad key ` + auth + `"}`))
		case "5xx":
			w.WriteHeader(503)
			w.Write([]byte(`{"status":503,"error":"down","details":"` + auth + `"}`))
		case "decode":
			w.WriteHeader(200)
			w.Write([]byte(`{"id": [` + auth + `]}`))
		case "drop":
			conn, _, _ := http.NewResponseController(w).Hijack()
			conn.Close()
		}
	}
	var logs strings.Builder
	var observed []string
	srv := newRawServer(t, http.HandlerFunc(echo))
	c, err := New(Options{APIKey: testKey, Owner: testOwner, CDPURL: srv, CASURL: srv, ClassicURL: srv,
		MaxRetries: 1, Sleep: func(context.Context, time.Duration) error { return nil }, RateLimit: -1,
		Logger: newTextLogger(&logs),
		Observer: func(endpoint, method string, code int, d time.Duration) {
			observed = append(observed, endpoint+method)
		}})
	if err != nil {
		t.Fatal(err)
	}
	for _, shape := range []string{"html", "jsonapi", "object", "rest", "5xx", "decode", "drop"} {
		err := c.do(context.Background(), call{endpoint: "audiences", method: "GET", url: srv + "/x?shape=" + shape, safe: true, out: &struct {
			ID string `json:"id"`
		}{}})
		if err == nil {
			t.Fatalf("%s: no error", shape)
		}
		assertNoSecret(t, err, testKey)
	}
	if strings.Contains(logs.String(), testKey) || strings.Contains(logs.String(), "0123456789abcdef0123456789abcdef01234567") {
		t.Errorf("logs contain the key:\n%s", logs.String())
	}
	if len(observed) == 0 || strings.Contains(strings.Join(observed, ""), testKey) {
		t.Errorf("observer calls %q", observed)
	}
}
