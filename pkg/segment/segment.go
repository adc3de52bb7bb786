package segment

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cas-reconciler/reconciler/pkg/diag"
)

// IONType is a Treasure Data column type ("ION type").
type IONType string

// The ION types a composable parent segment may declare.
const (
	String      IONType = "string"
	Number      IONType = "number"
	Boolean     IONType = "boolean"
	Date        IONType = "date"
	Timestamp   IONType = "timestamp"
	StringArray IONType = "string_array"
	NumberArray IONType = "number_array"
)

// IONTypes lists every valid IONType.
var IONTypes = []IONType{String, Number, Boolean, Date, Timestamp, StringArray, NumberArray}

// Valid reports whether t is one of IONTypes.
func (t IONType) Valid() bool {
	for _, v := range IONTypes {
		if t == v {
			return true
		}
	}
	return false
}

// IsArray reports whether t is an array type.
func (t IONType) IsArray() bool { return t == StringArray || t == NumberArray }

// Origin records where a desired value was declared. The zero Origin means
// the value was not read from source (for example it was observed remotely).
type Origin struct {
	// Pos is the position of the value itself (its struct or list element).
	Pos diag.Pos
	// Fields holds the positions of the value's fields by field path
	// relative to the value ("column", "table.catalog", "key"), at most one
	// per name. A short list rather than a map: desired state holds one
	// Origin per rule element, tens of thousands in a large repository.
	Fields []FieldPos
}

// FieldPos is the position of one field's value.
type FieldPos struct {
	Name string
	Pos  diag.Pos
}

// At returns the position of the named field, falling back to the position
// of the whole value when the field's own position is unknown.
func (o Origin) At(field string) diag.Pos {
	for _, f := range o.Fields {
		if f.Name == field && f.Pos.IsValid() {
			return f.Pos
		}
	}
	return o.Pos
}

// SetField records the position of the named field, replacing an earlier
// one.
func (o *Origin) SetField(name string, p diag.Pos) {
	for i := range o.Fields {
		if o.Fields[i].Name == name {
			o.Fields[i].Pos = p
			return
		}
	}
	o.Fields = append(o.Fields, FieldPos{Name: name, Pos: p})
}

// Meta is what Treasure Data reports about an object it stores. Desired
// values have the zero Meta.
type Meta struct {
	// ID is Treasure's id, a string of digits.
	ID string
	// Owned reports whether the object carries the reconciler's ownership
	// marker, that is, whether the reconciler created or adopted it.
	Owned bool
	// OwnerSource names the source that owns the object, when the marker
	// records it.
	OwnerSource string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// UpdatedBy is the display name of the last user that changed it.
	UpdatedBy string
	// Unknown lists, as plan field paths ("customers_name",
	// "attributes.email.group", "behaviors.orders.catalog"), the fields
	// Treasure Data did not report for this observed object. Their values
	// here are placeholders: an unknown field is never a difference.
	Unknown []string
	// Fingerprint is, on observed values, the fingerprint of what the
	// reconciler last wrote, as its ownership marker records it (empty for
	// markers written without one); on a desired value handed to a write,
	// the fingerprint to record.
	Fingerprint string
}

// Known reports whether Treasure Data reported the field at path.
func (m Meta) Known(path string) bool { return !slices.Contains(m.Unknown, path) }

// Lifecycle holds per-object safety switches, as set by the author.
type Lifecycle struct {
	// PreventDestroy keeps the object when it disappears from the repository:
	// it is never pruned, only reported.
	PreventDestroy bool `json:"preventDestroy,omitempty"`
	// Adopt lets the reconciler take over an existing object of the same name
	// that no source owns. Without it such an object is reported as a
	// conflict and left alone.
	Adopt bool `json:"-"`
	// AdoptFrom names the one other source whose object of the same name
	// the reconciler may take over (lifecycle.adopt: {from: "<owner>"}).
	// It implies Adopt. An object owned by any other source is never taken
	// without it.
	AdoptFrom string `json:"-"`
}

// lifecycleJSON is Lifecycle as written: adopt is true or {from: owner}.
type lifecycleJSON struct {
	PreventDestroy bool            `json:"preventDestroy,omitempty"`
	Adopt          json.RawMessage `json:"adopt,omitempty"`
}

type adoptFromJSON struct {
	From string `json:"from"`
}

