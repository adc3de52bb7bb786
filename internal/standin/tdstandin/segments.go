package tdstandin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

type wireRule struct {
	Type       string `json:"type"`
	Conditions []struct {
		Type       string `json:"type"`
		Conditions []struct {
			Type string `json:"type"`
			ID   *ID    `json:"id"`
		} `json:"conditions"`
	} `json:"conditions"`
}

var combinators = []string{"And", "Or", "Composite"}

// checkRule validates the rule's two-level structure and returns the ids of
// the segments its Reference conditions name.
func checkRule(raw json.RawMessage) (refs []string, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, fmt.Errorf("rule must be an object")
	}
	var r wireRule
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("rule is malformed: %v", err)
	}
	if r.Type == "" && len(r.Conditions) == 0 {
		return nil, nil
	}
	if !slices.Contains(combinators, r.Type) {
		return nil, fmt.Errorf("rule type %q is not And, Or or Composite", r.Type)
	}
	for i, cs := range r.Conditions {
		if !slices.Contains(combinators, cs.Type) {
			return nil, fmt.Errorf("conditions[%d] type %q is not And, Or or Composite", i, cs.Type)
		}
		for j, c := range cs.Conditions {
			switch c.Type {
			case "":
				return nil, fmt.Errorf("conditions[%d].conditions[%d] has no type", i, j)
			case "Reference":
				if c.ID == nil || *c.ID == "" {
					return nil, fmt.Errorf("conditions[%d].conditions[%d] reference has no id", i, j)
				}
				refs = append(refs, string(*c.ID))
			}
		}
	}
	return refs, nil
}

func (s *Server) referencedBy(id string) []string {
	var out []string
	for _, sg := range s.st.Segments {
		refs, _ := checkRule(sg.Rule)
		if slices.Contains(refs, id) {
			out = append(out, sg.ID)
		}
	}
	slices.SortFunc(out, cmpNumeric)
	return out
}

// validRefs checks that every referenced segment exists in audience and is
// not self.
func (s *Server) validRefs(w http.ResponseWriter, refs []string, audience, self string) bool {
	for _, id := range refs {
		t, ok := s.st.Segments[id]
		if !ok || t.AudienceID != audience || id == self {
			validation(w, "INVALID_FORMAT_OR_ASSOCIATION", fmt.Sprintf("Referenced segment %s is invalid", id), "/attributes/rule")
			return false
		}
	}
	return true
}

func (s *Server) createSegment(w http.ResponseWriter, r *http.Request) {
	ri, ok := decodeResource(w, r)
	if !ok {
		return
	}
	if !slices.Contains(s.opts.SegmentTypes, ri.Type) {
		badParameter(w, fmt.Sprintf("type %q is not one of %s", ri.Type, strings.Join(s.opts.SegmentTypes, ", ")), "/type")
		return
	}
	name, _, okName := ri.str("name")
	desc, _, okDesc := ri.str("description")
	aud, _, okAud := ri.str("composableAudienceId")
	if !okAud {
		var n json.Number
		if json.Unmarshal(ri.Attributes["composableAudienceId"], &n) == nil {
			aud, okAud = n.String(), true
		}
	}
	if !okName || !okDesc || !okAud {
		badParameter(w, "name, description and composableAudienceId must be strings", "/attributes")
		return
	}
	if kind, _, _ := ri.str("kind"); kind != "" && kind != "composable" {
		validation(w, "INVALID_FORMAT_OR_ASSOCIATION", "kind must be composable", "/attributes/kind")
		return
	}
	if strings.TrimSpace(name) == "" {
		validation(w, "CANNOT_BE_BLANK", "Name can't be blank", "/attributes/name")
		return
	}
	rule, ok := ri.Attributes["rule"]
	if !ok {
		validation(w, "CANNOT_BE_BLANK", "Rule can't be blank", "/attributes/rule")
		return
	}
	refs, err := checkRule(rule)
	if err != nil {
		validation(w, "INVALID_FORMAT", err.Error(), "/attributes/rule")
		return
	}
	folderID, ok := ri.relID("parentFolder")
	s.mu.Lock()
	defer s.mu.Unlock()
	folder := s.st.Folders[folderID]
	if !ok || folder == nil {
		validation(w, "INVALID_FORMAT_OR_ASSOCIATION", "Parent folder is invalid", "/relationships/parentFolder")
		return
	}
	if aud == "" || aud != folder.AudienceID {
		validation(w, "INVALID_FORMAT_OR_ASSOCIATION", "composableAudienceId does not match the folder's parent segment", "/attributes/composableAudienceId")
		return
	}
	if !s.validRefs(w, refs, aud, "") {
		return
	}
	if s.nameTaken(folder.ID, name, "") {
		writeErrorsObject(w, http.StatusBadRequest, "name", "has already been taken")
		return
	}
	sg := &Segment{ID: s.st.id(), Type: ri.Type, AudienceID: aud, FolderID: folder.ID, Name: name,
		Description: desc, Rule: compact(rule)}
	sg.touch(s.opts.Now(), s.userOf(r))
	s.putSegment(sg)
	if err := s.commit(); err != nil {
		writeServerError(w, http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, jsonAPIType, map[string]any{"data": s.segmentJSON(sg, true, false), "included": s.included(sg.Stamp)})
}

func compact(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return raw
	}
	return b.Bytes()
}

