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
	Data *ref
}

// UnmarshalJSON keeps to-one data and ignores to-many.
func (r *relationship) UnmarshalJSON(b []byte) error {
	var raw struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	d := bytes.TrimSpace(raw.Data)
	if len(d) == 0 || d[0] != '{' {
		r.Data = nil
		return nil
	}
	r.Data = &ref{}
	return json.Unmarshal(d, r.Data)
}

// resource is a JSON:API resource object as the API returns it.
type resource struct {
	ID            wireID                  `json:"id"`
	Type          string                  `json:"type"`
	Attributes    json.RawMessage         `json:"attributes"`
	Relationships map[string]relationship `json:"relationships"`
}

func (r *resource) rel(name string) string {
	if x, ok := r.Relationships[name]; ok && x.Data != nil {
		return string(x.Data.ID)
	}
	return ""
}

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

// userName resolves the user of relationship name, falling back to the id.
func userName(r *resource, name string, us map[string]string) string {
	id := r.rel(name)
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
