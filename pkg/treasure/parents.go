package treasure

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// masterWire is the master block of the CAS configuration upload.
type masterWire struct {
	Name         string `json:"name"`
	ConnectionID string `json:"connectionId"`
	Catalog      string `json:"catalog"`
	Schema       string `json:"schema"`
	Table        string `json:"table"`
	KeyColumn    string `json:"keyColumn"`
}

// attributeWire is a composable attribute, in requests and responses.
type attributeWire struct {
	ID           wireID `json:"id,omitempty"`
	Name         string `json:"name"`
	ConnectionID wireID `json:"connectionId,omitempty"`
	Catalog      string `json:"catalog,omitempty"`
	Schema       string `json:"schema"`
	Table        string `json:"table"`
	TableKey     string `json:"tableKey"`
	MasterKey    string `json:"masterKey"`
	Column       string `json:"column"`
	Type         string `json:"type,omitempty"`
	GroupingName string `json:"groupingName,omitempty"`
	has          fieldSet
}

// UnmarshalJSON decodes an attribute and records which fields it had.
func (a *attributeWire) UnmarshalJSON(b []byte) error {
	type plain attributeWire
	if err := json.Unmarshal(b, (*plain)(a)); err != nil {
		return err
	}
	var err error
	a.has, err = fieldsOf(b)
	return err
}

// behaviorWire is a composable behavior, in requests and responses.
type behaviorWire struct {
	ID            wireID              `json:"id,omitempty"`
	Name          string              `json:"name"`
	ConnectionID  wireID              `json:"connectionId,omitempty"`
	Catalog       string              `json:"catalog,omitempty"`
	Schema        string              `json:"schema"`
	Table         string              `json:"table"`
	TableKey      string              `json:"tableKey"`
	MasterKey     string              `json:"masterKey"`
	TimeColumn    string              `json:"timeColumn,omitempty"`
	ColumnMapping []columnMappingWire `json:"columnMapping"`
	has           fieldSet
}

// UnmarshalJSON decodes a behavior and records which fields it had.
func (w *behaviorWire) UnmarshalJSON(b []byte) error {
	type plain behaviorWire
	if err := json.Unmarshal(b, (*plain)(w)); err != nil {
		return err
	}
	var err error
	w.has, err = fieldsOf(b)
	return err
}

type columnMappingWire struct {
	Name      string `json:"name"`
	Type      string `json:"type,omitempty"`
	CDWColumn string `json:"cdwColumn"`
	has       fieldSet
}

// UnmarshalJSON decodes a column mapping and records which fields it had.
func (m *columnMappingWire) UnmarshalJSON(b []byte) error {
	type plain columnMappingWire
	if err := json.Unmarshal(b, (*plain)(m)); err != nil {
		return err
	}
	var err error
	m.has, err = fieldsOf(b)
	return err
}

// parentBody is the CAS configuration upload; PUT /audiences/{id} takes the
// same body, and because it includes master, PUT replaces attributes and
// behaviors entirely.
type parentBody struct {
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	Timezone     string          `json:"timezone"`
	Kind         string          `json:"kind"`
	IsComposable bool            `json:"isComposable"`
	Master       masterWire      `json:"master"`
	Attributes   []attributeWire `json:"attributes"`
	Behaviors    []behaviorWire  `json:"behaviors"`
}

// audienceWire is the flat ComposableAudience of GET /audiences/{id}.
type audienceWire struct {
	ID              wireID          `json:"id"`
	Name            string          `json:"name"`
	Description     *string         `json:"description"`
	Timezone        string          `json:"timezone"`
	Kind            string          `json:"kind"`
	IsComposable    bool            `json:"isComposable"`
	ConnectionID    wireID          `json:"connectionId"`
	MasterName      string          `json:"masterName"`
	MasterCatalog   *string         `json:"masterCatalog"`
	MasterSchema    string          `json:"masterSchema"`
	MasterTable     string          `json:"masterTable"`
	MasterKeyColumn string          `json:"masterKeyColumn"`
	RootFolderID    wireID          `json:"rootFolderId"`
	Attributes      []attributeWire `json:"attributes"`
	Behaviors       []behaviorWire  `json:"behaviors"`
	CreatedAt       string          `json:"createdAt"`
	UpdatedAt       string          `json:"updatedAt"`
	UpdatedBy       *restUser       `json:"updatedBy"`
	has             fieldSet
}

