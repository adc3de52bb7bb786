package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"

	"github.com/cas-reconciler/reconciler/pkg/diag"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// The *Doc types mirror the JSON of a file's objects after unification with
// the schema, so defaults are already filled in.

type tableDoc struct {
	Catalog string `json:"catalog"`
	Schema  string `json:"schema"`
	Table   string `json:"table"`
	Key     string `json:"key,omitempty"`
	Name    string `json:"name,omitempty"`
}

type parentDoc struct {
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Timezone    string            `json:"timezone"`
	Connection  string            `json:"connection"`
	Customers   tableDoc          `json:"customers"`
	Attributes  orderedObject     `json:"attributes"`
	Behaviors   orderedObject     `json:"behaviors,omitempty"`
	Lifecycle   segment.Lifecycle `json:"lifecycle,omitzero"`
}

type attributeDoc struct {
	Name   string    `json:"name"`
	Column string    `json:"column"`
	Type   string    `json:"type,omitempty"`
	Join   *tableDoc `json:"join,omitempty"`
	Group  string    `json:"group,omitempty"`
}

type behaviorDoc struct {
	Name    string        `json:"name"`
	Table   tableDoc      `json:"table"`
	Key     string        `json:"key"`
	Time    string        `json:"time"`
	Columns orderedObject `json:"columns"`
}

type columnDoc struct {
	Name   string `json:"name"`
	Column string `json:"column"`
	Type   string `json:"type,omitempty"`
}

type folderDoc struct {
	Path        string            `json:"path"`
	Parent      string            `json:"parent,omitempty"`
	Description string            `json:"description,omitempty"`
	Lifecycle   segment.Lifecycle `json:"lifecycle,omitzero"`
	RenamedFrom []string          `json:"renamedFrom,omitempty"`
}

type segmentDoc struct {
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Parent      string            `json:"parent,omitempty"`
	Folder      string            `json:"folder,omitempty"`
	Kind        string            `json:"kind"`
	Where       []whereDoc        `json:"where,omitempty"`
	Match       string            `json:"match,omitempty"`
	Limit       *segment.Limit    `json:"limit,omitempty"`
	Rule        *segment.Rule     `json:"rule,omitempty"`
	Lifecycle   segment.Lifecycle `json:"lifecycle,omitzero"`
	RenamedFrom []string          `json:"renamedFrom,omitempty"`
	Activations *orderedObject    `json:"activations,omitempty"`
}

type activationDoc struct {
	Connection      string                     `json:"connection"`
	Description     string                     `json:"description,omitempty"`
	AllColumns      bool                       `json:"allColumns,omitempty"`
	Columns         []string                   `json:"columns,omitempty"`
	Schedule        segment.Schedule           `json:"schedule"`
	ConnectorConfig map[string]json.RawMessage `json:"connectorConfig,omitempty"`
	Notify          segment.Notify             `json:"notify,omitzero"`
	Lifecycle       segment.Lifecycle          `json:"lifecycle,omitzero"`
}

// member is one field of a JSON object, in source order.
type member struct {
	Key   string
	Value json.RawMessage
}

// orderedObject is a JSON object whose field order matters.
type orderedObject []member

// UnmarshalJSON keeps the members in order.
func (o *orderedObject) UnmarshalJSON(b []byte) error {
	*o = nil
	dec := json.NewDecoder(bytes.NewReader(b))
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if t == nil {
		return nil
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("expected an object")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		*o = append(*o, member{Key: t.(string), Value: raw})
	}
	return nil
}

