package treasure

import (
	"context"
	"net/http"
	"net/url"
)

// ResolveConnection returns the id of the Integration Hub connection
// (authentication) called name, with GET /v3/connections/lookup?name=.
// Resolved names are remembered so Observe can report Parent.Connection.
func (c *Client) ResolveConnection(ctx context.Context, name string) (string, error) {
	if c.o.ConnectionTTL > 0 {
		c.mu.Lock()
		rc, ok := c.connIDs[name]
		c.mu.Unlock()
		if ok && c.o.Now().Sub(rc.at) < c.o.ConnectionTTL {
			return rc.id, nil
		}
	}
	var out struct {
		ID wireID `json:"id"`
	}
	u := c.o.ClassicURL + "/v3/connections/lookup?" + url.Values{"name": {name}}.Encode()
	if err := c.do(ctx, call{endpoint: "connections", method: http.MethodGet, url: u, out: &out, safe: true}); err != nil {
		return "", err
	}
	if out.ID == "" {
		return "", &APIError{Status: http.StatusNotFound, Reason: ReasonNotFound, Method: http.MethodGet,
			Endpoint: "connections", Message: "connection " + name + " not found"}
	}
	c.mu.Lock()
	c.connNames[string(out.ID)] = name
	c.connIDs[name] = resolvedConn{id: string(out.ID), at: c.o.Now()}
	c.mu.Unlock()
	return string(out.ID), nil
}
