package wiring_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/config"
	"github.com/cas-reconciler/reconciler/internal/standin/tdstandin"
	"github.com/cas-reconciler/reconciler/internal/wiring"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// wireGate stands in front of the Treasure stand-in as an account whose
// undocumented choices differ from the client's defaults would: the upload
// lives at another path, the JSON:API endpoints want another media type and
// call folders by another type name. It translates what it accepts to what
// the stand-in speaks and refuses the defaults, so a client that ignores
// the configuration fails.
type wireGate struct {
	t       *testing.T
	next    http.Handler
	mu      sync.Mutex
	uploads int
	refused []string
}

const (
	gateUpload     = "/v2/cas/upload"
	gateMediaType  = "application/vnd.example.cdp+json"
	gateFolderType = "audience-folder"
	gateSegRelType = "audience-folder-ref"
)

func (g *wireGate) refuse(w http.ResponseWriter, r *http.Request, why string) {
	g.mu.Lock()
	g.refused = append(g.refused, r.Method+" "+r.URL.Path+": "+why)
	g.mu.Unlock()
	http.Error(w, why, http.StatusNotFound)
}

func (g *wireGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	switch {
	case r.URL.Path == "/composable_audiences":
		g.refuse(w, r, "the upload is not served here")
		return
	case r.URL.Path == gateUpload:
		g.mu.Lock()
		g.uploads++
		g.mu.Unlock()
		r.URL.Path = "/composable_audiences"
	case strings.HasPrefix(r.URL.Path, "/entities/"):
		if r.Header.Get("Accept") != gateMediaType || (len(body) > 0 && r.Header.Get("Content-Type") != gateMediaType) {
			g.refuse(w, r, "unsupported media type")
			return
		}
		if bytes.Contains(body, []byte(`"folder-segment"`)) || bytes.Contains(body, []byte(`"type":"folder"`)) {
			g.refuse(w, r, "default type name sent")
			return
		}
		r.Header.Set("Accept", "application/vnd.treasuredata.v1+json")
		if len(body) > 0 {
			r.Header.Set("Content-Type", "application/vnd.treasuredata.v1+json")
		}
		body = bytes.ReplaceAll(body, []byte(`"`+gateFolderType+`"`), []byte(`"folder-segment"`))
		body = bytes.ReplaceAll(body, []byte(`"`+gateSegRelType+`"`), []byte(`"folder"`))
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	rec := httptest.NewRecorder()
	g.next.ServeHTTP(rec, r)
	out := rec.Body.Bytes()
	if strings.HasPrefix(r.URL.Path, "/entities/") {
		out = bytes.ReplaceAll(out, []byte(`"folder-segment"`), []byte(`"`+gateFolderType+`"`))
	}
	for k, v := range rec.Header() {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(out)
}

// TestTreasureWireConfiguration checks that treasure.wire reaches the
// client: a parent, a folder and a segment are created and observed
// through an account that accepts only the configured upload path, media
// type and type names.
func TestTreasureWireConfiguration(t *testing.T) {
	const key = "1/wire0123456789abcdef"
	std, err := tdstandin.New(tdstandin.Options{MasterKeys: []string{key}, Connections: map[string]string{"dbx": "341079"},
		SegmentTypes: []string{"audience-segment"}})
	if err != nil {
		t.Fatal(err)
	}
	gate := &wireGate{t: t, next: std}
	srv := httptest.NewServer(gate)
	t.Cleanup(srv.Close)

	cfg, err := config.Parse("c.cue", []byte(`
sources: [{name: "retail", url: "https://git.invalid/retail.git"}]
treasure: {
	apiKey: env: "K"
	rateLimit: 1000
	endpoints: {cdp: "`+srv.URL+`", cas: "`+srv.URL+`", classic: "`+srv.URL+`"}
	wire: {casUploadPath: "`+gateUpload+`", mediaType: "`+gateMediaType+`",
		segmentType: "audience-segment", folderType: "`+gateFolderType+`", segmentFolderType: "`+gateSegRelType+`"}
}
databricks: {host: "dbc.invalid", httpPath: "/p", token: env: "K"}
`), config.Options{LookupEnv: func(string) (string, bool) { return key, true }})
	if err != nil {
		t.Fatal(err)
	}
	c, err := wiring.Build(cfg, wiring.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	s, err := c.Source("retail")
	if err != nil {
		t.Fatal(err)
	}
	td := s.Treasure
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	cdp := segment.Table{Catalog: "retail_prod", Schema: "cdp", Table: "customers"}
	connID, err := td.ResolveConnection(ctx, "dbx")
	if err != nil {
		t.Fatal(err)
	}
	p, err := td.CreateParent(ctx, &segment.Parent{Name: "Retail", Timezone: "UTC", Connection: "dbx", ConnectionID: connID,
		Customers:  segment.KeyedTable{Table: cdp, Key: "customer_id"},
		Attributes: []segment.Attribute{{Name: "email", Column: "email", Type: segment.String}}})
	if err != nil {
		t.Fatalf("create parent: %v (refused: %v)", err, gate.refused)
	}
	f, err := td.CreateFolder(ctx, p.Meta.ID, p.RootFolderID, &segment.Folder{Parent: "Retail", Path: "Email"})
	if err != nil {
		t.Fatalf("create folder: %v (refused: %v)", err, gate.refused)
	}
	v := segment.StringOf("a@example.com")
	rule := segment.Rule{Type: segment.And, Conditions: []segment.ConditionSet{{Type: segment.And, Conditions: []segment.Condition{{
		Type: segment.ValueCondition, LeftValue: &segment.LeftValue{Name: "email"}, Operator: &segment.Operator{Type: segment.Equal, RightValue: &v}}}}}}
	if _, err := td.CreateSegment(ctx, p.Meta.ID, f.Meta.ID, &segment.Segment{Parent: "Retail", Folder: "Email", Name: "One", Rule: rule}); err != nil {
		t.Fatalf("create segment: %v (refused: %v)", err, gate.refused)
	}

	st, err := td.Observe(ctx, []string{"Retail"})
	if err != nil {
		t.Fatalf("observe: %v (refused: %v)", err, gate.refused)
	}
	if len(st.Folders) != 1 || st.Folders[0].Path != "Email" || len(st.Segments) != 1 || st.Segments[0].Name != "One" || st.Segments[0].Folder != "Email" {
		t.Errorf("observed folders %+v, segments %+v", st.Folders, st.Segments)
	}
	if gate.uploads != 1 || len(gate.refused) != 0 {
		t.Errorf("uploads at %s: %d, refused: %v", gateUpload, gate.uploads, gate.refused)
	}
}