// MarshalJSON writes the members in order.
func (o orderedObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(m.Key)
		b.Write(k)
		b.WriteByte(':')
		b.Write(m.Value)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// folderPathRE is #FolderPath of the schema.
var folderPathRE = regexp.MustCompile(`^[^/\s]([^/]*[^/\s])?(/[^/\s]([^/]*[^/\s])?)*$`)

// decoder turns the JSON of one file's objects into segment values.
type decoder struct {
	pos *positions
	res *fileResult
}

func (d *decoder) errorf(at diag.Pos, code, format string, args ...any) *diag.Diagnostic {
	d.res.diags = append(d.res.diags, diag.Errorf(at, code, format, args...))
	return &d.res.diags[len(d.res.diags)-1]
}

func (d *decoder) invalid(section, key string) {
	switch section {
	case "parents":
		d.res.invalidParents = append(d.res.invalidParents, key)
	case "segments":
		d.res.invalidSegments = append(d.res.invalidSegments, key)
	}
}

func (d *decoder) decode(section, key string, b []byte) {
	path := pathString(section, key)
	var err error
	switch section {
	case "parents":
		err = d.parent(path, key, b)
	case "folders":
		err = d.folder(path, key, b)
	case "segments":
		err = d.segment(path, key, b)
	}
	if err != nil {
		d.errorf(d.pos.label(path), "decode", "%s %q cannot be decoded: %v", section[:len(section)-1], key, err)
		d.invalid(section, key)
	}
}

func (d *decoder) parent(path, key string, b []byte) error {
	var doc parentDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return err
	}
	if doc.Name == "" {
		doc.Name = key
	}
	p := segment.Parent{
		Name:          doc.Name,
		Description:   doc.Description,
		Timezone:      doc.Timezone,
		Connection:    doc.Connection,
		Customers:     segment.KeyedTable{Table: segment.Table{Catalog: doc.Customers.Catalog, Schema: doc.Customers.Schema, Table: doc.Customers.Table}, Key: doc.Customers.Key},
		CustomersName: doc.Customers.Name,
		Lifecycle:     doc.Lifecycle,
		Origin: d.pos.origin(path, "name", "timezone", "connection", "customers", "customers.catalog",
			"customers.schema", "customers.table", "customers.key", "attributes", "behaviors"),
	}
	if p.CustomersName == "" {
		p.CustomersName = p.Customers.Table.Table
	}
	for _, m := range doc.Attributes {
		var a attributeDoc
		if err := json.Unmarshal(m.Value, &a); err != nil {
			return fmt.Errorf("attribute %q: %w", m.Key, err)
		}
		ap := path + pathSep + "attributes" + pathSep + m.Key
		attr := segment.Attribute{Name: a.Name, Column: a.Column, Type: segment.IONType(a.Type), Group: a.Group,
			Origin: d.pos.origin(ap, "column", "type", "join", "join.catalog", "join.schema", "join.table", "join.key")}
		if a.Join != nil {
			attr.Join = &segment.KeyedTable{Table: segment.Table{Catalog: a.Join.Catalog, Schema: a.Join.Schema, Table: a.Join.Table}, Key: a.Join.Key}
		}
		p.Attributes = append(p.Attributes, attr)
	}
	for _, m := range doc.Behaviors {
		var bd behaviorDoc
		if err := json.Unmarshal(m.Value, &bd); err != nil {
			return fmt.Errorf("behavior %q: %w", m.Key, err)
		}
		bp := path + pathSep + "behaviors" + pathSep + m.Key
		beh := segment.Behavior{Name: bd.Name,
			Table:  segment.Table{Catalog: bd.Table.Catalog, Schema: bd.Table.Schema, Table: bd.Table.Table},
			Key:    bd.Key,
			Time:   bd.Time,
			Origin: d.pos.origin(bp, "table", "table.catalog", "table.schema", "table.table", "key", "time", "columns"),
		}
		for _, cm := range bd.Columns {
			var c columnDoc
			if err := json.Unmarshal(cm.Value, &c); err != nil {
				return fmt.Errorf("behavior %q column %q: %w", m.Key, cm.Key, err)
			}
			cp := bp + pathSep + "columns" + pathSep + cm.Key
			beh.Columns = append(beh.Columns, segment.Column{Name: c.Name, Column: c.Column, Type: segment.IONType(c.Type),
				Origin: d.pos.origin(cp, "column", "type")})
		}
		p.Behaviors = append(p.Behaviors, beh)
	}
	d.res.parents = append(d.res.parents, p)
	return nil
}

func (d *decoder) folder(path, key string, b []byte) error {
	var doc folderDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return err
	}
	if doc.Path == "" {
		doc.Path = key
	}
	if !folderPathRE.MatchString(doc.Path) {
		d.errorf(d.pos.label(path), "folder-path", "invalid folder path %q", doc.Path).
			Detail = "write folder names separated by single slashes, without leading or trailing spaces or slashes, as in \"Marketing/VIP\""
		return nil
	}
	d.res.folders = append(d.res.folders, segment.Folder{
		Parent: doc.Parent, Path: doc.Path, Description: doc.Description, Lifecycle: doc.Lifecycle,
		RenamedFrom: doc.RenamedFrom,
		Origin:      d.pos.origin(path, "parent", "path", "description", "renamedFrom"),
	})
	return nil
}

