package treasure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/standin/tdstandin"
	"github.com/cas-reconciler/reconciler/pkg/plan"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// activatedSegment creates a parent segment with one segment and returns
// the segment's id.
func (e *env) activatedSegment(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	p := e.mustParent(t, "Retail")
	s := segment.Segment{Parent: "Retail", Name: "VIP", Kind: segment.Batch, Rule: valueRule("email", "a@example.com")}
	got, err := e.c.CreateSegment(ctx, p.Meta.ID, p.RootFolderID, &s)
	if err != nil {
		t.Fatal(err)
	}
	return got.Meta.ID
}

func s3Activation(t *testing.T) *segment.Activation {
	t.Helper()
	file := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(file, []byte("file-secret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := &segment.Activation{Parent: "Retail", Segment: "VIP", Name: "S3", Connection: connName, ConnectionID: connID,
		Columns: []string{"email", "ltv"}, Schedule: segment.Schedule{Repeat: "week", Weekdays: []int{1, 5}, StartAt: "2026-01-01T06:00:00", Timezone: "UTC"},
		ConnectorConfig: map[string]segment.ConfigValue{"bucket": {Value: `"exports"`}, "compress": {Value: "true"},
			"aws_secret_access_key": {Env: "TEST_S3_SECRET"}, "private_key": {File: file}},
		Notify: segment.Notify{On: []string{"onFailure"}, Recipients: []string{"77"}}}
	a.Meta.Fingerprint = plan.Fingerprint(a)
	return a
}

// TestActivationRoundTrip writes an activation through the syndication
// endpoints with secrets from the environment and a file, and reads it
// back: the secrets reach Treasure but are never read back, and the
// fingerprint of what is read is the one recorded.
func TestActivationRoundTrip(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.LookupEnv = func(k string) (string, bool) {
			if k == "TEST_S3_SECRET" {
				return "env-secret-value", true
			}
			return "", false
		}
	})
	ctx := context.Background()
	segID := e.activatedSegment(t)
	a := s3Activation(t)
	got, err := e.c.CreateActivation(ctx, segID, a)
	if err != nil {
		t.Fatal(err)
	}
	stored := e.srv.Syndications()
	if len(stored) != 1 || stored[0].SegmentID != segID || stored[0].ConnectionID != connID ||
		!strings.Contains(string(stored[0].ConnectorConfig), `"aws_secret_access_key":"env-secret-value"`) ||
		!strings.Contains(string(stored[0].ConnectorConfig), `"private_key":"file-secret-value"`) ||
		!strings.Contains(string(stored[0].Columns), `{"column":"email","source":{"column":"email"}}`) {
		t.Fatalf("stored %+v", stored)
	}
	list, err := e.c.ListActivations(ctx, segID)
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %v %+v", err, list)
	}
	l := list[0]
	if l.Meta.ID != got.Meta.ID || !l.Meta.Owned || l.Meta.OwnerSource != testOwner || l.Name != "S3" || l.Schedule.Repeat != "week" ||
		len(l.Schedule.Weekdays) != 2 || l.ConnectorConfig["bucket"].Value != `"exports"` || l.Connection != "" && l.Connection != connName {
		t.Errorf("listed %+v", l)
	}
	for _, k := range []string{"aws_secret_access_key", "private_key"} {
		if v := l.ConnectorConfig[k]; !v.Hidden || v.Value != "" {
			t.Errorf("secret %s read back as %+v", k, v)
		}
	}
	if fp := plan.Fingerprint(&l); fp != l.Meta.Fingerprint || fp != a.Meta.Fingerprint {
		t.Errorf("fingerprint of what was read %s, recorded %s, written %s", fp, l.Meta.Fingerprint, a.Meta.Fingerprint)
	}

	// Update in place, then delete; a second delete is not found.
	a.Schedule = segment.Schedule{Repeat: "none"}
	if _, err := e.c.UpdateActivation(ctx, segID, got.Meta.ID, a); err != nil {
		t.Fatal(err)
	}
	if s := e.srv.Syndications(); len(s) != 1 || s[0].ID != got.Meta.ID || s[0].RepeatUnit != "none" {
		t.Errorf("after update %+v", s)
	}
	if err := e.c.DeleteActivation(ctx, segID, got.Meta.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.c.DeleteActivation(ctx, segID, got.Meta.ID); ReasonOf(err) != ReasonNotFound {
		t.Errorf("second delete: %v, want not_found", err)
	}
}

