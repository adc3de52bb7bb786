package treasure

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// Activations are "syndications" in Treasure's API. The client uses the
// published JSON:API endpoints of one segment:
//
//	GET/POST           /entities/segments/{segmentId}/syndications
//	GET/PATCH/DELETE   /entities/segments/{segmentId}/syndications/{id}
//
// with resource type "syndication" and SyndicationJsonApiParameters as
// attributes. Choices the documentation leaves open are listed in
// docs/treasure-api.md.

// syndicationType is the published JSON:API type of activations.
const syndicationType = "syndication"

type syndicationColumn struct {
	Column string `json:"column"`
	Source *struct {
		Column string `json:"column"`
	} `json:"source,omitempty"`
}

type syndicationAttrs struct {
	Name               string                     `json:"name"`
	Description        *string                    `json:"description"`
	AllColumns         bool                       `json:"allColumns"`
	Columns            []syndicationColumn        `json:"columns"`
	ConnectionID       wireID                     `json:"connectionId"`
	ConnectorConfig    map[string]json.RawMessage `json:"connectorConfig"`
	RepeatUnit         string                     `json:"repeatUnit"`
	RepeatFrequency    *int                       `json:"repeatFrequency"`
	RepeatSubFrequency []int                      `json:"repeatSubFrequency"`
	StartAt            *string                    `json:"startAt"`
	EndOn              *string                    `json:"endOn"`
	Timezone           *string                    `json:"timezone"`
	NotifyOn           []string                   `json:"notifyOn"`
	EmailRecipients    []wireID                   `json:"emailRecipients"`
	UpdatedAt          string                     `json:"updatedAt"`
	CreatedAt          string                     `json:"createdAt"`
}