func (s *Server) getSegment(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sg, ok := s.st.Segments[r.PathValue("id")]
	if !ok {
		notFound(w, r, "Segment", r.PathValue("id"))
		return
	}
	writeJSON(w, http.StatusOK, jsonAPIType, map[string]any{"data": s.segmentJSON(sg, true, false), "included": s.included(sg.Stamp)})
}

func (s *Server) patchSegment(w http.ResponseWriter, r *http.Request) {
	ri, ok := decodeResource(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sg, ok := s.st.Segments[r.PathValue("id")]
	if !ok {
		notFound(w, r, "Segment", r.PathValue("id"))
		return
	}
	if ri.Type != "" && ri.Type != sg.Type {
		badParameter(w, fmt.Sprintf("type %q does not match the segment's type %q", ri.Type, sg.Type), "/type")
		return
	}
	next := *sg
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
	if rule, ok := ri.Attributes["rule"]; ok {
		refs, err := checkRule(rule)
		if err != nil {
			validation(w, "INVALID_FORMAT", err.Error(), "/attributes/rule")
			return
		}
		if !s.validRefs(w, refs, sg.AudienceID, sg.ID) {
			return
		}
		next.Rule = compact(rule)
	}
	if fid, ok := ri.relID("parentFolder"); ok && fid != sg.FolderID {
		f := s.st.Folders[fid]
		switch {
		case f == nil:
			validation(w, "INVALID_FORMAT_OR_ASSOCIATION", "Parent folder is invalid", "/relationships/parentFolder")
			return
		case f.AudienceID != sg.AudienceID:
			writeJSONAPIErrors(w, http.StatusUnprocessableEntity, apiError{Code: "unprocessable-entity-error", Status: "422",
				Detail: "Cannot move a segment to another parent segment", Meta: map[string]any{"unprocessableEntityCode": "CANNOT_MOVE"}})
			return
		}
		next.FolderID = fid
	}
	if (next.Name != sg.Name || next.FolderID != sg.FolderID) && s.nameTaken(next.FolderID, next.Name, sg.ID) {
		writeErrorsObject(w, http.StatusBadRequest, "name", "has already been taken")
		return
	}
	next.touch(s.opts.Now(), s.userOf(r))
	*sg = next
	s.putSegment(sg)
	if err := s.commit(); err != nil {
		writeServerError(w, http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, jsonAPIType, map[string]any{"data": s.segmentJSON(sg, true, false), "included": s.included(sg.Stamp)})
}

func (s *Server) deleteSegment(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sg, ok := s.st.Segments[r.PathValue("id")]
	if !ok {
		notFound(w, r, "Segment", r.PathValue("id"))
		return
	}
	if by := s.referencedBy(sg.ID); len(by) > 0 {
		refs := make([]map[string]string, 0, len(by))
		for _, id := range by {
			refs = append(refs, map[string]string{"id": id})
		}
		if wantsJSONAPI(r) {
			writeJSONAPIErrors(w, http.StatusConflict, apiError{Code: "conflict-error", Status: "409",
				Detail: "Segment is referenced by other segments", Meta: map[string]any{
					"referencedBySegments": refs, "referencedByPredictiveSegments": []any{}}})
		} else {
			writeJSON(w, http.StatusConflict, "application/json", map[string]any{
				"errors":               map[string][]string{"id": {"Segment is referenced by other segments: " + strings.Join(by, ", ")}},
				"referencedBySegments": refs})
		}
		return
	}
	s.deleteSegmentRecord(sg.ID)
	if err := s.commit(); err != nil {
		writeServerError(w, http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, jsonAPIType, map[string]any{"data": s.segmentJSON(sg, true, false)})
}
