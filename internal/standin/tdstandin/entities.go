package tdstandin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// resourceIn is a JSON:API resource object as a client sends it (bare, not
// wrapped in "data", as the specification shows).
type resourceIn struct {
	ID            ID                         `json:"id"`
	Type          string                     `json:"type"`
	Attributes    map[string]json.RawMessage `json:"attributes"`
	Relationships map[string]struct {
		Data *struct {
			ID   ID     `json:"id"`
			Type string `json:"type"`
		} `json:"data"`
	} `json:"relationships"`
	Data json.RawMessage `json:"data"`
}

func (ri *resourceIn) relID(name string) (string, bool) {
	rel, ok := ri.Relationships[name]
	if !ok || rel.Data == nil {
		return "", false
	}
	return string(rel.Data.ID), true
}

// str decodes a string attribute; present reports whether it was sent, ok
// whether it was a string or null.
func (ri *resourceIn) str(name string) (v string, present, ok bool) {
	raw, present := ri.Attributes[name]
	if !present || string(raw) == "null" {
		return "", present, true
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", true, false
	}
	return v, true, true
}

func decodeResource(w http.ResponseWriter, r *http.Request) (*resourceIn, bool) {
	var ri resourceIn
	if err := decodeBody(r, &ri); err != nil {
		badParameter(w, "request body is not a valid JSON:API resource: "+err.Error(), "")
		return nil, false
	}
	if len(ri.Data) > 0 {
		badParameter(w, "send the resource object itself, not wrapped in data", "/data")
		return nil, false
	}
	if ri.Attributes == nil {
		badParameter(w, "attributes is required", "/attributes")
		return nil, false
	}
	return &ri, true
}

func rel(id, typ string) map[string]any {
	if id == "" {
		return map[string]any{"data": nil}
	}
	return map[string]any{"data": map[string]string{"id": id, "type": typ}}
}

func (s *Server) userRel(name string) map[string]any { return rel(s.st.userID(name), "user") }

// included renders the user resources referenced by createdBy/updatedBy.
func (s *Server) included(stamps ...Stamp) []map[string]any {
	seen := map[string]bool{}
	var out []map[string]any
	for _, st := range stamps {
		for _, name := range [2]string{st.CreatedBy, st.UpdatedBy} {
			id := s.st.userID(name)
			if seen[id] {
				continue
			}
			seen[id] = true
			out = append(out, map[string]any{"id": id, "type": "user",
				"attributes": map[string]any{"tdUserId": id, "name": name}})
		}
	}
	return out
}

func (s *Server) folderJSON(f *Folder) map[string]any {
	return map[string]any{
		"id": f.ID, "type": "folder-segment",
		"attributes": map[string]any{"audienceId": f.AudienceID, "name": f.Name, "description": nullIfEmpty(f.Description),
			"createdAt": fmtTime(f.CreatedAt), "updatedAt": fmtTime(f.UpdatedAt),
			"permissions": map[string]bool{"view": true, "edit": true}},
		"relationships": map[string]any{"parentFolder": rel(f.ParentFolderID, "folder-segment"),
			"createdBy": s.userRel(f.CreatedBy), "updatedBy": s.userRel(f.UpdatedBy)},
	}
}

// segmentDoc is the JSON:API resource of a segment. It is a struct, not a
// map, because listings render one per segment: a listing of 100,000
// segments rendered through maps took seconds.
type segmentDoc struct {
	ID            string       `json:"id"`
	Type          string       `json:"type"`
	Attributes    segmentAttrs `json:"attributes"`
	Relationships segmentRels  `json:"relationships"`
}

type segmentAttrs struct {
	ComposableAudienceID string `json:"composableAudienceId"`
	// AudienceID and Kind are nil under Options.DocumentedOnly.
	AudienceID      *string         `json:"audienceId,omitempty"`
	Name            string          `json:"name"`
	Description     *string         `json:"description"`
	Kind            *string         `json:"kind,omitempty"`
	IsEmptyRule     bool            `json:"isEmptyRule"`
	Population      *int64          `json:"population"`
	NumSyndications int             `json:"numSyndications"`
	CreatedAt       string          `json:"createdAt"`
	UpdatedAt       string          `json:"updatedAt"`
	Rule            json.RawMessage `json:"rule,omitempty"`
}