// UnmarshalJSON decodes a parent segment and records which fields it had.
func (a *audienceWire) UnmarshalJSON(b []byte) error {
	type plain audienceWire
	if err := json.Unmarshal(b, (*plain)(a)); err != nil {
		return err
	}
	var err error
	a.has, err = fieldsOf(b)
	return err
}

// body renders p for the upload and PUT, with the ownership marker.
func (c *Client) parentBody(p *segment.Parent, connID string) parentBody {
	cust := p.Customers
	name := p.CustomersName
	if name == "" {
		name = cust.Table.Table
	}
	b := parentBody{Name: p.Name, Description: withMarker(p.Description, c.o.Owner, p.Meta.Fingerprint), Timezone: p.Timezone,
		Kind: "composable", IsComposable: true,
		Master: masterWire{Name: name, ConnectionID: connID, Catalog: cust.Catalog, Schema: cust.Schema,
			Table: cust.Table.Table, KeyColumn: cust.Key},
		Attributes: []attributeWire{}, Behaviors: []behaviorWire{}}
	for _, a := range p.Attributes {
		t, key := cust.Table, cust.Key
		if a.Join != nil {
			t, key = a.Join.Table, a.Join.Key
		}
		b.Attributes = append(b.Attributes, attributeWire{Name: a.Name, ConnectionID: wireID(connID), Catalog: t.Catalog,
			Schema: t.Schema, Table: t.Table, TableKey: key, MasterKey: cust.Key, Column: a.Column,
			Type: string(a.Type), GroupingName: a.Group})
	}
	for _, bh := range p.Behaviors {
		w := behaviorWire{Name: bh.Name, ConnectionID: wireID(connID), Catalog: bh.Table.Catalog, Schema: bh.Table.Schema,
			Table: bh.Table.Table, TableKey: bh.Key, MasterKey: cust.Key, TimeColumn: bh.Time,
			ColumnMapping: []columnMappingWire{}}
		for _, col := range bh.Columns {
			w.ColumnMapping = append(w.ColumnMapping, columnMappingWire{Name: col.Name, Type: string(col.Type), CDWColumn: col.SourceColumn()})
		}
		b.Behaviors = append(b.Behaviors, w)
	}
	return b
}

