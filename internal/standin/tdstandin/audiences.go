package tdstandin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
)

// ID is a numeric id; it decodes from a JSON string or number.
type ID string

// UnmarshalJSON accepts "123", 123 and null.
func (id *ID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*id = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*id = ID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("id must be a string or number")
	}
	*id = ID(n.String())
	return nil
}

type masterConfig struct {
	Name         string `json:"name"`
	ConnectionID ID     `json:"connectionId"`
	Catalog      string `json:"catalog"`
	Schema       string `json:"schema"`
	Table        string `json:"table"`
	KeyColumn    string `json:"keyColumn"`
}

type attributeConfig struct {
	Attribute
	ConnectionID ID `json:"connectionId"`
}

type behaviorConfig struct {
	Behavior
	ConnectionID ID `json:"connectionId"`
}

// parentConfig is the CAS configuration upload body, also accepted by PUT.
type parentConfig struct {
	Name         *string           `json:"name"`
	Description  *string           `json:"description"`
	Timezone     *string           `json:"timezone"`
	Kind         string            `json:"kind"`
	IsComposable *bool             `json:"isComposable"`
	Master       *masterConfig     `json:"master"`
	Attributes   []attributeConfig `json:"attributes"`
	Behaviors    []behaviorConfig  `json:"behaviors"`
}

var ionTypes = []string{"string", "number", "boolean", "date", "timestamp", "string_array", "number_array"}

type restErr struct {
	status int
	body   any
}

func (s *Server) connectionKnown(id string) bool {
	for _, v := range s.opts.Connections {
		if v == id {
			return true
		}
	}
	return false
}

// applyMaster validates cfg's master, attributes and behaviors and stores them
// in p with fresh ids. The caller holds s.mu.
func (s *Server) applyMaster(p *Parent, cfg *parentConfig) *restErr {
	m := cfg.Master
	bad := func(code, msg string) *restErr {
		return &restErr{http.StatusBadRequest, map[string]string{"code": code, "message": msg}}
	}
	if m.ConnectionID == "" {
		return bad("validation_error", "master.connectionId is required")
	}
	if !s.connectionKnown(string(m.ConnectionID)) {
		return bad("CONNECTION_NOT_FOUND", fmt.Sprintf("connection %s not found", m.ConnectionID))
	}
	if m.Catalog == "" {
		return bad("validation_error", "catalog is required")
	}
	if m.Schema == "" || m.Table == "" || m.KeyColumn == "" {
		return bad("validation_error", "master.schema, master.table and master.keyColumn are required")
	}
	if len(cfg.Attributes) == 0 {
		return bad("validation_error", "Every audience needs at least one attribute")
	}
	var attrs []Attribute
	seen := map[string]bool{}
	for i, a := range cfg.Attributes {
		if a.Name == "" || a.Column == "" || a.Table == "" || a.Schema == "" || a.TableKey == "" || a.MasterKey == "" {
			return bad("validation_error", fmt.Sprintf("attributes[%d]: name, schema, table, tableKey, masterKey and column are required", i))
		}
		if a.Catalog == "" {
			return bad("validation_error", fmt.Sprintf("attributes[%d]: catalog is required", i))
		}
		if a.ConnectionID != "" && !s.connectionKnown(string(a.ConnectionID)) {
			return bad("CONNECTION_NOT_FOUND", fmt.Sprintf("connection %s not found", a.ConnectionID))
		}
		if a.Type != "" && !slices.Contains(ionTypes, a.Type) {
			return bad("validation_error", fmt.Sprintf("attributes[%d]: type %q is not a valid type", i, a.Type))
		}
		if seen[a.Name] {
			return bad("validation_error", fmt.Sprintf("attributes[%d]: name %q has already been taken", i, a.Name))
		}
		seen[a.Name] = true
		at := a.Attribute
		at.ConnectionID = string(a.ConnectionID)
		if at.ConnectionID == "" {
			at.ConnectionID = string(m.ConnectionID)
		}
		at.ID = s.st.id()
		attrs = append(attrs, at)
	}
	var behs []Behavior
	seen = map[string]bool{}
	for i, b := range cfg.Behaviors {
		if b.Name == "" || b.Table == "" || b.Schema == "" || b.TableKey == "" || b.MasterKey == "" || b.ColumnMapping == nil {
			return bad("validation_error", fmt.Sprintf("behaviors[%d]: name, schema, table, tableKey, masterKey and columnMapping are required", i))
		}
		if b.Catalog == "" {
			return bad("validation_error", fmt.Sprintf("behaviors[%d]: catalog is required", i))
		}
		if b.ConnectionID != "" && !s.connectionKnown(string(b.ConnectionID)) {
			return bad("CONNECTION_NOT_FOUND", fmt.Sprintf("connection %s not found", b.ConnectionID))
		}
		if seen[b.Name] {
			return bad("validation_error", fmt.Sprintf("behaviors[%d]: name %q has already been taken", i, b.Name))
		}
		seen[b.Name] = true
		for j, c := range b.ColumnMapping {
			if c.Name == "" || c.CDWColumn == "" {
				return bad("validation_error", fmt.Sprintf("behaviors[%d].columnMapping[%d]: name and cdwColumn are required", i, j))
			}
			if c.Type != "" && !slices.Contains(ionTypes, c.Type) {
				return bad("validation_error", fmt.Sprintf("behaviors[%d].columnMapping[%d]: type %q is not a valid type", i, j, c.Type))
			}
		}
		bh := b.Behavior
		bh.ConnectionID = string(b.ConnectionID)
		if bh.ConnectionID == "" {
			bh.ConnectionID = string(m.ConnectionID)
		}
		bh.ColumnMapping = slices.Clone(b.ColumnMapping)
		bh.ID = s.st.id()
		behs = append(behs, bh)
	}
	p.ConnectionID = string(m.ConnectionID)
	p.MasterName = m.Name
	if p.MasterName == "" {
		p.MasterName = m.Table
	}
	p.Catalog, p.Schema, p.Table, p.KeyColumn = m.Catalog, m.Schema, m.Table, m.KeyColumn
	p.Attributes, p.Behaviors = attrs, behs
	return nil
}