func (d *decoder) segment(path, key string, b []byte) error {
	var doc segmentDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return err
	}
	var broken brokenParts
	s, ok := d.segmentFrom(path, key, &doc, &broken)
	switch {
	case !ok:
	case broken.sets != nil:
		// Some short conditions could not be expanded: the segment is
		// invalid, and the others are still checked.
		d.invalid("segments", key)
		d.res.partial = append(d.res.partial, partialSegment{seg: s, broken: &broken})
	default:
		d.res.segments = append(d.res.segments, s)
	}
	return nil
}

// segmentFrom builds a segment from its document. Short conditions listed in
// broken.where are left out; when other short conditions cannot be
// expanded, their problems are reported and broken.sets is set (to mark
// the condition set empty when none is left). It returns false when the
// segment cannot be checked at all.
func (d *decoder) segmentFrom(path, key string, doc *segmentDoc, broken *brokenParts) (segment.Segment, bool) {
	if doc.Name == "" {
		doc.Name = key
	}
	if doc.Kind == "" {
		doc.Kind = string(segment.Batch)
	}
	s := segment.Segment{
		Name: doc.Name, Description: doc.Description, Parent: doc.Parent, Folder: doc.Folder,
		Kind: segment.Kind(doc.Kind), Lifecycle: doc.Lifecycle, RenamedFrom: doc.RenamedFrom,
		Origin: d.pos.origin(path, "name", "parent", "folder", "kind", "where", "rule", "limit", "renamedFrom"),
	}
	if doc.Activations != nil {
		s.HasActivations = true
		for _, m := range *doc.Activations {
			if a, ok := d.activation(path+pathSep+"activations"+pathSep+m.Key, &s, m); ok {
				s.Activations = append(s.Activations, a)
			}
		}
	}
	switch {
	case doc.Rule != nil && doc.Where != nil:
		d.errorf(d.pos.label(path+pathSep+"where"), "rule-form",
			"segment %q has both where and rule", key).
			Detail = "write the rule in short form (where) or in full v5 form (rule), not both"
		return s, false
	case doc.Rule != nil:
		s.Rule = *doc.Rule
		d.ruleOrigins(&s.Rule, path+pathSep+"rule")
		if doc.Limit != nil {
			d.errorf(d.pos.label(path+pathSep+"limit"), "rule-form",
				"segment %q: limit applies to the short form only", key).
				Detail = "with a full v5 rule, set rule.limit instead"
		}
	case doc.Where != nil:
		w := whereExpander{d: d, path: path + pathSep + "where", skip: broken.where}
		n := len(d.res.diags)
		s.Rule = w.expand(doc.Where, doc.Match, doc.Limit)
		if len(d.res.diags) > n && broken.sets == nil {
			broken.sets = map[int]bool{}
		}
		if len(s.Rule.Conditions) == 1 && len(s.Rule.Conditions[0].Conditions) == 0 && (len(d.res.diags) > n || len(broken.where) > 0) {
			broken.sets[0] = true
		}
		s.Rule.Origin = d.pos.origin(path + pathSep + "where")
	default:
		s.Rule.Origin = d.pos.origin(path)
	}
	return s, true
}

// ruleOrigins fills the Origins of a full v5 rule from the positions of its
// JSON paths.
func (d *decoder) ruleOrigins(r *segment.Rule, path string) {
	r.Origin = d.pos.origin(path, "type", "expr", "conditions", "limit")
	for i := range r.Conditions {
		cs := &r.Conditions[i]
		csp := path + pathSep + "conditions" + pathSep + strconv.Itoa(i)
		cs.Origin = d.pos.origin(csp, "type", "expr", "conditions")
		for j := range cs.Conditions {
			c := &cs.Conditions[j]
			cp := csp + pathSep + "conditions" + pathSep + strconv.Itoa(j)
			c.Origin = d.pos.origin(cp, "type", "segment", "id", "arrayMatching", "exclude")
			if c.LeftValue != nil {
				lp := cp + pathSep + "leftValue"
				c.LeftValue.Origin = d.pos.origin(lp, "name", "source", "source.name", "window")
				if c.LeftValue.Aggregation != nil {
					c.LeftValue.Aggregation.Origin = d.pos.origin(lp+pathSep+"aggregation", "type", "column", "columns", "orderColumn", "groupingColumns")
				}
				if c.LeftValue.Filter != nil {
					d.filterOrigins(c.LeftValue.Filter, lp+pathSep+"filter")
				}
			}
			if c.Operator != nil {
				d.operatorOrigins(c.Operator, cp+pathSep+"operator")
			}
		}
	}
}