// toParent converts the observed wire form.
func (c *Client) toParent(a *audienceWire) segment.Parent {
	desc := ""
	if a.Description != nil {
		desc = *a.Description
	}
	clean, mk := splitMarker(desc)
	catalog := ""
	if a.MasterCatalog != nil {
		catalog = *a.MasterCatalog
	}
	cust := segment.KeyedTable{Table: segment.Table{Catalog: catalog, Schema: a.MasterSchema, Table: a.MasterTable}, Key: a.MasterKeyColumn}
	p := segment.Parent{Name: a.Name, Description: clean, Timezone: a.Timezone, ConnectionID: string(a.ConnectionID),
		Customers: cust, CustomersName: a.MasterName, RootFolderID: string(a.RootFolderID),
		Attributes: []segment.Attribute{}, Behaviors: []segment.Behavior{},
		Meta: segment.Meta{ID: string(a.ID), Owned: mk.owned, OwnerSource: mk.owner, Fingerprint: mk.fingerprint,
			CreatedAt: parseTime(a.CreatedAt), UpdatedAt: parseTime(a.UpdatedAt)}}
	if p.CustomersName == "" {
		p.CustomersName = a.MasterTable
	}
	unknown := func(path string) { p.Meta.Unknown = append(p.Meta.Unknown, path) }
	if !a.has["description"] {
		unknown(segment.UnknownDescription)
	}
	if !a.has["masterName"] {
		unknown(segment.UnknownCustomersName)
	}
	if a.UpdatedBy != nil {
		p.Meta.UpdatedBy = a.UpdatedBy.Name
	}
	c.mu.Lock()
	p.Connection = c.connNames[p.ConnectionID]
	c.mu.Unlock()
	for _, at := range a.Attributes {
		x := segment.Attribute{Name: at.Name, Column: at.Column, Type: segment.IONType(at.Type), Group: at.GroupingName}
		for field, path := range map[string]string{"catalog": segment.UnknownCatalog, "groupingName": segment.UnknownGroup, "type": segment.UnknownType} {
			if !at.has[field] {
				unknown(segment.AttributePath(at.Name, path))
			}
		}
		t := segment.Table{Catalog: at.Catalog, Schema: at.Schema, Table: at.Table}
		if t.Catalog == "" {
			t.Catalog = catalog
		}
		if t != cust.Table || at.TableKey != cust.Key {
			x.Join = &segment.KeyedTable{Table: t, Key: at.TableKey}
		}
		p.Attributes = append(p.Attributes, x)
	}
	for _, bw := range a.Behaviors {
		t := segment.Table{Catalog: bw.Catalog, Schema: bw.Schema, Table: bw.Table}
		if t.Catalog == "" {
			t.Catalog = catalog
		}
		b := segment.Behavior{Name: bw.Name, Table: t, Key: bw.TableKey, Time: bw.TimeColumn, Columns: []segment.Column{}}
		if !bw.has["catalog"] {
			unknown(segment.BehaviorPath(bw.Name, segment.UnknownCatalog))
		}
		if !bw.has["timeColumn"] {
			unknown(segment.BehaviorPath(bw.Name, segment.UnknownTime))
		}
		for _, cm := range bw.ColumnMapping {
			col := segment.Column{Name: cm.Name, Type: segment.IONType(cm.Type)}
			if !cm.has["type"] {
				unknown(segment.ColumnPath(bw.Name, cm.Name, segment.UnknownType))
			}
			if cm.CDWColumn != cm.Name {
				col.Column = cm.CDWColumn
			}
			b.Columns = append(b.Columns, col)
		}
		p.Behaviors = append(p.Behaviors, b)
	}
	slices.Sort(p.Meta.Unknown)
	return p
}

func (c *Client) connectionFor(ctx context.Context, p *segment.Parent) (string, error) {
	if p.ConnectionID != "" {
		return p.ConnectionID, nil
	}
	if p.Connection == "" {
		return "", localError(http.MethodPost, "cas_upload", "parent segment %q names no connection", p.Name)
	}
	return c.ResolveConnection(ctx, p.Connection)
}