func (c *Client) syndicationsPath(segmentID string) string {
	return strings.ReplaceAll(c.o.SyndicationsPath, "{segment}", url.PathEscape(segmentID))
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// toActivation converts an observed syndication resource. Connector
// settings that hold secrets (segment.SecretKey) are never read.
func (c *Client) toActivation(r *resource, us map[string]string) segment.Activation {
	var a syndicationAttrs
	_ = json.Unmarshal(r.Attributes, &a)
	clean, mk := splitMarker(deref(a.Description))
	out := segment.Activation{Name: a.Name, Description: clean, AllColumns: a.AllColumns,
		ConnectionID: string(a.ConnectionID),
		Schedule: segment.Schedule{Repeat: a.RepeatUnit, Weekdays: a.RepeatSubFrequency, StartAt: deref(a.StartAt),
			EndOn: deref(a.EndOn), Timezone: deref(a.Timezone)},
		Notify: segment.Notify{On: a.NotifyOn},
		Meta: segment.Meta{ID: string(r.ID), Owned: mk.owned, OwnerSource: mk.owner, Fingerprint: mk.fingerprint,
			CreatedAt: parseTime(a.CreatedAt), UpdatedAt: parseTime(a.UpdatedAt), UpdatedBy: r.updatedBy(us)}}
	if out.Schedule.Repeat == "" {
		out.Schedule.Repeat = segment.RepeatNone
	}
	if a.RepeatFrequency != nil {
		out.Schedule.Every = *a.RepeatFrequency
	}
	for _, col := range a.Columns {
		out.Columns = append(out.Columns, col.Column)
	}
	for _, id := range a.EmailRecipients {
		out.Notify.Recipients = append(out.Notify.Recipients, string(id))
	}
	for k, raw := range a.ConnectorConfig {
		if segment.SecretKey(k) {
			if out.ConnectorConfig == nil {
				out.ConnectorConfig = map[string]segment.ConfigValue{}
			}
			out.ConnectorConfig[k] = segment.ConfigValue{Hidden: true}
			continue
		}
		var b bytes.Buffer
		if json.Compact(&b, raw) != nil {
			continue
		}
		if out.ConnectorConfig == nil {
			out.ConnectorConfig = map[string]segment.ConfigValue{}
		}
		out.ConnectorConfig[k] = segment.ConfigValue{Value: b.String()}
	}
	c.mu.Lock()
	out.Connection = c.connNames[out.ConnectionID]
	c.mu.Unlock()
	return out
}

// ListActivations lists the activations of a segment with
// GET /entities/segments/{segmentId}/syndications.
func (c *Client) ListActivations(ctx context.Context, segmentID string) ([]segment.Activation, error) {
	var doc listDocument
	err := c.do(ctx, call{endpoint: "syndications", method: http.MethodGet, jsonAPI: true,
		url: c.cdp(c.syndicationsPath(segmentID), nil), out: &doc, safe: true})
	if err != nil {
		return nil, err
	}
	us := users(doc.Included)
	out := make([]segment.Activation, 0, len(doc.Data))
	for i := range doc.Data {
		if doc.Data[i].Type != "" && doc.Data[i].Type != syndicationType {
			continue
		}
		a := c.toActivation(&doc.Data[i], us)
		a.SegmentID = segmentID
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b segment.Activation) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// ObserveActivations lists the activations of every segment of st for
// which want returns true (one GET per such segment), setting
// HasActivations and Activations. Segments want leaves out are not read:
// their activations are not managed.
func (c *Client) ObserveActivations(ctx context.Context, st *segment.State, want func(*segment.Segment) bool) error {
	for i := range st.Segments {
		s := &st.Segments[i]
		if !want(s) || s.Meta.ID == "" {
			continue
		}
		acts, err := c.ListActivations(ctx, s.Meta.ID)
		if err != nil {
			return err
		}
		for j := range acts {
			acts[j].Parent, acts[j].Segment = s.Parent, s.Name
		}
		s.Activations, s.HasActivations = acts, true
	}
	return nil
}

// SecretError is a connector setting whose secret could not be read. It
// names the setting and the reference, never a value.
type SecretError struct {
	Key, Ref string
	Err      error
}

func (e *SecretError) Error() string {
	return fmt.Sprintf("connectorConfig.%s: read %s: %v", e.Key, e.Ref, e.Err)
}

func (e *SecretError) Unwrap() error { return e.Err }

// errNoEnv is the cause of a SecretError for an unset variable.
var errNoEnv = errors.New("the environment variable is not set")

// resolveConfig returns the connector settings to send, secrets read, and
// the values read (to be kept out of errors).
func (c *Client) resolveConfig(cfg map[string]segment.ConfigValue) (map[string]any, redactor, error) {
	out := make(map[string]any, len(cfg))
	var read redactor
	for k, v := range cfg {
		switch {
		case v.Env != "":
			s, ok := c.o.LookupEnv(v.Env)
			if !ok {
				return nil, nil, &SecretError{Key: k, Ref: "environment variable " + v.Env, Err: errNoEnv}
			}
			out[k] = s
			if s != "" {
				read = append(read, s)
			}
		case v.File != "":
			b, err := c.o.ReadFile(v.File)
			if err != nil {
				// The path error names the file only.
				var pe *os.PathError
				if errors.As(err, &pe) {
					err = pe.Err
				}
				return nil, nil, &SecretError{Key: k, Ref: "file " + v.File, Err: err}
			}
			out[k] = strings.TrimRight(string(b), "\r\n")
			if v := out[k].(string); v != "" {
				read = append(read, v)
			}
		default:
			out[k] = json.RawMessage(v.Value)
		}
	}
	return out, read, nil
}

// redacted removes the secret values read for a write from its error, in
// case Treasure echoes one.
func redacted(err error, read redactor) error {
	var ae *APIError
	if len(read) > 0 && errors.As(err, &ae) {
		read.apply(ae)
	}
	return err
}

// activationBody renders the attributes of a create or a full update.
func (c *Client) activationBody(id string, a *segment.Activation) (map[string]any, redactor, error) {
	if a.ConnectionID == "" {
		return nil, nil, localError(http.MethodPost, "syndications", "activation %q: connection %q carries no id", a.Name, a.Connection)
	}
	cfg, read, err := c.resolveConfig(a.ConnectorConfig)
	if err != nil {
		return nil, nil, &APIError{Reason: ReasonValidation, Method: http.MethodPost, Endpoint: "syndications",
			Message: "activation " + a.Name + ": " + err.Error(), cause: err}
	}
	cols := make([]map[string]any, 0, len(a.Columns))
	for _, col := range a.Columns {
		m := map[string]any{"column": col}
		if c.o.SyndicationColumns == "source" {
			m["source"] = map[string]string{"column": col}
		}
		cols = append(cols, m)
	}
	sc := a.Schedule
	attrs := map[string]any{
		"name": a.Name, "description": withMarker(a.Description, c.o.Owner, a.Meta.Fingerprint),
		"allColumns": a.AllColumns, "columns": cols, "connectionId": json.Number(a.ConnectionID),
		"connectorConfig": cfg, "repeatUnit": sc.Repeat, "repeatSubFrequency": orEmpty(sc.Weekdays),
		"startAt": nullIfEmpty(sc.StartAt), "endOn": nullIfEmpty(sc.EndOn), "timezone": nullIfEmpty(sc.Timezone),
		"notifyOn": orEmpty(a.Notify.On), "emailRecipients": orEmpty(a.Notify.Recipients),
	}
	if sc.Every > 0 {
		attrs["repeatFrequency"] = sc.Every
	} else if sc.Repeat != segment.RepeatNone && sc.Repeat != segment.RepeatOnce {
		attrs["repeatFrequency"] = 1
	}
	b := map[string]any{"type": syndicationType, "attributes": attrs}
	if id != "" {
		b["id"] = id
	}
	return b, read, nil
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (c *Client) writtenActivation(doc *document, a *segment.Activation, segmentID string) *segment.Activation {
	got := c.toActivation(&doc.Data, users(doc.Included))
	got.Parent, got.Segment, got.SegmentID, got.Connection = a.Parent, a.Segment, segmentID, a.Connection
	// Secrets are never read back: report what was written.
	for k, v := range a.ConnectorConfig {
		if segment.SecretKey(k) {
			if got.ConnectorConfig == nil {
				got.ConnectorConfig = map[string]segment.ConfigValue{}
			}
			got.ConnectorConfig[k] = v
		}
	}
	return &got
}

// CreateActivation creates an activation of segment segmentID with
// POST /entities/segments/{segmentId}/syndications. a.ConnectionID must be
// set; connector settings given as references are read now. A taken name or
// an ambiguous failure leads to a lookup by name among the segment's
// activations.
func (c *Client) CreateActivation(ctx context.Context, segmentID string, a *segment.Activation) (*segment.Activation, error) {
	body, read, err := c.activationBody("", a)
	if err != nil {
		return nil, err
	}
	var doc document
	var found *segment.Activation
	cl := call{endpoint: "syndications", method: http.MethodPost, jsonAPI: true, url: c.cdp(c.syndicationsPath(segmentID), nil), body: body, out: &doc}
	err = c.create(ctx, cl, func(ctx context.Context) (bool, bool, error) {
		list, err := c.ListActivations(ctx, segmentID)
		if err != nil {
			return false, false, err
		}
		for i := range list {
			if list[i].Name == a.Name {
				found = &list[i]
				return true, found.Meta.Owned && found.Meta.OwnerSource == c.o.Owner, nil
			}
		}
		return false, false, nil
	})
	if err != nil {
		return nil, redacted(err, read)
	}
	if found != nil {
		found.Parent, found.Segment = a.Parent, a.Segment
		return found, nil
	}
	return c.writtenActivation(&doc, a, segmentID), nil
}

// UpdateActivation replaces every attribute of an activation with
// PATCH /entities/segments/{segmentId}/syndications/{id} (the whole
// parameter set is always sent, so a partial PATCH is never relied on).
func (c *Client) UpdateActivation(ctx context.Context, segmentID, id string, a *segment.Activation) (*segment.Activation, error) {
	body, read, err := c.activationBody(id, a)
	if err != nil {
		return nil, err
	}
	var doc document
	err = c.do(ctx, call{endpoint: "syndications", method: http.MethodPatch, jsonAPI: true,
		url: c.cdp(c.syndicationsPath(segmentID)+"/"+url.PathEscape(id), nil), body: body, out: &doc, safe: true})
	if err != nil {
		return nil, redacted(err, read)
	}
	return c.writtenActivation(&doc, a, segmentID), nil
}

// DeleteActivation deletes an activation with
// DELETE /entities/segments/{segmentId}/syndications/{id}.
func (c *Client) DeleteActivation(ctx context.Context, segmentID, id string) error {
	return c.do(ctx, call{endpoint: "syndications", method: http.MethodDelete, jsonAPI: true,
		url: c.cdp(c.syndicationsPath(segmentID)+"/"+url.PathEscape(id), nil), safe: true, goneOK: true})
}
