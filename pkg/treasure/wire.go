package treasure

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// wireID is an id that arrives as a JSON string or number.
type wireID string

// UnmarshalJSON accepts "123", 123 and null.
func (id *wireID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		*id = ""
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*id = wireID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("id %s is neither a string nor a number", b)
	}
	*id = wireID(n.String())
	return nil
}

// ref is a JSON:API resource identifier.
type ref struct {
	ID   wireID `json:"id"`
	Type string `json:"type"`
}

// relationship is a to-one JSON:API relationship; Data is nil for null and
// for to-many relationships (which the client does not need).
type relationship struct {
	Data toOne `json:"data"`
}

// toOne is the data of a relationship: a resource identifier, or nil for
// null and for the arrays of to-many relationships.
type toOne struct{ *ref }

// UnmarshalJSON keeps an object and ignores anything else.
func (t *toOne) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		t.ref = nil
		return nil
	}
	t.ref = &ref{}
	return json.Unmarshal(b, t.ref)
}

// relationships holds the relationships the client reads; the API sends
// more (createdBy, segmentFolders, ...), which decoding skips.
type relationships struct {
	ParentFolder relationship `json:"parentFolder"`
	UpdatedBy    relationship `json:"updatedBy"`
	// ParentSegmentFolder is the root folder of a parentSegment resource.
	ParentSegmentFolder relationship `json:"parentSegmentFolder"`
}

// resource is a JSON:API resource object as the API returns it.
type resource struct {
	ID            wireID          `json:"id"`
	Type          string          `json:"type"`
	Attributes    json.RawMessage `json:"attributes"`
	Relationships relationships   `json:"relationships"`
}

// id returns the id of the related resource; "" when there is none.
func (x relationship) id() string {
	if x.Data.ref == nil {
		return ""
	}
	return string(x.Data.ID)
}

// parentFolder returns the id of the folder r is in.
func (r *resource) parentFolder() string { return r.Relationships.ParentFolder.id() }

// document is a JSON:API top-level document with one resource.
type document struct {
	Data     resource   `json:"data"`
	Included []resource `json:"included"`
}

// listDocument is a JSON:API top-level document with many resources.
type listDocument struct {
	Data     []resource `json:"data"`
	Included []resource `json:"included"`
}

// users maps user ids to display names from included user resources.
func users(included []resource) map[string]string {
	m := map[string]string{}
	for _, r := range included {
		if r.Type != "user" {
			continue
		}
		var a struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(r.Attributes, &a) == nil {
			m[string(r.ID)] = a.Name
		}
	}
	return m
}

// updatedBy returns the display name of the user who last updated r,
// falling back to the user's id.
func (r *resource) updatedBy(us map[string]string) string {
	id := r.Relationships.UpdatedBy.id()
	if n, ok := us[id]; ok && n != "" {
		return n
	}
	return id
}

// restUser is the {id, name} user object of REST responses.
type restUser struct {
	ID   wireID `json:"id"`
	Name string `json:"name"`
}

// parseTime reads the API's timestamps; zero on failure.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// relTo renders a to-one relationship for requests.
func relTo(id, typ string) map[string]any {
	return map[string]any{"data": map[string]string{"id": id, "type": typ}}
}

// fieldSet records which members a JSON object had, so that a field the
// API left out is told apart from one it sent empty or null.
type fieldSet map[string]bool

// fieldsOf returns the member names of the JSON object b.
func fieldsOf(b []byte) (fieldSet, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	fs := make(fieldSet, len(m))
	for k := range m {
		fs[k] = true
	}
	return fs, nil
}