type segmentRels struct {
	ParentFolder relOne `json:"parentFolder"`
	CreatedBy    relOne `json:"createdBy"`
	UpdatedBy    relOne `json:"updatedBy"`
}

// relOne is a to-one relationship; Data nil renders null.
type relOne struct {
	Data *relRef `json:"data"`
}

type relRef struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

func relTo(id, typ string) relOne {
	if id == "" {
		return relOne{}
	}
	return relOne{Data: &relRef{ID: id, Type: typ}}
}

var composableKind = "composable"

// segmentJSON renders a segment. withRule false leaves the rule out; empty
// renders it as {} (what listings send).
func (s *Server) segmentJSON(sg *Segment, withRule, empty bool) segmentDoc {
	a := segmentAttrs{ComposableAudienceID: sg.AudienceID, Name: sg.Name, IsEmptyRule: sg.ruleIsEmpty(),
		CreatedAt: fmtTime(sg.CreatedAt), UpdatedAt: fmtTime(sg.UpdatedAt)}
	if sg.Description != "" {
		d := sg.Description
		a.Description = &d
	}
	if !s.opts.DocumentedOnly {
		// ComposableSegmentJsonApiResource lists neither.
		aud := sg.AudienceID
		a.AudienceID, a.Kind = &aud, &composableKind
	}
	if withRule {
		if empty {
			a.Rule = json.RawMessage("{}")
		} else {
			a.Rule = sg.Rule
		}
	}
	return segmentDoc{ID: sg.ID, Type: sg.Type, Attributes: a, Relationships: segmentRels{
		ParentFolder: relTo(sg.FolderID, "folder"), CreatedBy: relTo(s.st.userID(sg.CreatedBy), "user"),
		UpdatedBy: relTo(s.st.userID(sg.UpdatedBy), "user")}}
}

// ruleIsEmpty reports isEmptyRule of the segment's rule, worked out once
// per rule (putSegment forgets it).
func (sg *Segment) ruleIsEmpty() bool {
	if sg.empty == 0 {
		sg.empty = 2
		if isEmptyRule(sg.Rule) {
			sg.empty = 1
		}
	}
	return sg.empty == 1
}

func isEmptyRule(raw json.RawMessage) bool {
	var r struct {
		Conditions []struct {
			Conditions []json.RawMessage `json:"conditions"`
		} `json:"conditions"`
	}
	_ = json.Unmarshal(raw, &r)
	for _, c := range r.Conditions {
		if len(c.Conditions) > 0 {
			return false
		}
	}
	return true
}

func (s *Server) folderChildren(id string) (folders []*Folder, segments []*Segment) {
	for _, f := range s.st.Folders {
		if f.ParentFolderID == id {
			folders = append(folders, f)
		}
	}
	for _, sg := range s.st.Segments {
		if sg.FolderID == id {
			segments = append(segments, sg)
		}
	}
	slices.SortFunc(folders, func(a, b *Folder) int { return cmpNumeric(a.ID, b.ID) })
	slices.SortFunc(segments, func(a, b *Segment) int { return cmpNumeric(a.ID, b.ID) })
	return folders, segments
}

// childIndex maps folder ids of one parent segment to their child folders
// and segments, each sorted by id.
func (s *Server) childIndex(audience string) (map[string][]*Folder, map[string][]*Segment) {
	fs := map[string][]*Folder{}
	ss := map[string][]*Segment{}
	for _, f := range s.st.Folders {
		if f.AudienceID == audience && f.ParentFolderID != "" {
			fs[f.ParentFolderID] = append(fs[f.ParentFolderID], f)
		}
	}
	for _, sg := range s.st.Segments {
		if sg.AudienceID == audience {
			ss[sg.FolderID] = append(ss[sg.FolderID], sg)
		}
	}
	for _, l := range fs {
		slices.SortFunc(l, func(a, b *Folder) int { return cmpNumeric(a.ID, b.ID) })
	}
	for _, l := range ss {
		slices.SortFunc(l, func(a, b *Segment) int { return cmpNumeric(a.ID, b.ID) })
	}
	return fs, ss
}

