package tdstandin

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const key = "1/master0123456789"

func start(t testing.TB, mod func(*Options)) *Server {
	t.Helper()
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	o := Options{MasterKeys: []string{key}, WriteOnlyKeys: []string{"1/wo"}, Connections: map[string]string{"databricks-retail": "77"},
		Now: func() time.Time { return now }}
	if mod != nil {
		mod(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func do(t testing.TB, s *Server, method, path, body string, hdr ...string) resp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, s.URL()+path, rd)
	req.Header.Set("Authorization", "TD1 "+key)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := resp{status: res.StatusCode, header: res.Header, raw: string(b)}
	_ = json.Unmarshal(b, &r.body)
	return r
}

const parentCfg = `{"name":"Retail","description":"d","timezone":"UTC","kind":"composable","isComposable":true,
 "master":{"name":"customers","connectionId":"77","catalog":"retail_prod","schema":"cdp","table":"customers","keyColumn":"customer_id"},
 "attributes":[{"name":"email","catalog":"retail_prod","schema":"cdp","table":"customers","tableKey":"customer_id","masterKey":"customer_id","column":"email","type":"string"}],
 "behaviors":[{"name":"orders","catalog":"retail_prod","schema":"cdp","table":"orders","tableKey":"customer_id","masterKey":"customer_id","timeColumn":"order_time","columnMapping":[{"name":"amount","type":"number","cdwColumn":"amount"}]}]}`

func mkParent(t testing.TB, s *Server) (id, root string) {
	t.Helper()
	r := do(t, s, "POST", "/composable_audiences", parentCfg, "Content-Type", "application/json")
	if r.status != 200 {
		t.Fatalf("create parent: %d %s", r.status, r.raw)
	}
	return r.body["id"].(string), r.body["rootFolderId"].(string)
}

func segBody(folder, audience, name, rule string) string {
	return `{"type":"composable-segment","attributes":{"composableAudienceId":"` + audience + `","name":"` + name +
		`","description":null,"rule":` + rule + `},"relationships":{"parentFolder":{"data":{"id":"` + folder + `","type":"folder"}}}}`
}

const valueRule = `{"type":"And","conditions":[{"type":"And","conditions":[{"type":"Value","leftValue":{"name":"email"},"operator":{"type":"Equal","not":false,"rightValue":"x"},"arrayMatching":null,"exclude":false}]}]}`

func TestAuth(t *testing.T) {
	s := start(t, nil)
	r := do(t, s, "GET", "/audiences", "", "Authorization", "TD1 1/nope")
	if r.status != 401 || r.body["code"] != "unauthorized" {
		t.Errorf("bad key: %d %s", r.status, r.raw)
	}
	r = do(t, s, "GET", "/audiences", "", "Authorization", "TD1 1/wo")
	if r.status != 403 {
		t.Errorf("write-only key on a read: %d", r.status)
	}
	r = do(t, s, "POST", "/entities/folders", `{}`, "Authorization", "TD1 1/wo")
	if r.status != 403 || !strings.Contains(r.raw, "permission-error") {
		t.Errorf("write-only key on a write: %d %s", r.status, r.raw)
	}
}

func TestParentFullReplaceAndRootFolder(t *testing.T) {
	s := start(t, nil)
	id, root := mkParent(t, s)
	if root == "" || id == root {
		t.Fatalf("ids %s %s", id, root)
	}
	r := do(t, s, "GET", "/audiences/"+id, "")
	attrs := r.body["attributes"].([]any)
	oldID := attrs[0].(map[string]any)["id"]
	if r.body["masterCatalog"] != "retail_prod" || r.body["connectionId"] != "77" {
		t.Errorf("flat shape: %s", r.raw)
	}
	// PUT without master: scalars only, ids unchanged.
	r = do(t, s, "PUT", "/audiences/"+id, `{"description":"new"}`)
	if r.body["attributes"].([]any)[0].(map[string]any)["id"] != oldID || r.body["description"] != "new" {
		t.Errorf("partial PUT changed attributes: %s", r.raw)
	}
	// PUT with master: full replace, new ids, omitted behaviors cleared.
	cfg := strings.Replace(parentCfg, `"behaviors":[{`, `"x":[{`, 1)
	r = do(t, s, "PUT", "/audiences/"+id, cfg)
	if r.status != 200 {
		t.Fatalf("PUT: %d %s", r.status, r.raw)
	}
	if r.body["attributes"].([]any)[0].(map[string]any)["id"] == oldID {
		t.Error("full replace kept the attribute id")
	}
	if len(r.body["behaviors"].([]any)) != 0 {
		t.Error("full replace kept omitted behaviors")
	}
	// Duplicate name on create; unknown connection; missing catalog.
	if r := do(t, s, "POST", "/composable_audiences", parentCfg); r.status != 400 || !strings.Contains(r.raw, "has already been taken") {
		t.Errorf("duplicate: %d %s", r.status, r.raw)
	}
	bad := strings.Replace(strings.Replace(parentCfg, `"Retail"`, `"Other"`, 1), `"connectionId":"77"`, `"connectionId":"5"`, 1)
	if r := do(t, s, "POST", "/composable_audiences", bad); r.status != 400 || r.body["code"] != "CONNECTION_NOT_FOUND" {
		t.Errorf("unknown connection: %d %s", r.status, r.raw)
	}
	bad = strings.Replace(strings.Replace(parentCfg, `"Retail"`, `"Other"`, 1), `"catalog":"retail_prod","schema":"cdp","table":"customers","keyColumn"`, `"schema":"cdp","table":"customers","keyColumn"`, 1)
	if r := do(t, s, "POST", "/composable_audiences", bad); r.status != 400 || r.body["message"] != "catalog is required" {
		t.Errorf("missing catalog: %d %s", r.status, r.raw)
	}
	if r := do(t, s, "POST", "/composable_audiences", `{"name":`); r.status != 400 {
		t.Errorf("malformed body: %d", r.status)
	}
	if r := do(t, s, "GET", "/v3/connections/lookup?name=databricks-retail", ""); r.raw != "{\"id\":77}\n" {
		t.Errorf("lookup: %s", r.raw)
	}
	if r := do(t, s, "GET", "/audiences/999", ""); r.status != 404 {
		t.Errorf("unknown parent: %d", r.status)
	}
}

func TestListingsCarryNoRules(t *testing.T) {
	s := start(t, nil)
	id, root := mkParent(t, s)
	r := do(t, s, "POST", "/entities/segments", segBody(root, id, "A", valueRule), "Content-Type", "application/vnd.treasuredata.v1+json")
	if r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	sid := r.body["data"].(map[string]any)["id"].(string)
	for q, want := range map[string]any{"depth=1": map[string]any{}, "depth=1&with_rule=false": nil} {
		r := do(t, s, "GET", "/entities/by-folder/"+root+"?"+q, "")
		data := r.body["data"].([]any)
		seg := data[1].(map[string]any)["attributes"].(map[string]any)
		if got, ok := seg["rule"]; (want == nil && ok) || (want != nil && len(got.(map[string]any)) != 0) {
			t.Errorf("%s: listing rule = %v", q, got)
		}
	}
	if r := do(t, s, "GET", "/entities/by-folder/"+root, ""); r.status != 400 || !strings.Contains(r.raw, "bad-parameter-error") {
		t.Errorf("missing depth: %d %s", r.status, r.raw)
	}
	r = do(t, s, "GET", "/entities/segments/"+sid, "")
	if rule := r.body["data"].(map[string]any)["attributes"].(map[string]any)["rule"].(map[string]any); rule["type"] != "And" {
		t.Errorf("detail rule = %v", rule)
	}
}

func TestConflictsInBothShapes(t *testing.T) {
	s := start(t, nil)
	id, root := mkParent(t, s)
	r := do(t, s, "POST", "/entities/folders", `{"type":"folder-segment","attributes":{"name":"M","description":null},"relationships":{"parentFolder":{"data":{"id":"`+root+`","type":"folder-segment"}}}}`)
	fid := r.body["data"].(map[string]any)["id"].(string)
	r = do(t, s, "POST", "/entities/folders", `{"type":"folder-segment","attributes":{"name":"M"},"relationships":{"parentFolder":{"data":{"id":"`+root+`","type":"folder-segment"}}}}`)
	if r.status != 400 || !strings.Contains(r.raw, "VIOLATES_UNIQUENESS_CONSTRAINT") {
		t.Errorf("duplicate folder: %d %s", r.status, r.raw)
	}
	a := do(t, s, "POST", "/entities/segments", segBody(fid, id, "A", valueRule)).body["data"].(map[string]any)["id"].(string)
	ref := `{"type":"And","conditions":[{"type":"And","conditions":[{"type":"Reference","id":"` + a + `","exclude":false}]}]}`
	b := do(t, s, "POST", "/entities/segments", segBody(root, id, "B", ref))
	if b.status != 200 {
		t.Fatalf("create B: %s", b.raw)
	}
	if r := do(t, s, "POST", "/entities/segments", segBody(fid, id, "A", valueRule)); r.status != 400 || r.raw != "{\"errors\":{\"name\":[\"has already been taken\"]}}\n" {
		t.Errorf("duplicate segment: %d %s", r.status, r.raw)
	}
	bid := b.body["data"].(map[string]any)["id"].(string)
	r = do(t, s, "DELETE", "/entities/segments/"+a, "", "Accept", jsonAPIType)
	if r.status != 409 || !strings.Contains(r.raw, `"referencedBySegments":[{"id":"`+bid+`"}]`) || !strings.Contains(r.raw, "conflict-error") {
		t.Errorf("JSON:API 409: %d %s", r.status, r.raw)
	}
	r = do(t, s, "DELETE", "/entities/segments/"+a, "", "Accept", "application/json")
	if r.status != 409 || !strings.Contains(r.raw, `"errors":{"id":["Segment is referenced by other segments: `+bid+`"]}`) {
		t.Errorf("JSON 409: %d %s", r.status, r.raw)
	}
	r = do(t, s, "DELETE", "/entities/folders/"+fid, "", "Accept", "application/json")
	if r.status != 409 || !strings.Contains(r.raw, "SegmentFolder has segments: "+a) {
		t.Errorf("non-empty folder: %d %s", r.status, r.raw)
	}
	if r := do(t, s, "DELETE", "/entities/folders/"+root, ""); r.status != 400 {
		t.Errorf("root folder delete: %d", r.status)
	}
	if r := do(t, s, "POST", "/entities/segments", segBody(root, id, "C", `{"type":"And","conditions":[{"type":"And","conditions":[{"type":"Reference","id":"424242"}]}]}`)); r.status != 400 {
		t.Errorf("dangling reference: %d %s", r.status, r.raw)
	}
	if r := do(t, s, "POST", "/entities/segments", `{"data":`+segBody(root, id, "D", valueRule)+`}`); r.status != 400 {
		t.Errorf("data-wrapped body accepted: %d", r.status)
	}
	if r := do(t, s, "GET", "/entities/segments/999999", ""); r.status != 404 || !strings.Contains(r.raw, "record-not-found-error") {
		t.Errorf("unknown segment: %d %s", r.status, r.raw)
	}
}

func TestFaultsAndLog(t *testing.T) {
	s := start(t, nil)
	s.Inject(Fault{Method: "GET", Path: "/audiences", Status: 429, RetryAfter: "3", Times: 2})
	s.Inject(Fault{Path: "/audiences", Status: 502})
	for i, want := range []int{429, 429, 502, 200} {
		r := do(t, s, "GET", "/audiences", "")
		if r.status != want {
			t.Errorf("request %d: %d, want %d", i, r.status, want)
		}
		if want == 429 && r.header.Get("Retry-After") != "3" {
			t.Errorf("Retry-After = %q", r.header.Get("Retry-After"))
		}
	}
	s.Inject(Fault{Drop: true})
	req, _ := http.NewRequest("GET", s.URL()+"/audiences", nil)
	req.Header.Set("Authorization", "TD1 "+key)
	tr := &http.Transport{DisableKeepAlives: true}
	if _, err := (&http.Client{Transport: tr}).Do(req); err == nil {
		t.Error("dropped request got an answer")
	}
	log := s.Requests()
	if len(log) != 5 || log[0].Status != 429 || log[4].Status != 0 || log[3].Path != "/audiences" {
		t.Errorf("log = %+v", log)
	}
}

func TestPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s := start(t, func(o *Options) { o.StatePath = path })
	id, _ := mkParent(t, s)
	s.Close()
	s2 := start(t, func(o *Options) { o.StatePath = path })
	if r := do(t, s2, "GET", "/audiences/"+id, ""); r.status != 200 || r.body["name"] != "Retail" {
		t.Fatalf("after restart: %d %s", r.status, r.raw)
	}
	// New ids continue after the old ones.
	r := do(t, s2, "POST", "/composable_audiences", strings.Replace(parentCfg, `"Retail"`, `"Two"`, 1))
	if r.body["id"] == id || r.body["rootFolderId"] == id {
		t.Errorf("id reused after restart: %s", r.raw)
	}
}