func (s *Server) parentByName(name string) *Parent {
	for _, p := range s.st.Parents {
		if p.Name == name {
			return p
		}
	}
	return nil
}

func (s *Server) userJSON(name string) map[string]string {
	return map[string]string{"id": s.st.userID(name), "name": name}
}

// parentJSON renders the flat ComposableAudience shape of GET /audiences/{id}.
func (s *Server) parentJSON(p *Parent, full bool) map[string]any {
	out := map[string]any{
		"id": p.ID, "name": p.Name, "description": p.Description, "timezone": p.Timezone,
		"kind": "composable", "isComposable": true, "connectionId": p.ConnectionID,
		"masterName": p.MasterName, "masterCatalog": p.Catalog, "masterSchema": p.Schema,
		"masterTable": p.Table, "masterKeyColumn": p.KeyColumn, "rootFolderId": p.RootFolderID,
		"population": nil, "createdAt": fmtTime(p.CreatedAt), "updatedAt": fmtTime(p.UpdatedAt),
		"createdBy": s.userJSON(p.CreatedBy), "updatedBy": s.userJSON(p.UpdatedBy),
	}
	if full {
		attrs := make([]map[string]any, 0, len(p.Attributes))
		for _, a := range p.Attributes {
			attrs = append(attrs, map[string]any{"id": a.ID, "audienceId": p.ID, "name": a.Name,
				"connectionId": a.ConnectionID, "catalog": a.Catalog, "schema": a.Schema, "table": a.Table,
				"tableKey": a.TableKey, "masterKey": a.MasterKey, "column": a.Column, "type": a.Type,
				"groupingName": nullIfEmpty(a.GroupingName)})
		}
		behs := make([]map[string]any, 0, len(p.Behaviors))
		for _, b := range p.Behaviors {
			behs = append(behs, map[string]any{"id": b.ID, "name": b.Name, "connectionId": b.ConnectionID,
				"catalog": b.Catalog, "schema": b.Schema, "table": b.Table, "tableKey": b.TableKey,
				"masterKey": b.MasterKey, "timeColumn": b.TimeColumn, "columnMapping": b.ColumnMapping})
		}
		out["attributes"], out["behaviors"] = attrs, behs
	}
	if s.opts.DocumentedOnly {
		delete(out, "masterName")
		delete(out, "rootFolderId")
		for _, key := range []string{"attributes", "behaviors"} {
			items, _ := out[key].([]map[string]any)
			for _, it := range items {
				delete(it, "audienceId")
				delete(it, "catalog")
				delete(it, "groupingName")
			}
		}
	}
	return out
}