func (s *Server) createFolder(w http.ResponseWriter, r *http.Request) {
	ri, ok := decodeResource(w, r)
	if !ok {
		return
	}
	if ri.Type != "" && ri.Type != "folder-segment" {
		badParameter(w, fmt.Sprintf("type %q is not folder-segment", ri.Type), "/type")
		return
	}
	name, _, okName := ri.str("name")
	desc, _, okDesc := ri.str("description")
	if !okName || !okDesc {
		badParameter(w, "name and description must be strings", "/attributes")
		return
	}
	if strings.TrimSpace(name) == "" {
		validation(w, "CANNOT_BE_BLANK", "Name can't be blank", "/attributes/name")
		return
	}
	parentID, ok := ri.relID("parentFolder")
	s.mu.Lock()
	defer s.mu.Unlock()
	parent := s.st.Folders[parentID]
	if !ok || parent == nil {
		validation(w, "INVALID_FORMAT_OR_ASSOCIATION", "Parent folder is invalid", "/relationships/parentFolder")
		return
	}
	if s.nameTaken(parent.ID, name, "") {
		validation(w, "VIOLATES_UNIQUENESS_CONSTRAINT", "Name has already been taken", "/attributes/name")
		return
	}
	f := &Folder{ID: s.st.id(), AudienceID: parent.AudienceID, Name: name, Description: desc, ParentFolderID: parent.ID}
	f.touch(s.opts.Now(), s.userOf(r))
	s.putFolder(f)
	if err := s.commit(); err != nil {
		writeServerError(w, http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, jsonAPIType, map[string]any{"data": s.folderJSON(f), "included": s.included(f.Stamp)})
}

func (s *Server) getFolder(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.st.Folders[r.PathValue("id")]
	if !ok {
		notFound(w, r, "SegmentFolder", r.PathValue("id"))
		return
	}
	writeJSON(w, http.StatusOK, jsonAPIType, map[string]any{"data": s.folderJSON(f), "included": s.included(f.Stamp)})
}

// isAncestor reports whether folder a is b or contains b.
func (s *Server) isAncestor(a, b string) bool {
	for b != "" {
		if a == b {
			return true
		}
		f := s.st.Folders[b]
		if f == nil {
			return false
		}
		b = f.ParentFolderID
	}
	return false
}

func (s *Server) patchFolder(w http.ResponseWriter, r *http.Request) {
	ri, ok := decodeResource(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.st.Folders[r.PathValue("id")]
	if !ok {
		notFound(w, r, "SegmentFolder", r.PathValue("id"))
		return
	}
	next := *f
	name, present, okName := ri.str("name")
	desc, presentDesc, okDesc := ri.str("description")
	if !okName || !okDesc {
		badParameter(w, "name and description must be strings", "/attributes")
		return
	}
	if present {
		if strings.TrimSpace(name) == "" {
			validation(w, "CANNOT_BE_BLANK", "Name can't be blank", "/attributes/name")
			return
		}
		next.Name = name
	}
	if presentDesc {
		next.Description = desc
	}
	if pid, ok := ri.relID("parentFolder"); ok && pid != f.ParentFolderID {
		p := s.st.Folders[pid]
		switch {
		case f.ParentFolderID == "":
			validation(w, "IS_IMMUTABLE", "The root folder cannot be moved", "/relationships/parentFolder")
			return
		case p == nil:
			validation(w, "INVALID_FORMAT_OR_ASSOCIATION", "Parent folder is invalid", "/relationships/parentFolder")
			return
		case p.AudienceID != f.AudienceID:
			writeJSONAPIErrors(w, http.StatusUnprocessableEntity, apiError{Code: "unprocessable-entity-error", Status: "422",
				Detail: "Cannot move a folder to another parent segment", Meta: map[string]any{"unprocessableEntityCode": "CANNOT_MOVE"}})
			return
		case s.isAncestor(f.ID, pid):
			writeJSONAPIErrors(w, http.StatusUnprocessableEntity, apiError{Code: "unprocessable-entity-error", Status: "422",
				Detail: "Cannot move a folder into itself", Meta: map[string]any{"unprocessableEntityCode": "CANNOT_MOVE"}})
			return
		}
		next.ParentFolderID = pid
	}
	if next.ParentFolderID != "" && (next.Name != f.Name || next.ParentFolderID != f.ParentFolderID) && s.nameTaken(next.ParentFolderID, next.Name, f.ID) {
		validation(w, "VIOLATES_UNIQUENESS_CONSTRAINT", "Name has already been taken", "/attributes/name")
		return
	}
	next.touch(s.opts.Now(), s.userOf(r))
	*f = next
	s.putFolder(f)
	if err := s.commit(); err != nil {
		writeServerError(w, http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, jsonAPIType, map[string]any{"data": s.folderJSON(f), "included": s.included(f.Stamp)})
}

func (s *Server) deleteFolder(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.st.Folders[r.PathValue("id")]
	if !ok {
		notFound(w, r, "SegmentFolder", r.PathValue("id"))
		return
	}
	if f.ParentFolderID == "" {
		validation(w, "IS_IMMUTABLE", "The root folder of a parent segment cannot be deleted", "")
		return
	}
	fs, ss := s.folderChildren(f.ID)
	if len(fs) > 0 || len(ss) > 0 {
		var ids []string
		for _, c := range fs {
			ids = append(ids, c.ID)
		}
		for _, c := range ss {
			ids = append(ids, c.ID)
		}
		if wantsJSONAPI(r) {
			writeJSONAPIErrors(w, http.StatusConflict, apiError{Code: "conflict-error", Status: "409",
				Detail: "Deletion SegmentFolder has segments"})
		} else {
			writeErrorsObject(w, http.StatusConflict, "deletion", "SegmentFolder has segments: "+strings.Join(ids, ", "))
		}
		return
	}
	s.deleteFolderRecord(f.ID)
	if err := s.commit(); err != nil {
		writeServerError(w, http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, jsonAPIType, map[string]any{"data": s.folderJSON(f)})
}

func (s *Server) byFolder(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	depth, err := strconv.Atoi(q.Get("depth"))
	if q.Get("depth") == "" || err != nil || depth < 0 {
		badParameter(w, "depth is required and must be a non-negative integer", "")
		return
	}
	withRule := q.Get("with_rule") != "false"
	s.mu.Lock()
	defer s.mu.Unlock()
	root, ok := s.st.Folders[r.PathValue("id")]
	if !ok {
		notFound(w, r, "SegmentFolder", r.PathValue("id"))
		return
	}
	data := []any{s.folderJSON(root)}
	stamps := []Stamp{root.Stamp}
	level := []*Folder{root}
	childFolders, childSegments := s.childIndex(root.AudienceID)
	for d := 1; d <= depth && len(level) > 0; d++ {
		var next []*Folder
		for _, f := range level {
			fs, ss := childFolders[f.ID], childSegments[f.ID]
			for _, c := range fs {
				data = append(data, s.folderJSON(c))
				stamps = append(stamps, c.Stamp)
			}
			for _, sg := range ss {
				// Listings never carry the real rule: {} with
				// with_rule=true, nothing with with_rule=false.
				data = append(data, s.segmentJSON(sg, withRule, true))
				stamps = append(stamps, sg.Stamp)
			}
			next = append(next, fs...)
		}
		level = next
	}
	writeJSON(w, http.StatusOK, jsonAPIType, map[string]any{"data": data, "included": s.included(stamps...)})
}