// CreateParent creates a composable parent segment with the CAS
// configuration upload and returns it as observed (with Meta.ID and
// RootFolderID). p.ConnectionID should be set; when it is empty,
// p.Connection is resolved. If the upload's outcome is unknown (no answer,
// 5xx) or the name is taken, the parent is looked up by name and returned
// when this client owns it.
func (c *Client) CreateParent(ctx context.Context, p *segment.Parent) (*segment.Parent, error) {
	connID, err := c.connectionFor(ctx, p)
	if err != nil {
		return nil, err
	}
	var out audienceWire
	var found *segment.Parent
	cl := call{endpoint: "cas_upload", method: http.MethodPost, url: c.o.CASURL + c.o.CASUploadPath,
		body: c.parentBody(p, connID), out: &out}
	err = c.create(ctx, cl, func(ctx context.Context) (bool, bool, error) {
		got, err := c.LookupParent(ctx, p.Name)
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
		return found, nil
	}
	if out.ID == "" {
		got, err := c.LookupParent(ctx, p.Name)
		if err != nil {
			return nil, err
		}
		if got == nil {
			return nil, &APIError{Reason: ReasonServer, Method: http.MethodPost, Endpoint: "cas_upload",
				Message: "the upload succeeded but the parent segment was not found by name"}
		}
		return got, nil
	}
	return c.GetParent(ctx, string(out.ID))
}

// GetParent reads a parent segment by id with GET /audiences/{id}.
func (c *Client) GetParent(ctx context.Context, id string) (*segment.Parent, error) {
	var a audienceWire
	err := c.do(ctx, call{endpoint: "audiences", method: http.MethodGet, url: c.cdp("/audiences/"+url.PathEscape(id), nil), out: &a, safe: true})
	if err != nil {
		return nil, err
	}
	p := c.toParent(&a)
	if p.RootFolderID == "" {
		if p.RootFolderID, err = c.rootFolder(ctx, id); err != nil {
			return nil, err
		}
	}
	return &p, nil
}

// rootFolder reads the root folder of a parent segment from the JSON:API
// parentSegment resource (relationship parentSegmentFolder): the
// documented source, used when GET /audiences/{id} leaves rootFolderId
// out. A parent's root folder never changes, so the answer is kept.
func (c *Client) rootFolder(ctx context.Context, id string) (string, error) {
	c.mu.Lock()
	root, ok := c.roots[id]
	c.mu.Unlock()
	if ok {
		return root, nil
	}
	var doc struct {
		Data resource `json:"data"`
	}
	err := c.do(ctx, call{endpoint: "parent_segments", method: http.MethodGet, jsonAPI: true,
		url: c.cdp("/entities/parent_segments/"+url.PathEscape(id), nil), out: &doc, safe: true})
	if err != nil {
		return "", err
	}
	root = doc.Data.Relationships.ParentSegmentFolder.id()
	if root == "" {
		return "", &APIError{Reason: ReasonServer, Method: http.MethodGet, Endpoint: "parent_segments",
			Message: "parent segment " + id + " has no root folder (neither rootFolderId nor relationships.parentSegmentFolder)"}
	}
	c.mu.Lock()
	c.roots[id] = root
	c.mu.Unlock()
	return root, nil
}

// listParents lists every parent segment (summaries only) with
// GET /audiences.
func (c *Client) listParents(ctx context.Context) ([]audienceWire, error) {
	var list []audienceWire
	err := c.do(ctx, call{endpoint: "audiences", method: http.MethodGet, url: c.cdp("/audiences", nil), out: &list, safe: true})
	return list, err
}

// LookupParent finds a parent segment by name; it returns nil, nil when
// there is none.
func (c *Client) LookupParent(ctx context.Context, name string) (*segment.Parent, error) {
	list, err := c.listParents(ctx)
	if err != nil {
		return nil, err
	}
	for _, a := range list {
		if a.Name == name {
			return c.GetParent(ctx, string(a.ID))
		}
	}
	return nil, nil
}

// UpdateParent replaces a parent segment with PUT /audiences/{id}. The body
// includes master, so attributes and behaviors are replaced entirely (and
// get new ids). It returns the parent as observed afterwards.
func (c *Client) UpdateParent(ctx context.Context, id string, p *segment.Parent) (*segment.Parent, error) {
	connID, err := c.connectionFor(ctx, p)
	if err != nil {
		return nil, err
	}
	c.forgetParent(id)
	var out audienceWire
	err = c.do(ctx, call{endpoint: "audiences", method: http.MethodPut, url: c.cdp("/audiences/"+url.PathEscape(id), nil),
		body: c.parentBody(p, connID), out: &out, safe: true})
	if err != nil {
		return nil, err
	}
	if out.ID == "" || out.RootFolderID == "" || out.Attributes == nil {
		return c.GetParent(ctx, id)
	}
	got := c.toParent(&out)
	return &got, nil
}

// DeleteParent deletes a parent segment with DELETE /audiences/{id}.
func (c *Client) DeleteParent(ctx context.Context, id string) error {
	c.forgetParent(id)
	return c.do(ctx, call{endpoint: "audiences", method: http.MethodDelete, url: c.cdp("/audiences/"+url.PathEscape(id), nil),
		safe: true, goneOK: true})
}

// ParentNames lists the names of every parent segment the API key may see,
// with GET /audiences (one request, summaries only).
func (c *Client) ParentNames(ctx context.Context) ([]string, error) {
	list, err := c.listParents(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(list))
	for i, a := range list {
		names[i] = a.Name
	}
	return names, nil
}