func (d *decoder) filterOrigins(f *segment.Filter, path string) {
	f.Origin = d.pos.origin(path, "type", "column")
	if f.Operator != nil {
		d.operatorOrigins(f.Operator, path+pathSep+"operator")
	}
	for i := range f.Conditions {
		d.filterOrigins(&f.Conditions[i], path+pathSep+"conditions"+pathSep+strconv.Itoa(i))
	}
}

func (d *decoder) operatorOrigins(o *segment.Operator, path string) {
	o.Origin = d.pos.origin(path, "type", "rightValue", "rightValues", "minValue", "maxValue", "value", "unit")
}

// activation decodes one activation of segment s. Problems are reported;
// it returns false when the activation cannot be used at all.
func (d *decoder) activation(path string, s *segment.Segment, m member) (segment.Activation, bool) {
	var doc activationDoc
	a := segment.Activation{Parent: s.Parent, Segment: s.Name, Name: m.Key,
		Origin: d.pos.origin(path, "connection", "allColumns", "columns", "schedule", "schedule.repeat",
			"schedule.every", "schedule.weekdays", "schedule.startAt", "schedule.endOn", "schedule.timezone",
			"connectorConfig", "notify")}
	if err := json.Unmarshal(m.Value, &doc); err != nil {
		d.errorf(a.Origin.Pos, "decode", "activation %q of segment %q cannot be decoded: %v", m.Key, s.Name, err)
		return a, false
	}
	a.Connection, a.Description, a.AllColumns, a.Columns = doc.Connection, doc.Description, doc.AllColumns, doc.Columns
	a.Schedule, a.Notify, a.Lifecycle = doc.Schedule, doc.Notify, doc.Lifecycle
	for i := range a.Columns {
		a.Origin.SetField("columns."+strconv.Itoa(i), d.pos.value(path+pathSep+"columns"+pathSep+strconv.Itoa(i)))
	}
	ok := true
	if len(doc.ConnectorConfig) > 0 {
		a.ConnectorConfig = make(map[string]segment.ConfigValue, len(doc.ConnectorConfig))
	}
	// In key order: the origin's field list and the diagnostics come out
	// the same for every evaluation of the file.
	for _, k := range slices.Sorted(maps.Keys(doc.ConnectorConfig)) {
		raw := doc.ConnectorConfig[k]
		at := d.pos.value(path + pathSep + "connectorConfig" + pathSep + k)
		a.Origin.SetField("connectorConfig."+k, at)
		v, isRef := configValue(raw)
		if segment.SecretKey(k) && !isRef {
			// The schema says so too; checked here as well so that the
			// value never reaches the state.
			d.errorf(at, "activation-secret", "activation %q: connectorConfig.%s holds a secret and must be a reference", m.Key, k).
				Detail = "write {env: \"NAME\"} or {file: \"path\"}; the value is read when the activation is written"
			ok = false
			continue
		}
		a.ConnectorConfig[k] = v
	}
	return a, ok
}

// configValue reads a connector setting: a reference {env} or {file}, or
// a literal kept as compact JSON.
func configValue(raw json.RawMessage) (segment.ConfigValue, bool) {
	var ref struct {
		Env  string `json:"env"`
		File string `json:"file"`
	}
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '{' {
		var keys map[string]json.RawMessage
		if json.Unmarshal(t, &keys) == nil && len(keys) == 1 && json.Unmarshal(t, &ref) == nil && (ref.Env != "" || ref.File != "") {
			return segment.ConfigValue{Env: ref.Env, File: ref.File}, true
		}
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return segment.ConfigValue{Value: string(raw)}, false
	}
	return segment.ConfigValue{Value: b.String()}, false
}
