package treasure

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

type segmentAttrs struct {
	Name                 string          `json:"name"`
	Description          *string         `json:"description"`
	Rule                 json.RawMessage `json:"rule"`
	ComposableAudienceID wireID          `json:"composableAudienceId"`
	AudienceID           wireID          `json:"audienceId"`
	CreatedAt            string          `json:"createdAt"`
	UpdatedAt            string          `json:"updatedAt"`
}

// toSegment converts an observed segment resource without its rule.
func toSegment(r *resource, us map[string]string) (segment.Segment, segmentAttrs) {
	var a segmentAttrs
	_ = json.Unmarshal(r.Attributes, &a)
	desc := ""
	if a.Description != nil {
		desc = *a.Description
	}
	clean, mk := splitMarker(desc)
	return segment.Segment{Name: a.Name, Description: clean, Kind: segment.Batch, FolderID: r.parentFolder(),
		Meta: segment.Meta{ID: string(r.ID), Owned: mk.owned, OwnerSource: mk.owner, Fingerprint: mk.fingerprint, CreatedAt: parseTime(a.CreatedAt),
			UpdatedAt: parseTime(a.UpdatedAt), UpdatedBy: r.updatedBy(us)}}, a
}

// wireRule returns a copy of r fit to send: every Reference condition must
// carry its ID; segment names are not sent.
func wireRule(r segment.Rule) (segment.Rule, string, bool) {
	out := r
	out.Conditions = make([]segment.ConditionSet, len(r.Conditions))
	for i, cs := range r.Conditions {
		cs.Conditions = slices.Clone(cs.Conditions)
		for j := range cs.Conditions {
			cd := &cs.Conditions[j]
			if cd.Type == segment.ReferenceCondition && cd.ID == "" {
				return r, cd.Segment, false
			}
			cd.Segment = ""
		}
		out.Conditions[i] = cs
	}
	if r.Conditions == nil {
		out.Conditions = nil
	}
	return out, "", true
}

func (c *Client) segmentBody(method, id, parentID, folderID string, s *segment.Segment) (map[string]any, json.RawMessage, error) {
	rule, missing, ok := wireRule(s.Rule)
	if !ok {
		return nil, nil, localError(method, "segments", "segment %q: the reference to segment %q carries no id", s.Name, missing)
	}
	raw, err := json.Marshal(rule)
	if err != nil {
		return nil, nil, localError(method, "segments", "segment %q: encode rule: %v", s.Name, err)
	}
	attrs := map[string]any{"name": s.Name, "description": withMarker(s.Description, c.o.Owner, s.Meta.Fingerprint), "rule": json.RawMessage(raw)}
	b := map[string]any{"type": c.o.SegmentType, "attributes": attrs}
	if id == "" {
		attrs["composableAudienceId"] = parentID
		attrs["kind"] = "composable"
	} else {
		b["id"] = id
	}
	if folderID != "" {
		b["relationships"] = map[string]any{"parentFolder": relTo(folderID, c.o.SegmentFolderType)}
	}
	return b, raw, nil
}

// remember caches a copy of the rule (wire form) of segment id at
// updatedAt.
func (c *Client) remember(id, updatedAt string, rule *segment.Rule) {
	cp := rule.Clone()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rules[id] = cachedRule{updatedAt: updatedAt, rule: cp}
	c.rulesVersion++
	c.changed[id] = true
}

// cached returns the cached rule of segment id when it was cached at
// updatedAt. A rule with a reference to another segment by id has its own
// condition sets and conditions (resolveNames sets their Segment names);
// what they point to is shared with the cache (segment.Rule.CopyConditions).
// Any other rule is the cache's own: the observation holds no copy of the
// rules it took from the cache (a reader replaces, never changes, the rule
// of an observed segment).
func (c *Client) cached(id, updatedAt string) (segment.Rule, bool) {
	c.mu.Lock()
	e, ok := c.rules[id]
	c.mu.Unlock()
	if !ok || e.updatedAt != updatedAt || updatedAt == "" {
		return segment.Rule{}, false
	}
	if !refersByID(&e.rule) {
		return e.rule, true
	}
	return e.rule.CopyConditions(), true
}

// refersByID reports whether r has a reference condition with an id, the
// conditions resolveNames writes to.
func refersByID(r *segment.Rule) bool {
	for i := range r.Conditions {
		for j := range r.Conditions[i].Conditions {
			if cd := &r.Conditions[i].Conditions[j]; cd.Type == segment.ReferenceCondition && cd.ID != "" {
				return true
			}
		}
	}
	return false
}

// written turns a write response into the observed segment: the rule is the
// one sent (s.Rule, names kept), cached under the new updatedAt.
func (c *Client) written(doc *document, s *segment.Segment, raw json.RawMessage) *segment.Segment {
	got, a := toSegment(&doc.Data, users(doc.Included))
	got.Parent, got.Folder = s.Parent, s.Folder
	var rule segment.Rule
	if err := json.Unmarshal(raw, &rule); err == nil {
		c.remember(got.Meta.ID, a.UpdatedAt, &rule)
		got.Rule = rule
		copyNames(&got.Rule, &s.Rule)
	}
	return &got
}