// getParentSegment answers the JSON:API parentSegment resource: its
// documented attributes and the parentFolder and parentSegmentFolder (root
// folder) relationships.
func (s *Server) getParentSegment(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.st.Parents[r.PathValue("id")]
	if !ok {
		notFound(w, r, "ParentSegment", r.PathValue("id"))
		return
	}
	writeJSON(w, http.StatusOK, jsonAPIType, map[string]any{"data": map[string]any{
		"id": p.ID, "type": "parentSegment",
		"attributes": map[string]any{"name": p.Name, "description": nullIfEmpty(p.Description), "timezone": p.Timezone,
			"population": nil, "scheduleType": "none", "createdAt": fmtTime(p.CreatedAt), "updatedAt": fmtTime(p.UpdatedAt)},
		"relationships": map[string]any{"parentFolder": rel("", "folder-segment"),
			"parentSegmentFolder": rel(p.RootFolderID, "folder-segment")},
	}})
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Server) createParent(w http.ResponseWriter, r *http.Request) {
	var cfg parentConfig
	if err := decodeBody(r, &cfg); err != nil {
		writeRESTError(w, http.StatusBadRequest, "bad_request", "malformed JSON body: "+err.Error())
		return
	}
	switch {
	case cfg.Name == nil || *cfg.Name == "":
		writeErrorsObject(w, http.StatusBadRequest, "name", "can't be blank")
		return
	case cfg.Kind != "composable" || cfg.IsComposable == nil || !*cfg.IsComposable:
		writeRESTError(w, http.StatusBadRequest, "validation_error", "kind must be composable and isComposable must be true")
		return
	case cfg.Timezone == nil || *cfg.Timezone == "":
		writeErrorsObject(w, http.StatusBadRequest, "timezone", "can't be blank")
		return
	case cfg.Master == nil:
		writeRESTError(w, http.StatusBadRequest, "validation_error", "master is required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.parentByName(*cfg.Name) != nil {
		writeErrorsObject(w, http.StatusBadRequest, "name", "has already been taken")
		return
	}
	p := &Parent{Name: *cfg.Name, Timezone: *cfg.Timezone}
	if cfg.Description != nil {
		p.Description = *cfg.Description
	}
	if e := s.applyMaster(p, &cfg); e != nil {
		writeJSON(w, e.status, "application/json", e.body)
		return
	}
	now := s.opts.Now()
	p.ID = s.st.id()
	p.touch(now, s.userOf(r))
	root := &Folder{ID: s.st.id(), AudienceID: p.ID, Name: p.Name}
	root.touch(now, s.userOf(r))
	p.RootFolderID = root.ID
	s.st.Parents[p.ID] = p
	s.putFolder(root)
	if err := s.commit(); err != nil {
		writeServerError(w, http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, "application/json", s.parentJSON(p, true))
}

func (s *Server) listParents(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.st.Parents))
	for id := range s.st.Parents {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, cmpNumeric)
	out := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		out = append(out, s.parentJSON(s.st.Parents[id], false))
	}
	writeJSON(w, http.StatusOK, "application/json", out)
}

func (s *Server) getParent(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.st.Parents[r.PathValue("id")]
	if !ok {
		notFound(w, r, "Audience", r.PathValue("id"))
		return
	}
	writeJSON(w, http.StatusOK, "application/json", s.parentJSON(p, true))
}

func (s *Server) updateParent(w http.ResponseWriter, r *http.Request) {
	var raw map[string]json.RawMessage
	var cfg parentConfig
	body, err := readAll(r)
	if err == nil {
		err = json.Unmarshal(body, &raw)
	}
	if err == nil {
		err = json.Unmarshal(body, &cfg)
	}
	if err != nil {
		writeRESTError(w, http.StatusBadRequest, "bad_request", "malformed JSON body: "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.st.Parents[r.PathValue("id")]
	if !ok {
		notFound(w, r, "Audience", r.PathValue("id"))
		return
	}
	next := *p
	if cfg.Name != nil {
		if *cfg.Name == "" {
			writeErrorsObject(w, http.StatusBadRequest, "name", "can't be blank")
			return
		}
		if o := s.parentByName(*cfg.Name); o != nil && o.ID != p.ID {
			writeJSON(w, http.StatusBadRequest, "application/json", map[string][]string{"base": {"Name is not unique"}})
			return
		}
		next.Name = *cfg.Name
	}
	if cfg.Description != nil {
		next.Description = *cfg.Description
	}
	if cfg.Timezone != nil && *cfg.Timezone != "" {
		next.Timezone = *cfg.Timezone
	}
	if _, ok := raw["master"]; ok && string(raw["master"]) != "null" {
		// Full replacement: every attribute and behavior is recreated with
		// a new id, and omitted collections are cleared.
		if e := s.applyMaster(&next, &cfg); e != nil {
			writeJSON(w, e.status, "application/json", e.body)
			return
		}
	}
	next.touch(s.opts.Now(), s.userOf(r))
	*p = next
	if err := s.commit(); err != nil {
		writeServerError(w, http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, "application/json", s.parentJSON(p, true))
}

func (s *Server) deleteParent(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := r.PathValue("id")
	if _, ok := s.st.Parents[id]; !ok {
		notFound(w, r, "Audience", id)
		return
	}
	delete(s.st.Parents, id)
	for fid, f := range s.st.Folders {
		if f.AudienceID == id {
			s.deleteFolderRecord(fid)
		}
	}
	for sid, sg := range s.st.Segments {
		if sg.AudienceID == id {
			s.deleteSegmentRecord(sid)
		}
	}
	if err := s.commit(); err != nil {
		writeServerError(w, http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) lookupConnection(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	id, ok := s.opts.Connections[name]
	if !ok {
		writeJSON(w, http.StatusNotFound, "application/json", map[string]string{"error": "Resource not found",
			"text": fmt.Sprintf("Connection '%s' does not exist", name), "severity": "error"})
		return
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		writeJSON(w, http.StatusOK, "application/json", map[string]string{"id": id})
		return
	}
	writeJSON(w, http.StatusOK, "application/json", map[string]int64{"id": n})
}

func readAll(r *http.Request) ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(http.MaxBytesReader(nil, r.Body, 4<<20))
	return buf.Bytes(), err
}

func cmpNumeric(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
