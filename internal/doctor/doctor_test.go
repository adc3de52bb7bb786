package doctor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/cas-reconciler/reconciler/internal/doctor"
	"github.com/cas-reconciler/reconciler/internal/standin/tdstandin"
	"github.com/cas-reconciler/reconciler/pkg/segment"
	"github.com/cas-reconciler/reconciler/pkg/treasure"
)

const key = "1/doctor0123456789"

func standin(t *testing.T, opts tdstandin.Options) *tdstandin.Server {
	t.Helper()
	opts.MasterKeys = append(opts.MasterKeys, key)
	opts.Connections = map[string]string{"databricks-retail": "341079"}
	srv, err := tdstandin.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func client(t *testing.T, srv *tdstandin.Server, apiKey, owner string) *treasure.Client {
	t.Helper()
	c, err := treasure.New(treasure.Options{APIKey: apiKey, Owner: owner, CDPURL: srv.URL(), CASURL: srv.URL(),
		ClassicURL: srv.URL(), RateLimit: -1, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestKeyReasons(t *testing.T) {
	srv := standin(t, tdstandin.Options{WriteOnlyKeys: []string{"2/write-only"}})
	for _, tc := range []struct {
		key  string
		want doctor.Reason
	}{
		{"9/unknown", doctor.ReasonBadKey},
		{"2/write-only", doctor.ReasonNotMaster},
	} {
		var rep doctor.Report
		doctor.Run(context.Background(), client(t, srv, tc.key, doctor.Owner), doctor.Options{}, &rep)
		c, _ := rep.Check("treasure.key")
		if c.Status != doctor.Fail || c.Reason != tc.want {
			t.Errorf("key %s: %+v, want fail %s", tc.key, c, tc.want)
		}
		if strings.Contains(c.Detail, tc.key) {
			t.Errorf("the key is in the detail: %s", c.Detail)
		}
		if !rep.Failed() {
			t.Error("Failed() = false")
		}
	}
}

func TestMissingParentAndConnection(t *testing.T) {
	srv := standin(t, tdstandin.Options{})
	var rep doctor.Report
	doctor.Run(context.Background(), client(t, srv, key, doctor.Owner),
		doctor.Options{Parents: []string{"Nope"}, Connections: []string{"databricks-retail", "nope"}}, &rep)
	want := map[string]doctor.Status{"treasure.key": doctor.OK, "connection:databricks-retail": doctor.OK,
		"connection:nope": doctor.Fail, "parent:Nope": doctor.Fail, "warehouse": doctor.Skip}
	for name, st := range want {
		if c, ok := rep.Check(name); !ok || c.Status != st {
			t.Errorf("%s: %+v, want %s", name, c, st)
		}
	}
	if c, _ := rep.Check("connection:nope"); c.Reason != doctor.ReasonNotFound {
		t.Errorf("unknown connection: reason %q", c.Reason)
	}
}

func TestReportOutput(t *testing.T) {
	rep := doctor.Report{Checks: []doctor.Check{
		{Name: "treasure.key", Status: doctor.OK, Detail: "valid"},
		{Name: "parent:P:fields", Status: doctor.Warn, Reason: doctor.ReasonUnknownFields, Detail: "not returned: description"},
		{Name: "warehouse", Status: doctor.Skip, Reason: doctor.ReasonNotConfigured},
	}}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	want := "OK    treasure.key: valid\nWARN  parent:P:fields (unknown_fields): not returned: description\nSKIP  warehouse (not_configured)\n" +
		"1 ok, 1 warnings, 0 failed, 1 skipped\n"
	if text.String() != want {
		t.Errorf("text:\n%s\nwant:\n%s", text.String(), want)
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var got struct {
		OK     bool `json:"ok"`
		Checks []map[string]string
	}
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if !got.OK || len(got.Checks) != 3 || got.Checks[1]["reason"] != "unknown_fields" || got.Checks[0]["status"] != "ok" {
		t.Errorf("json: %s", js.String())
	}
}

// TestSandboxCleansUpAfterAFailure: a refused update still leaves nothing,
// and leftovers of an earlier run are removed first.
func TestSandboxCleansUpAfterAFailure(t *testing.T) {
	srv := standin(t, tdstandin.Options{})
	ctx := context.Background()
	c := client(t, srv, key, doctor.Owner)
	src := client(t, srv, key, "retail")
	p := createParent(t, src)

	// Leftovers: a folder of an earlier run, and a folder of a source.
	root := p.RootFolderID
	if _, err := srv.AddFolder(root, "old-sandbox", "x\n\n[managed-by: cas-reconciler source=doctor]", "someone"); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AddFolder(root, "Marketing", "[managed-by: cas-reconciler source=retail]", "someone"); err != nil {
		t.Fatal(err)
	}
	srv.Inject(tdstandin.Fault{Method: http.MethodPatch, Path: "/entities/segments/*", Status: http.StatusServiceUnavailable})
	var rep doctor.Report
	doctor.Sandbox(ctx, c, p, doctor.SandboxOptions{Folder: "sb"}, &rep)
	if l, _ := rep.Check("sandbox:sb:leftovers"); l.Status != doctor.Warn || l.Reason != doctor.ReasonLeftovers {
		t.Errorf("leftovers: %+v", l)
	}
	if u, _ := rep.Check("sandbox:sb:update"); u.Status != doctor.Fail {
		t.Errorf("update: %+v", u)
	}
	if cl, _ := rep.Check("sandbox:sb:cleanup"); cl.Status != doctor.OK {
		t.Errorf("cleanup: %+v", cl)
	}
	var names []string
	for _, f := range srv.Folders() {
		if f.ParentFolderID == root {
			names = append(names, f.Name)
		}
	}
	if len(srv.Segments()) != 0 || strings.Join(names, ",") != "Marketing" {
		t.Errorf("left: folders %v, %d segments", names, len(srv.Segments()))
	}
}

func createParent(t *testing.T, c *treasure.Client) *segment.Parent {
	t.Helper()
	p, err := c.CreateParent(context.Background(), &segment.Parent{Name: "Retail", Timezone: "UTC", Connection: "databricks-retail",
		Customers:  segment.KeyedTable{Table: segment.Table{Catalog: "c", Schema: "s", Table: "customers"}, Key: "id"},
		Attributes: []segment.Attribute{{Name: "email", Column: "email", Type: segment.String}}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