// UnmarshalJSON reads adopt as a bool or as {from: "<owner>"}.
func (l *Lifecycle) UnmarshalJSON(b []byte) error {
	var raw lifecycleJSON
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*l = Lifecycle{PreventDestroy: raw.PreventDestroy}
	a := bytes.TrimSpace(raw.Adopt)
	switch {
	case len(a) == 0 || bytes.Equal(a, []byte("null")):
	case a[0] == '{':
		var from adoptFromJSON
		if err := json.Unmarshal(a, &from); err != nil {
			return fmt.Errorf("lifecycle.adopt: %w", err)
		}
		if from.From == "" {
			return errors.New("lifecycle.adopt.from: a source name is required")
		}
		l.Adopt, l.AdoptFrom = true, from.From
	default:
		if err := json.Unmarshal(a, &l.Adopt); err != nil {
			return fmt.Errorf("lifecycle.adopt: %w", err)
		}
	}
	return nil
}

// MarshalJSON writes adopt as UnmarshalJSON reads it.
func (l Lifecycle) MarshalJSON() ([]byte, error) {
	out := lifecycleJSON{PreventDestroy: l.PreventDestroy}
	var err error
	switch {
	case l.AdoptFrom != "":
		out.Adopt, err = json.Marshal(adoptFromJSON{From: l.AdoptFrom})
	case l.Adopt:
		out.Adopt = json.RawMessage("true")
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

// Table names a table in Unity Catalog.
type Table struct {
	Catalog string `json:"catalog"`
	Schema  string `json:"schema"`
	Table   string `json:"table"`
}

// String returns "catalog.schema.table".
func (t Table) String() string { return t.Catalog + "." + t.Schema + "." + t.Table }

// IsZero reports whether no part of the name is set.
func (t Table) IsZero() bool { return t == Table{} }

// Parent is a composable parent segment on Databricks: one Customers table
// with a unique key, attributes drawn from it (or from tables joined on the
// key), and behavior tables of activity rows.
type Parent struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Timezone is an IANA zone name used for time-based rule operators.
	Timezone string `json:"timezone"`
	// Connection is the name of the Databricks connection (authentication)
	// in Treasure Data. It is resolved to ConnectionID before planning.
	Connection string `json:"connection"`
	// ConnectionID is Treasure's id of Connection: as observed, or, on
	// desired values, as resolved from Connection before planning (empty
	// when not resolved).
	ConnectionID string `json:"-"`
	// Customers is the Customers table (one row per profile) and its unique
	// profile key column.
	Customers KeyedTable `json:"customers"`
	// CustomersName is the display name of the Customers table in Treasure
	// (the master "name"); it defaults to the table name.
	CustomersName string      `json:"customersName,omitempty"`
	Attributes    []Attribute `json:"attributes"`
	Behaviors     []Behavior  `json:"behaviors"`
	Lifecycle     Lifecycle   `json:"lifecycle,omitzero"`

	// RootFolderID is the id of the parent segment's root folder; only set on
	// observed values.
	RootFolderID string `json:"-"`
	Meta         Meta   `json:"-"`
	Origin       Origin `json:"-"`
}

// Attribute returns the attribute with the given name.
func (p *Parent) Attribute(name string) (*Attribute, bool) {
	for i := range p.Attributes {
		if p.Attributes[i].Name == name {
			return &p.Attributes[i], true
		}
	}
	return nil, false
}

// Behavior returns the behavior with the given name.
func (p *Parent) Behavior(name string) (*Behavior, bool) {
	for i := range p.Behaviors {
		if p.Behaviors[i].Name == name {
			return &p.Behaviors[i], true
		}
	}
	return nil, false
}

// Attribute is a profile attribute: a column of the Customers table, or of
// another table joined to it on a key.
type Attribute struct {
	Name   string `json:"name"`
	Column string `json:"column"`
	// Type is the ION type. Empty means "fill from the warehouse".
	Type IONType `json:"type,omitempty"`
	// Join, when set, takes the column from another table whose Key column
	// matches the Customers key.
	Join *KeyedTable `json:"join,omitempty"`
	// Group is an optional display grouping in the segment builder.
	Group  string `json:"group,omitempty"`
	Origin Origin `json:"-"`
}

// KeyedTable is a table and the column in it that holds the customer key.
type KeyedTable struct {
	Table
	// Key is the column of this table that holds the customer key.
	Key string `json:"key"`
}

// Behavior is a table of activity rows for profiles.
type Behavior struct {
	Name  string `json:"name"`
	Table Table  `json:"table"`
	// Key is the column that links a row to the customer key.
	Key string `json:"key"`
	// Time is the event time column (TIMESTAMP, DATE or integer epoch).
	Time    string   `json:"time"`
	Columns []Column `json:"columns"`
	Origin  Origin   `json:"-"`
}

// Column returns the behavior column with the given name.
func (b *Behavior) Column(name string) (*Column, bool) {
	for i := range b.Columns {
		if b.Columns[i].Name == name {
			return &b.Columns[i], true
		}
	}
	return nil, false
}

// Column is a behavior column exposed to segment rules.
type Column struct {
	// Name is the name rules use.
	Name string `json:"name"`
	// Column is the warehouse column; it defaults to Name.
	Column string `json:"column,omitempty"`
	// Type is the ION type; empty means "fill from the warehouse".
	Type   IONType `json:"type,omitempty"`
	Origin Origin  `json:"-"`
}

// SourceColumn returns Column, or Name when Column is empty.
func (c Column) SourceColumn() string {
	if c.Column != "" {
		return c.Column
	}
	return c.Name
}

// Folder is a segment folder inside a parent segment's folder tree.
type Folder struct {
	// Parent is the parent segment's name.
	Parent string `json:"parent"`
	// Path is the slash-separated path below the parent segment's root
	// folder, such as "Marketing/VIP". It is never empty.
	Path        string    `json:"path"`
	Description string    `json:"description,omitempty"`
	Lifecycle   Lifecycle `json:"lifecycle,omitzero"`
	// RenamedFrom lists earlier paths of the folder (desired values only).
	RenamedFrom []string `json:"renamedFrom,omitempty"`

	// ParentFolderID is the id of the folder that contains this one; only
	// set on observed values.
	ParentFolderID string `json:"-"`
	Meta           Meta   `json:"-"`
	Origin         Origin `json:"-"`
}

// Name returns the last element of Path.
func (f Folder) Name() string {
	if i := strings.LastIndexByte(f.Path, '/'); i >= 0 {
		return f.Path[i+1:]
	}
	return f.Path
}

// ParentPath returns Path without its last element ("" for a top folder).
func (f Folder) ParentPath() string {
	if i := strings.LastIndexByte(f.Path, '/'); i >= 0 {
		return f.Path[:i]
	}
	return ""
}

// Kind is a segment kind.
type Kind string

// Segment kinds. Composable parent segments support batch segments only.
const (
	Batch Kind = "batch"
)

// Segment is an audience segment built on a parent segment.
type Segment struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Parent is the parent segment's name.
	Parent string `json:"parent"`
	// Folder is the folder path below the parent's root folder; empty means
	// the root folder itself.
	Folder    string    `json:"folder,omitempty"`
	Kind      Kind      `json:"kind"`
	Rule      Rule      `json:"rule"`
	Lifecycle Lifecycle `json:"lifecycle,omitzero"`
	// RenamedFrom lists earlier names of the segment (desired values only).
	RenamedFrom []string `json:"renamedFrom,omitempty"`
	// Activations are the segment's activations. They are managed only
	// when HasActivations is set: on desired values, when the segment
	// declares activations (even none); on observed values, when they were
	// listed.
	Activations    []Activation `json:"-"`
	HasActivations bool         `json:"-"`

	// FolderID is the id of the containing folder; only set on observed values.
	FolderID string `json:"-"`
	Meta     Meta   `json:"-"`
	Origin   Origin `json:"-"`
}

// Key identifies an object within a repository and within Treasure: the
// parent segment name plus the folder path or segment name.
type Key struct {
	Parent string
	Name   string
}

// String renders "parent/name".
func (k Key) String() string {
	if k.Name == "" {
		return k.Parent
	}
	return k.Parent + "/" + k.Name
}

// Key returns the segment's identity.
func (s *Segment) Key() Key { return Key{Parent: s.Parent, Name: s.Name} }

// Key returns the folder's identity.
func (f *Folder) Key() Key { return Key{Parent: f.Parent, Name: f.Path} }

// Key returns the parent segment's identity.
func (p *Parent) Key() Key { return Key{Parent: p.Name} }

// State is a complete set of objects: everything a repository declares, or
// everything observed in Treasure for the parent segments concerned.
type State struct {
	Parents  []Parent
	Folders  []Folder
	Segments []Segment
}