func TestDriftStampsUpdatedAt(t *testing.T) {
	s := start(t, nil)
	id, root := mkParent(t, s)
	r := do(t, s, "POST", "/entities/segments", segBody(root, id, "A", valueRule))
	sid := r.body["data"].(map[string]any)["id"].(string)
	before := r.body["data"].(map[string]any)["attributes"].(map[string]any)["updatedAt"]
	if err := s.ModifySegment(sid, "alice", func(sg *Segment) { sg.Description = "by hand" }); err != nil {
		t.Fatal(err)
	}
	r = do(t, s, "GET", "/entities/segments/"+sid, "")
	attrs := r.body["data"].(map[string]any)["attributes"].(map[string]any)
	if attrs["updatedAt"] == before || attrs["description"] != "by hand" {
		t.Errorf("drift not visible: %v", attrs)
	}
	if !bytes.Contains([]byte(r.raw), []byte(`"name":"alice"`)) {
		t.Errorf("updatedBy user not included: %s", r.raw)
	}
}

// TestNamesUniquePerFolder checks the uniqueness of names among the
// folders and segments of one folder through creates, renames, moves,
// deletes, hand edits and a restart, and that the name index agrees with
// a scan of the store after each step.
func TestNamesUniquePerFolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s := start(t, func(o *Options) { o.StatePath = path })
	id, root := mkParent(t, s)
	folder := func(parent, name string) resp {
		return do(t, s, "POST", "/entities/folders", `{"type":"folder-segment","attributes":{"name":"`+name+
			`","description":null},"relationships":{"parentFolder":{"data":{"id":"`+parent+`","type":"folder-segment"}}}}`)
	}
	idOf := func(r resp) string {
		t.Helper()
		if r.status != 200 {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		return r.body["data"].(map[string]any)["id"].(string)
	}
	check := func(step string) {
		t.Helper()
		s.mu.Lock()
		defer s.mu.Unlock()
		type key struct{ folder, name string }
		holders := map[key][]string{}
		for _, f := range s.st.Folders {
			holders[key{f.ParentFolderID, f.Name}] = append(holders[key{f.ParentFolderID, f.Name}], f.ID)
		}
		for _, sg := range s.st.Segments {
			holders[key{sg.FolderID, sg.Name}] = append(holders[key{sg.FolderID, sg.Name}], sg.ID)
		}
		for k, ids := range holders {
			if !s.nameTaken(k.folder, k.name, "") {
				t.Errorf("%s: %q in folder %q is held by %v but free", step, k.name, k.folder, ids)
			}
			if len(ids) == 1 && s.nameTaken(k.folder, k.name, ids[0]) {
				t.Errorf("%s: %q in folder %q is held only by %s but taken without it", step, k.name, k.folder, ids[0])
			}
		}
		if n := len(s.names.count); n != len(holders) {
			t.Errorf("%s: the index holds %d names, the store %d", step, n, len(holders))
		}
	}

	m := idOf(folder(root, "M"))
	n := idOf(folder(root, "N"))
	a := idOf(do(t, s, "POST", "/entities/segments", segBody(m, id, "A", valueRule)))
	check("created")
	for name, r := range map[string]resp{
		"folder over folder":   folder(root, "M"),
		"segment over segment": do(t, s, "POST", "/entities/segments", segBody(m, id, "A", valueRule)),
		"folder over segment":  folder(m, "A"),
		"segment over folder":  do(t, s, "POST", "/entities/segments", segBody(root, id, "N", valueRule)),
	} {
		if r.status != 400 {
			t.Errorf("%s: %d %s, want 400", name, r.status, r.raw)
		}
	}
	// The same name in another folder is fine.
	idOf(do(t, s, "POST", "/entities/segments", segBody(n, id, "A", valueRule)))

	// A rename frees the old name and takes the new one.
	if r := do(t, s, "PATCH", "/entities/segments/"+a, `{"type":"composable-segment","attributes":{"name":"B"}}`); r.status != 200 {
		t.Fatalf("rename: %d %s", r.status, r.raw)
	}
	check("renamed")
	b2 := idOf(do(t, s, "POST", "/entities/segments", segBody(m, id, "A", valueRule)))
	if r := do(t, s, "POST", "/entities/segments", segBody(m, id, "B", valueRule)); r.status != 400 {
		t.Errorf("the new name is free: %d %s", r.status, r.raw)
	}
	// Renaming to its own name is no conflict; to a sibling's is.
	if r := do(t, s, "PATCH", "/entities/segments/"+a, `{"type":"composable-segment","attributes":{"name":"B","description":"x"}}`); r.status != 200 {
		t.Errorf("unchanged name refused: %d %s", r.status, r.raw)
	}
	if r := do(t, s, "PATCH", "/entities/segments/"+a, `{"type":"composable-segment","attributes":{"name":"A"}}`); r.status != 400 {
		t.Errorf("rename over a sibling: %d %s", r.status, r.raw)
	}

	// A move frees the name in the old folder and takes it in the new.
	if r := do(t, s, "PATCH", "/entities/segments/"+a, `{"type":"composable-segment","attributes":{},"relationships":{"parentFolder":{"data":{"id":"`+root+`","type":"folder-segment"}}}}`); r.status != 200 {
		t.Fatalf("move: %d %s", r.status, r.raw)
	}
	check("moved")
	idOf(do(t, s, "POST", "/entities/segments", segBody(m, id, "B", valueRule)))
	if r := folder(root, "B"); r.status != 400 {
		t.Errorf("moved name free in the new folder: %d %s", r.status, r.raw)
	}
	// A folder moved next to a namesake is refused.
	sub := idOf(folder(n, "M"))
	if r := do(t, s, "PATCH", "/entities/folders/"+sub, `{"type":"folder-segment","attributes":{},"relationships":{"parentFolder":{"data":{"id":"`+root+`","type":"folder-segment"}}}}`); r.status != 400 {
		t.Errorf("folder moved over a namesake: %d %s", r.status, r.raw)
	}

	// Deletes free the name.
	if r := do(t, s, "DELETE", "/entities/segments/"+b2, ""); r.status != 200 {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	check("deleted")
	idOf(do(t, s, "POST", "/entities/segments", segBody(m, id, "A", valueRule)))

	// Hand edits count too.
	if err := s.ModifySegment(a, "someone", func(sg *Segment) { sg.Name = "C" }); err != nil {
		t.Fatal(err)
	}
	if err := s.ModifyFolder(sub, "someone", func(f *Folder) { f.Name = "P" }); err != nil {
		t.Fatal(err)
	}
	check("hand edits")
	if _, err := s.AddSegment(root, "C", "", []byte(valueRule), "someone"); err == nil {
		t.Error("AddSegment over a hand-renamed segment accepted")
	}
	if _, err := s.AddFolder(n, "M", "", "someone"); err != nil {
		t.Errorf("AddFolder over a hand-renamed folder's old name: %v", err)
	}

	// After a restart the names are still taken.
	s.Close()
	s = start(t, func(o *Options) { o.StatePath = path })
	check("restarted")
	if r := folder(root, "M"); r.status != 400 {
		t.Errorf("after a restart: %d %s", r.status, r.raw)
	}

	// Deleting the parent segment frees everything.
	if r := do(t, s, "DELETE", "/audiences/"+id, ""); r.status != 204 {
		t.Fatalf("delete parent: %d %s", r.status, r.raw)
	}
	check("parent deleted")
	if n := len(s.names.at); n != 0 {
		t.Errorf("%d objects indexed after the parent segment was deleted", n)
	}
}

// TestKeyUsersStampChanges checks that a change is stamped with the owner
// of the key that made it, as Treasure records the user of an API key, and
// that the request log names that user.
func TestKeyUsersStampChanges(t *testing.T) {
	const other = "1/other-key"
	s := start(t, func(o *Options) {
		o.MasterKeys = append(o.MasterKeys, other)
		o.KeyUsers = map[string]string{other: "replica-b"}
	})
	id, root := mkParent(t, s)
	r := do(t, s, "POST", "/entities/segments", segBody(root, id, "By B", valueRule),
		"Content-Type", "application/vnd.treasuredata.v1+json", "Authorization", "TD1 "+other)
	if r.status != 201 && r.status != 200 {
		t.Fatalf("create segment: %d %s", r.status, r.raw)
	}
	for _, p := range s.Parents() {
		if p.CreatedBy != "api-user" {
			t.Errorf("parent created by %q, want the default user", p.CreatedBy)
		}
	}
	segs := s.Segments()
	if len(segs) != 1 || segs[0].CreatedBy != "replica-b" || segs[0].UpdatedBy != "replica-b" {
		t.Errorf("segments: %+v", segs)
	}
	var users []string
	for _, q := range s.Requests() {
		users = append(users, q.User)
	}
	if len(users) != 2 || users[0] != "api-user" || users[1] != "replica-b" {
		t.Errorf("request users %v, want [api-user replica-b]", users)
	}
}
