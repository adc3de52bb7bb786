package tdstandin

import (
	"slices"
	"sort"
	"strings"
	"testing"
)

const synBody = `{"type":"syndication","attributes":{"name":"S3","description":"d","allColumns":false,
"columns":[{"column":"email","source":{"column":"email"}}],"connectionId":77,"connectorConfig":{"bucket":"b"},
"repeatUnit":"week","repeatFrequency":1,"repeatSubFrequency":[1,5],"startAt":"2026-01-01T00:00:00",
"timezone":"UTC","notifyOn":["onFailure"],"emailRecipients":["5"]}}`

func mkSegment(t *testing.T, s *Server) string {
	t.Helper()
	r := do(t, s, "POST", "/composable_audiences", parentCfg, "Content-Type", "application/json")
	id := r.body["id"].(string)
	ps := do(t, s, "GET", "/entities/parent_segments/"+id, "").body["data"].(map[string]any)
	root := ps["relationships"].(map[string]any)["parentSegmentFolder"].(map[string]any)["data"].(map[string]any)["id"].(string)
	r = do(t, s, "POST", "/entities/segments", segBody(root, id, "A", valueRule))
	if r.status != 200 {
		t.Fatalf("create segment: %d %s", r.status, r.raw)
	}
	return r.body["data"].(map[string]any)["id"].(string)
}

// TestSyndications: CRUD of a segment's activations and their error
// shapes.
func TestSyndications(t *testing.T) {
	s := start(t, nil)
	sid := mkSegment(t, s)
	base := "/entities/segments/" + sid + "/syndications"
	r := do(t, s, "POST", base, synBody)
	if r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	data := r.body["data"].(map[string]any)
	id := data["id"].(string)
	if data["type"] != "syndication" || data["attributes"].(map[string]any)["segmentId"] != sid {
		t.Errorf("created %v", data)
	}
	if r := do(t, s, "POST", base, synBody); r.status != 400 || !strings.Contains(r.raw, "VIOLATES_UNIQUENESS_CONSTRAINT") {
		t.Errorf("duplicate name: %d %s", r.status, r.raw)
	}
	for name, body := range map[string]string{
		"unknown connection": strings.Replace(synBody, `"connectionId":77`, `"connectionId":1`, 1),
		"bad repeat unit":    strings.Replace(synBody, `"repeatUnit":"week"`, `"repeatUnit":"fortnight"`, 1),
		"no columns":         strings.Replace(synBody, `[{"column":"email","source":{"column":"email"}}]`, `[]`, 1),
		"bad weekday":        strings.Replace(synBody, `[1,5]`, `[8]`, 1),
		"bad notify":         strings.Replace(synBody, `["onFailure"]`, `["always"]`, 1),
	} {
		body = strings.Replace(body, `"name":"S3"`, `"name":"other"`, 1)
		if r := do(t, s, "POST", base, body); r.status != 400 || !strings.Contains(r.raw, "validation-error") {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
	}
	if r := do(t, s, "POST", base, strings.Replace(synBody, `"syndication"`, `"segment"`, 1)); r.status != 400 || !strings.Contains(r.raw, "bad-parameter-error") {
		t.Errorf("wrong type: %d %s", r.status, r.raw)
	}
	if r := do(t, s, "POST", "/entities/segments/999999/syndications", synBody); r.status != 404 || !strings.Contains(r.raw, "record-not-found-error") {
		t.Errorf("missing segment: %d %s", r.status, r.raw)
	}
	if r := do(t, s, "PATCH", base+"/"+id, `{"type":"syndication","attributes":{"repeatUnit":"none"}}`); r.status != 200 ||
		r.body["data"].(map[string]any)["attributes"].(map[string]any)["repeatUnit"] != "none" {
		t.Errorf("patch: %d %s", r.status, r.raw)
	}
	if r := do(t, s, "GET", base, ""); r.status != 200 || len(r.body["data"].([]any)) != 1 {
		t.Errorf("list: %d %s", r.status, r.raw)
	}
	if r := do(t, s, "DELETE", base+"/"+id, ""); r.status != 200 {
		t.Errorf("delete: %d %s", r.status, r.raw)
	}
	if r := do(t, s, "GET", base+"/"+id, ""); r.status != 404 {
		t.Errorf("get after delete: %d %s", r.status, r.raw)
	}
	// A segment's activations go with it.
	do(t, s, "POST", base, synBody)
	if r := do(t, s, "DELETE", "/entities/segments/"+sid, ""); r.status != 200 || len(s.Syndications()) != 0 {
		t.Errorf("segment delete left %d activations (%d)", len(s.Syndications()), r.status)
	}
}

// TestSyndicationsDocumentedOnly: only the published parameters are
// answered.
func TestSyndicationsDocumentedOnly(t *testing.T) {
	s := start(t, func(o *Options) { o.DocumentedOnly = true })
	sid := mkSegment(t, s)
	r := do(t, s, "POST", "/entities/segments/"+sid+"/syndications", synBody)
	if r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	data := r.body["data"].(map[string]any)
	var keys []string
	for k := range data["attributes"].(map[string]any) {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"allColumns", "columns", "connectionId", "connectorConfig", "description", "emailRecipients", "endOn",
		"name", "notifyOn", "repeatFrequency", "repeatSubFrequency", "repeatUnit", "startAt", "timezone"}
	if !slices.Equal(keys, want) || data["relationships"] != nil || r.body["included"] != nil {
		t.Errorf("documented-only answer has %v (relationships %v), want %v", keys, data["relationships"], want)
	}
}