// TestActivationSecretMissing: an unset variable or a missing file fails
// before any request, naming the setting and the reference only.
func TestActivationSecretMissing(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.LookupEnv = func(string) (string, bool) { return "", false } })
	segID := e.activatedSegment(t)
	e.srv.ResetLog()
	_, err := e.c.CreateActivation(context.Background(), segID, s3Activation(t))
	var se *SecretError
	if !errors.As(err, &se) || se.Key != "aws_secret_access_key" || !strings.Contains(err.Error(), "TEST_S3_SECRET") {
		t.Fatalf("err = %v, want a SecretError naming the variable", err)
	}
	if strings.Contains(err.Error(), "file-secret-value") {
		t.Errorf("a secret value in the error: %v", err)
	}
	if n := count(e.srv.Requests(), "POST", "/entities/segments/"); n != 0 {
		t.Errorf("%d POSTs sent", n)
	}
}

// TestActivationErrorShapes: the stand-in's refusals reach the client as
// typed reasons.
func TestActivationErrorShapes(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.LookupEnv = func(string) (string, bool) { return "x", true } })
	ctx := context.Background()
	segID := e.activatedSegment(t)
	a := s3Activation(t)
	if _, err := e.c.CreateActivation(ctx, "999999", a); ReasonOf(err) != ReasonNotFound {
		t.Errorf("activation of a missing segment: %v, want not_found", err)
	}
	bad := *a
	bad.ConnectionID = "1"
	if _, err := e.c.CreateActivation(ctx, segID, &bad); ReasonOf(err) != ReasonValidation {
		t.Errorf("unknown connection: %v, want validation", err)
	}
	// A taken name owned by another source is a conflict, not adopted.
	other := e.client(t, func(o *Options) { o.Owner = "other" })
	if _, err := other.CreateActivation(ctx, segID, a); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.CreateActivation(ctx, segID, a); ReasonOf(err) != ReasonConflict {
		t.Errorf("taken name: %v, want conflict", err)
	}
	if _, err := e.c.UpdateActivation(ctx, segID, "424242", a); ReasonOf(err) != ReasonNotFound {
		t.Errorf("update of a missing activation: %v, want not_found", err)
	}
}

// TestActivationDocumentedOnly reads activations from a stand-in that
// answers only the published syndication parameters.
func TestActivationDocumentedOnly(t *testing.T) {
	srv, err := tdstandin.New(tdstandin.Options{MasterKeys: []string{testKey}, Connections: map[string]string{connName: connID},
		DocumentedOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c, err := New(Options{APIKey: testKey, Owner: testOwner, CDPURL: srv.URL(), CASURL: srv.URL(), ClassicURL: srv.URL(),
		RateLimit: -1, Timeout: 5 * time.Second, LookupEnv: func(string) (string, bool) { return "x", true }})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{srv: srv, c: c}
	segID := e.activatedSegment(t)
	a := s3Activation(t)
	if _, err := c.CreateActivation(context.Background(), segID, a); err != nil {
		t.Fatal(err)
	}
	list, err := c.ListActivations(context.Background(), segID)
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %v %+v", err, list)
	}
	if fp := plan.Fingerprint(&list[0]); fp != a.Meta.Fingerprint || list[0].SegmentID != segID {
		t.Errorf("documented-only read %+v, fingerprint %s want %s", list[0], fp, a.Meta.Fingerprint)
	}
}

// TestActivationSecretNotEchoed: a Treasure that echoes the request in its
// error does not put a secret read for the write into the error.
func TestActivationSecretNotEchoed(t *testing.T) {
	url := newRawServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", JSONAPIMediaType)
		w.WriteHeader(http.StatusBadRequest)
		detail, _ := json.Marshal(string(b))
		fmt.Fprintf(w, `{"errors":[{"code":"validation-error","status":"400","detail":%s}]}`, detail)
	}))
	c, err := New(Options{APIKey: testKey, Owner: testOwner, CDPURL: url, CASURL: url, ClassicURL: url, RateLimit: -1,
		Timeout: 5 * time.Second, LookupEnv: func(string) (string, bool) { return "env-secret-value", true }})
	if err != nil {
		t.Fatal(err)
	}
	a := s3Activation(t)
	for _, write := range []func() error{
		func() error { _, err := c.CreateActivation(context.Background(), "10", a); return err },
		func() error { _, err := c.UpdateActivation(context.Background(), "10", "20", a); return err },
	} {
		err := write()
		if ReasonOf(err) != ReasonValidation || !strings.Contains(err.Error(), "bucket") {
			t.Fatalf("err = %v, want the echoed validation error", err)
		}
		if strings.Contains(err.Error(), "env-secret-value") || strings.Contains(err.Error(), "file-secret-value") {
			t.Errorf("a secret in the error: %v", err)
		}
	}
}
