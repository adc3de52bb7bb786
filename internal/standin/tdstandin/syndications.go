package tdstandin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
)

// The activation ("syndication") endpoints of a segment, in the JSON:API
// shape the specification publishes: GET/POST
// /entities/segments/{segmentId}/syndications and GET/PATCH/DELETE
// /entities/segments/{segmentId}/syndications/{id}, with the resource type
// "syndication" and SyndicationJsonApiParameters as attributes.

var repeatUnits = []string{"none", "minute", "hour", "day", "week", "month", "once"}

// syndicationJSON renders an activation. With Options.DocumentedOnly only
// the published parameters are answered; otherwise also segmentId, the
// timestamps and createdBy/updatedBy.
func (s *Server) syndicationJSON(sy *Syndication) map[string]any {
	cols := sy.Columns
	if len(cols) == 0 {
		cols = json.RawMessage("[]")
	}
	cfg := sy.ConnectorConfig
	if len(cfg) == 0 {
		cfg = json.RawMessage("{}")
	}
	attrs := map[string]any{"name": sy.Name, "description": nullIfEmpty(sy.Description), "allColumns": sy.AllColumns,
		"columns": cols, "connectionId": idNumber(sy.ConnectionID), "connectorConfig": cfg,
		"repeatUnit": sy.RepeatUnit, "repeatFrequency": sy.RepeatFrequency, "repeatSubFrequency": orEmpty(sy.RepeatSubFrequency),
		"startAt": nullIfEmpty(sy.StartAt), "endOn": nullIfEmpty(sy.EndOn), "timezone": nullIfEmpty(sy.Timezone),
		"notifyOn": orEmpty(sy.NotifyOn), "emailRecipients": orEmpty(sy.EmailRecipients)}
	out := map[string]any{"id": sy.ID, "type": "syndication", "attributes": attrs}
	if !s.opts.DocumentedOnly {
		attrs["segmentId"] = sy.SegmentID
		attrs["createdAt"], attrs["updatedAt"] = fmtTime(sy.CreatedAt), fmtTime(sy.UpdatedAt)
		out["relationships"] = map[string]any{"createdBy": s.userRel(sy.CreatedBy), "updatedBy": s.userRel(sy.UpdatedBy)}
	}
	return out
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// idNumber renders an id of digits as a JSON number, as the specification
// types connectionId (int64).
func idNumber(id string) any {
	if id == "" {
		return nil
	}
	return json.Number(id)
}

// syndicationSegment returns the segment of the path or answers 404.
func (s *Server) syndicationSegment(w http.ResponseWriter, r *http.Request) (*Segment, bool) {
	sg, ok := s.st.Segments[r.PathValue("sid")]
	if !ok {
		notFound(w, r, "Segment", r.PathValue("sid"))
	}
	return sg, ok
}

func (s *Server) listSyndications(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sg, ok := s.syndicationSegment(w, r)
	if !ok {
		return
	}
	var ids []string
	for id, sy := range s.st.Syndications {
		if sy.SegmentID == sg.ID {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	data := make([]map[string]any, 0, len(ids))
	var stamps []Stamp
	for _, id := range ids {
		data = append(data, s.syndicationJSON(s.st.Syndications[id]))
		stamps = append(stamps, s.st.Syndications[id].Stamp)
	}
	body := map[string]any{"data": data}
	if !s.opts.DocumentedOnly {
		body["included"] = s.included(stamps...)
	}
	writeJSON(w, http.StatusOK, jsonAPIType, body)
}

func (s *Server) getSyndication(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sy, ok := s.syndication(w, r)
	if !ok {
		return
	}
	s.answerSyndication(w, sy)
}

func (s *Server) answerSyndication(w http.ResponseWriter, sy *Syndication) {
	body := map[string]any{"data": s.syndicationJSON(sy)}
	if !s.opts.DocumentedOnly {
		body["included"] = s.included(sy.Stamp)
	}
	writeJSON(w, http.StatusOK, jsonAPIType, body)
}

// syndication returns the activation of the path, or answers 404 when the
// segment or the activation (of that segment) does not exist.
func (s *Server) syndication(w http.ResponseWriter, r *http.Request) (*Syndication, bool) {
	sg, ok := s.syndicationSegment(w, r)
	if !ok {
		return nil, false
	}
	sy, ok := s.st.Syndications[r.PathValue("id")]
	if !ok || sy.SegmentID != sg.ID {
		notFound(w, r, "Syndication", r.PathValue("id"))
		return nil, false
	}
	return sy, true
}

// applySyndication sets the attributes sent on next, answering the error
// and returning false when one is invalid.
func (s *Server) applySyndication(w http.ResponseWriter, ri *resourceIn, next *Syndication) bool {
	if ri.Type != "" && ri.Type != "syndication" {
		badParameter(w, fmt.Sprintf("type %q is not syndication", ri.Type), "/type")
		return false
	}
	bad := func(field string) bool {
		badParameter(w, field+" has an invalid type", "/attributes/"+field)
		return false
	}
	for k, raw := range ri.Attributes {
		var err error
		switch k {
		case "name":
			err = json.Unmarshal(raw, &next.Name)
		case "description":
			var d *string
			if err = json.Unmarshal(raw, &d); err == nil {
				next.Description = ""
				if d != nil {
					next.Description = *d
				}
			}
		case "allColumns":
			err = json.Unmarshal(raw, &next.AllColumns)
		case "columns":
			var cols []struct {
				Column string `json:"column"`
				Source *struct {
					Column string `json:"column"`
				} `json:"source"`
			}
			if err = json.Unmarshal(raw, &cols); err == nil {
				for _, c := range cols {
					if c.Column == "" {
						validation(w, "CANNOT_BE_BLANK", "Column can't be blank", "/attributes/columns")
						return false
					}
				}
				next.Columns = compact(raw)
			}
		case "connectionId":
			var id ID
			if err = json.Unmarshal(raw, &id); err == nil {
				next.ConnectionID = string(id)
			}
		case "connectorConfig":
			var m map[string]json.RawMessage
			if err = json.Unmarshal(raw, &m); err == nil {
				next.ConnectorConfig = compact(raw)
			}
		case "repeatUnit":
			err = json.Unmarshal(raw, &next.RepeatUnit)
		case "repeatFrequency":
			err = json.Unmarshal(raw, &next.RepeatFrequency)
		case "repeatSubFrequency":
			err = json.Unmarshal(raw, &next.RepeatSubFrequency)
		case "startAt", "endOn", "timezone":
			var v *string
			if err = json.Unmarshal(raw, &v); err == nil {
				val := ""
				if v != nil {
					val = *v
				}
				switch k {
				case "startAt":
					next.StartAt = val
				case "endOn":
					next.EndOn = val
				default:
					next.Timezone = val
				}
			}
		case "notifyOn":
			if err = json.Unmarshal(raw, &next.NotifyOn); err == nil {
				for _, n := range next.NotifyOn {
					if n != "onSuccess" && n != "onFailure" {
						validation(w, "INVALID_FORMAT", "notifyOn must list onSuccess or onFailure", "/attributes/notifyOn")
						return false
					}
				}
			}
		case "emailRecipients":
			var ids []ID
			if err = json.Unmarshal(raw, &ids); err == nil {
				next.EmailRecipients = nil
				for _, id := range ids {
					next.EmailRecipients = append(next.EmailRecipients, string(id))
				}
			}
		}
		if err != nil {
			return bad(k)
		}
	}
	switch {
	case strings.TrimSpace(next.Name) == "":
		validation(w, "CANNOT_BE_BLANK", "Name can't be blank", "/attributes/name")
		return false
	case next.ConnectionID == "" || !s.knownConnection(next.ConnectionID):
		validation(w, "INVALID_FORMAT_OR_ASSOCIATION", "Connection is invalid", "/attributes/connectionId")
		return false
	case next.RepeatUnit != "" && !slices.Contains(repeatUnits, next.RepeatUnit):
		validation(w, "INVALID_FORMAT", "repeatUnit must be one of "+strings.Join(repeatUnits, ", "), "/attributes/repeatUnit")
		return false
	case !next.AllColumns && (len(next.Columns) == 0 || string(next.Columns) == "[]"):
		validation(w, "CANNOT_BE_BLANK", "Columns can't be blank unless allColumns is set", "/attributes/columns")
		return false
	}
	for _, d := range next.RepeatSubFrequency {
		if d < 1 || d > 7 {
			validation(w, "INVALID_FORMAT", "repeatSubFrequency must be 1 (Monday) to 7 (Sunday)", "/attributes/repeatSubFrequency")
			return false
		}
	}
	if next.RepeatUnit == "" {
		next.RepeatUnit = "none"
	}
	return true
}

func (s *Server) knownConnection(id string) bool {
	for _, v := range s.opts.Connections {
		if v == id {
			return true
		}
	}
	return false
}

// syndicationNameTaken reports whether another activation of segment sid
// is called name.
func (s *Server) syndicationNameTaken(sid, name, self string) bool {
	for _, sy := range s.st.Syndications {
		if sy.SegmentID == sid && sy.Name == name && sy.ID != self {
			return true
		}
	}
	return false
}

func uniqueness(w http.ResponseWriter) {
	validation(w, "VIOLATES_UNIQUENESS_CONSTRAINT", "Name has already been taken", "/attributes/name")
}

func (s *Server) createSyndication(w http.ResponseWriter, r *http.Request) {
	ri, ok := decodeResource(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sg, ok := s.syndicationSegment(w, r)
	if !ok {
		return
	}
	if ri.Type != "syndication" {
		badParameter(w, fmt.Sprintf("type %q is not syndication", ri.Type), "/type")
		return
	}
	sy := &Syndication{SegmentID: sg.ID}
	if !s.applySyndication(w, ri, sy) {
		return
	}
	if s.syndicationNameTaken(sg.ID, sy.Name, "") {
		uniqueness(w)
		return
	}
	sy.ID = s.st.id()
	sy.touch(s.opts.Now(), s.opts.User)
	s.st.Syndications[sy.ID] = sy
	if err := s.commit(); err != nil {
		writeServerError(w, http.StatusInternalServerError)
		return
	}
	s.answerSyndication(w, sy)
}

func (s *Server) patchSyndication(w http.ResponseWriter, r *http.Request) {
	ri, ok := decodeResource(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sy, ok := s.syndication(w, r)
	if !ok {
		return
	}
	if ri.ID != "" && string(ri.ID) != sy.ID {
		badParameter(w, "id does not match the path", "/id")
		return
	}
	next := *sy
	if !s.applySyndication(w, ri, &next) {
		return
	}
	if next.Name != sy.Name && s.syndicationNameTaken(sy.SegmentID, next.Name, sy.ID) {
		uniqueness(w)
		return
	}
	next.touch(s.opts.Now(), s.opts.User)
	*sy = next
	if err := s.commit(); err != nil {
		writeServerError(w, http.StatusInternalServerError)
		return
	}
	s.answerSyndication(w, sy)
}

func (s *Server) deleteSyndication(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sy, ok := s.syndication(w, r)
	if !ok {
		return
	}
	delete(s.st.Syndications, sy.ID)
	if err := s.commit(); err != nil {
		writeServerError(w, http.StatusInternalServerError)
		return
	}
	s.answerSyndication(w, sy)
}

// Syndications returns copies of every stored activation, ordered by id.
func (s *Server) Syndications() []Syndication {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Syndication, 0, len(s.st.Syndications))
	for _, sy := range s.st.Syndications {
		out = append(out, *sy)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// EditSyndication changes a stored activation as a user of the console
// would (drift): edit receives the record, and its updatedBy becomes user.
func (s *Server) EditSyndication(id, user string, edit func(*Syndication)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sy, ok := s.st.Syndications[id]
	if !ok {
		return fmt.Errorf("tdstandin: no syndication %s", id)
	}
	edit(sy)
	sy.touch(s.opts.Now(), user)
	return s.commit()
}