// copyNames fills Segment names of dst's Reference conditions from src.
func copyNames(dst, src *segment.Rule) {
	for i := range dst.Conditions {
		if i >= len(src.Conditions) {
			return
		}
		for j := range dst.Conditions[i].Conditions {
			if j < len(src.Conditions[i].Conditions) {
				dst.Conditions[i].Conditions[j].Segment = src.Conditions[i].Conditions[j].Segment
			}
		}
	}
}

// CreateSegment creates a composable segment in folderID of parent segment
// parentID with POST /entities/segments. Every Reference condition of
// s.Rule must carry ID. The result carries s's Parent, Folder and Rule. An
// ambiguous failure or a taken name leads to a lookup by name in the folder.
func (c *Client) CreateSegment(ctx context.Context, parentID, folderID string, s *segment.Segment) (*segment.Segment, error) {
	body, raw, err := c.segmentBody(http.MethodPost, "", parentID, folderID, s)
	if err != nil {
		return nil, err
	}
	var doc document
	var found *segment.Segment
	cl := call{endpoint: "segments", method: http.MethodPost, jsonAPI: true, url: c.cdp("/entities/segments", nil), body: body, out: &doc}
	err = c.create(ctx, cl, func(ctx context.Context) (bool, bool, error) {
		got, err := c.childSegment(ctx, folderID, s.Name)
		if err != nil || got == nil {
			return false, false, err
		}
		found = got
		return true, got.Meta.Owned && got.Meta.OwnerSource == c.o.Owner, nil
	})
	if err != nil {
		return nil, err
	}
	if found != nil {
		found.Parent, found.Folder = s.Parent, s.Folder
		copyNames(&found.Rule, &s.Rule)
		return found, nil
	}
	return c.written(&doc, s, raw), nil
}

// childSegment finds the segment called name directly in folderID and
// reads its detail.
func (c *Client) childSegment(ctx context.Context, folderID, name string) (*segment.Segment, error) {
	doc, err := c.listFolder(ctx, folderID, 1)
	if err != nil {
		return nil, err
	}
	for i := range doc.Data {
		r := &doc.Data[i]
		if r.Type != c.o.SegmentType || r.parentFolder() != folderID {
			continue
		}
		if _, a := toSegment(r, nil); a.Name == name {
			return c.GetSegment(ctx, string(r.ID))
		}
	}
	return nil, nil
}

// GetSegment reads a segment and its rule with GET /entities/segments/{id}.
// Reference conditions carry only their ID; Parent and Folder are empty.
func (c *Client) GetSegment(ctx context.Context, id string) (*segment.Segment, error) {
	var doc document
	err := c.do(ctx, call{endpoint: "segments", method: http.MethodGet, jsonAPI: true,
		url: c.cdp("/entities/segments/"+url.PathEscape(id), nil), out: &doc, safe: true})
	if err != nil {
		return nil, err
	}
	got, a := toSegment(&doc.Data, users(doc.Included))
	if err := json.Unmarshal(ruleOrEmpty(a.Rule), &got.Rule); err != nil {
		return nil, &APIError{Status: http.StatusOK, Reason: ReasonServer, Method: http.MethodGet, Endpoint: "segments",
			Message: "segment " + id + ": decode rule: " + err.Error()}
	}
	c.remember(got.Meta.ID, a.UpdatedAt, &got.Rule)
	return &got, nil
}

func ruleOrEmpty(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage("{}")
	}
	return raw
}

// UpdateSegment replaces a segment's name, description and rule with
// PATCH /entities/segments/{id}, and moves it to folderID when that is set.
// The whole rule is always sent (never read back from a listing).
func (c *Client) UpdateSegment(ctx context.Context, id, folderID string, s *segment.Segment) (*segment.Segment, error) {
	body, raw, err := c.segmentBody(http.MethodPatch, id, "", folderID, s)
	if err != nil {
		return nil, err
	}
	var doc document
	err = c.do(ctx, call{endpoint: "segments", method: http.MethodPatch, jsonAPI: true,
		url: c.cdp("/entities/segments/"+url.PathEscape(id), nil), body: body, out: &doc, safe: true})
	if err != nil {
		return nil, err
	}
	return c.written(&doc, s, raw), nil
}

// DeleteSegment deletes a segment with DELETE /entities/segments/{id}. A
// segment other segments still reference is refused with a ReasonConflict
// error whose ReferencedBy lists them.
func (c *Client) DeleteSegment(ctx context.Context, id string) error {
	c.mu.Lock()
	if _, ok := c.rules[id]; ok {
		delete(c.rules, id)
		c.rulesVersion++
		c.changed[id] = true
	}
	c.mu.Unlock()
	return c.do(ctx, call{endpoint: "segments", method: http.MethodDelete, jsonAPI: true,
		url: c.cdp("/entities/segments/"+url.PathEscape(id), nil), safe: true, goneOK: true})
}
