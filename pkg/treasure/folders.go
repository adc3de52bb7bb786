package treasure

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

type folderAttrs struct {
	AudienceID  wireID  `json:"audienceId"`
	Name        string  `json:"name"`
	Description *string `json:"description"`
	CreatedAt   string  `json:"createdAt"`
	UpdatedAt   string  `json:"updatedAt"`
}

// toFolder converts an observed folder resource; Parent and Path are left
// for the caller, who knows the tree.
func toFolder(r *resource, us map[string]string) (segment.Folder, folderAttrs) {
	var a folderAttrs
	_ = json.Unmarshal(r.Attributes, &a)
	desc := ""
	if a.Description != nil {
		desc = *a.Description
	}
	clean, mk := splitMarker(desc)
	return segment.Folder{Description: clean, ParentFolderID: r.parentFolder(),
		Meta: segment.Meta{ID: string(r.ID), Owned: mk.owned, OwnerSource: mk.owner, Fingerprint: mk.fingerprint, CreatedAt: parseTime(a.CreatedAt),
			UpdatedAt: parseTime(a.UpdatedAt), UpdatedBy: r.updatedBy(us)}}, a
}

func (c *Client) isFolder(r *resource) bool { return r.Type == c.o.FolderType || r.Type == "folder" }

// listFolder lists folderID and its descendants to depth with
// GET /entities/by-folder/{id} (rules left out).
func (c *Client) listFolder(ctx context.Context, folderID string, depth int) (*listDocument, error) {
	var doc listDocument
	q := url.Values{"depth": {strconv.Itoa(depth)}, "with_rule": {"false"}}
	err := c.do(ctx, call{endpoint: "by_folder", method: http.MethodGet, jsonAPI: true,
		url: c.cdp("/entities/by-folder/"+url.PathEscape(folderID), q), out: &doc, safe: true})
	return &doc, err
}

// childFolder finds the folder called name directly in parentFolderID.
func (c *Client) childFolder(ctx context.Context, parentFolderID, name string) (*segment.Folder, error) {
	doc, err := c.listFolder(ctx, parentFolderID, 1)
	if err != nil {
		return nil, err
	}
	us := users(doc.Included)
	for i := range doc.Data {
		r := &doc.Data[i]
		if !c.isFolder(r) || r.parentFolder() != parentFolderID {
			continue
		}
		f, a := toFolder(r, us)
		if a.Name == name {
			return &f, nil
		}
	}
	return nil, nil
}

func (c *Client) folderBody(id string, f *segment.Folder, parentFolderID string) map[string]any {
	b := map[string]any{"type": c.o.FolderType,
		"attributes": map[string]any{"name": f.Name(), "description": withMarker(f.Description, c.o.Owner, f.Meta.Fingerprint)}}
	if id != "" {
		b["id"] = id
	}
	if parentFolderID != "" {
		b["relationships"] = map[string]any{"parentFolder": relTo(parentFolderID, c.o.FolderType)}
	}
	return b
}

// CreateFolder creates folder f (named by the last element of f.Path) in
// parentFolderID, a folder of parent segment parentID, with
// POST /entities/folders. The result carries f's Parent and Path. An
// ambiguous failure or a taken name leads to a lookup by name, as for every
// create.
func (c *Client) CreateFolder(ctx context.Context, parentID, parentFolderID string, f *segment.Folder) (*segment.Folder, error) {
	var doc document
	var found *segment.Folder
	cl := call{endpoint: "folders", method: http.MethodPost, jsonAPI: true, url: c.cdp("/entities/folders", nil),
		body: c.folderBody("", f, parentFolderID), out: &doc}
	err := c.create(ctx, cl, func(ctx context.Context) (bool, bool, error) {
		got, err := c.childFolder(ctx, parentFolderID, f.Name())
		if err != nil || got == nil {
			return false, false, err
		}
		found = got
		return true, got.Meta.Owned && got.Meta.OwnerSource == c.o.Owner, nil
	})
	if err != nil {
		return nil, err
	}
	var got segment.Folder
	if found != nil {
		got = *found
	} else {
		got, _ = toFolder(&doc.Data, users(doc.Included))
	}
	got.Parent, got.Path = f.Parent, f.Path
	_ = parentID // the API infers the parent segment from the parent folder
	return &got, nil
}

// UpdateFolder changes a folder's name (last element of f.Path) and
// description with PATCH /entities/folders/{id}; when f.ParentFolderID is
// set the folder is also moved there.
func (c *Client) UpdateFolder(ctx context.Context, id string, f *segment.Folder) (*segment.Folder, error) {
	var doc document
	err := c.do(ctx, call{endpoint: "folders", method: http.MethodPatch, jsonAPI: true,
		url: c.cdp("/entities/folders/"+url.PathEscape(id), nil), body: c.folderBody(id, f, f.ParentFolderID), out: &doc, safe: true})
	if err != nil {
		return nil, err
	}
	got, _ := toFolder(&doc.Data, users(doc.Included))
	got.Parent, got.Path = f.Parent, f.Path
	return &got, nil
}

// DeleteFolder deletes an empty folder with DELETE /entities/folders/{id}.
// A folder that still holds folders or segments is refused with a
// ReasonConflict error.
func (c *Client) DeleteFolder(ctx context.Context, id string) error {
	return c.do(ctx, call{endpoint: "folders", method: http.MethodDelete, jsonAPI: true,
		url: c.cdp("/entities/folders/"+url.PathEscape(id), nil), safe: true, goneOK: true})
}
