package spec

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"unicode"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/parser"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// FormatOptions configure Format.
type FormatOptions struct {
	// Package is the CUE package name of the files; empty means "segments".
	Package string
}

// Format writes CUE files that Load reads back to st (Origins, Meta and the
// ids of references that name their segment aside). The layout is:
//
//	<parent>/parent.cue               the parent segment
//	<parent>/segments.cue             segments in the root folder
//	<parent>/<folder path>/segments.cue
//	                                  a folder's declaration (when it has a
//	                                  description or lifecycle, or holds no
//	                                  segment) and its segments
//
// where each directory name is the parent name or folder path element made
// safe for file systems (lowercase letters, digits, '-'). Rules are written
// in full v5 form, so nothing is lost. The map is keyed by slash-separated
// file path.
func Format(st segment.State, opts FormatOptions) (map[string][]byte, error) {
	pkg := opts.Package
	if pkg == "" {
		pkg = "segments"
	}
	if !ast.IsValidIdent(pkg) || strings.HasPrefix(pkg, "#") || strings.HasPrefix(pkg, "_") {
		return nil, fmt.Errorf("package name %q is not a CUE identifier", pkg)
	}
	f := formatter{files: map[string]*fileContent{}}
	for _, p := range st.Parents {
		b, err := json.Marshal(parentOut(p))
		if err != nil {
			return nil, fmt.Errorf("format parent %q: %w", p.Name, err)
		}
		fc := f.file(path.Join(slug(p.Name), "parent.cue"))
		fc.parents = append(fc.parents, member{Key: p.Name, Value: b})
	}
	implied := foldersOfSegments(st.Segments)
	for _, fo := range st.Folders {
		if fo.Description == "" && fo.Lifecycle == (segment.Lifecycle{}) && len(fo.RenamedFrom) == 0 && implied[fo.Key()] {
			continue
		}
		b, err := json.Marshal(folderOut{Parent: fo.Parent, Description: fo.Description, Lifecycle: lifecycleOut(fo.Lifecycle),
			RenamedFrom: fo.RenamedFrom})
		if err != nil {
			return nil, fmt.Errorf("format folder %q: %w", fo.Path, err)
		}
		fc := f.file(folderFile(fo.Parent, fo.Path))
		fc.folders = append(fc.folders, member{Key: fo.Path, Value: b})
	}
	for _, s := range st.Segments {
		if err := f.segment(s); err != nil {
			return nil, err
		}
	}
	return f.render(pkg)
}

// fileContent is what one written file declares, in order.
type fileContent struct {
	parents, folders, segments orderedObject
}

// formatter collects the objects of the written files by file name.
type formatter struct {
	files map[string]*fileContent
}

func (f *formatter) file(name string) *fileContent {
	if f.files[name] == nil {
		f.files[name] = &fileContent{}
	}
	return f.files[name]
}

// folderFile names the file of the folder's segments: one directory per
// folder below the parent segment's.
func folderFile(parent, folder string) string {
	dir := slug(parent)
	if folder != "" {
		for _, el := range strings.Split(folder, "/") {
			dir = path.Join(dir, slug(el))
		}
	}
	return path.Join(dir, "segments.cue")
}

// foldersOfSegments are the folders the segments' folder paths create, with
// every ancestor.
func foldersOfSegments(segs []segment.Segment) map[segment.Key]bool {
	implied := map[segment.Key]bool{}
	for _, s := range segs {
		for p := s.Folder; p != ""; {
			implied[segment.Key{Parent: s.Parent, Name: p}] = true
			i := strings.LastIndexByte(p, '/')
			if i < 0 {
				break
			}
			p = p[:i]
		}
	}
	return implied
}

// segment adds a segment, its rule with references by name and its
// activations, to the file of its folder.
func (f *formatter) segment(s segment.Segment) error {
	// Only the conditions' own fields change: the cheap copy will do.
	r := s.Rule.CopyConditions()
	for i := range r.Conditions {
		for j := range r.Conditions[i].Conditions {
			if c := &r.Conditions[i].Conditions[j]; c.Type == segment.ReferenceCondition && c.Segment != "" {
				c.ID = ""
			}
		}
	}
	rule, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("format segment %q: %w", s.Name, err)
	}
	out := segmentOut{Description: s.Description, Parent: s.Parent, Folder: s.Folder,
		Rule: rule, Lifecycle: lifecycleOut(s.Lifecycle), RenamedFrom: s.RenamedFrom}
	if s.HasActivations {
		acts := orderedObject{}
		for _, a := range s.Activations {
			ab, err := json.Marshal(activationOut(s, a))
			if err != nil {
				return fmt.Errorf("format activation %q of segment %q: %w", a.Name, s.Name, err)
			}
			acts = append(acts, member{Key: a.Name, Value: ab})
		}
		out.Activations = &acts
	}
	b, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("format segment %q: %w", s.Name, err)
	}
	fc := f.file(folderFile(s.Parent, s.Folder))
	fc.segments = append(fc.segments, member{Key: s.Name, Value: b})
	return nil
}

// render writes each file as CUE of package pkg.
func (f *formatter) render(pkg string) (map[string][]byte, error) {
	out := map[string][]byte{}
	for name, fc := range f.files {
		var top orderedObject
		for _, sec := range []struct {
			key string
			obj orderedObject
		}{{"parents", fc.parents}, {"folders", fc.folders}, {"segments", fc.segments}} {
			if len(sec.obj) > 0 {
				b, _ := sec.obj.MarshalJSON()
				top = append(top, member{Key: sec.key, Value: b})
			}
		}
		b, _ := top.MarshalJSON()
		src, err := jsonToCUE(pkg, b)
		if err != nil {
			return nil, fmt.Errorf("format %s: %w", name, err)
		}
		out[name] = src
	}
	return out, nil
}

// jsonToCUE renders a JSON object as the body of a CUE file.
func jsonToCUE(pkg string, b []byte) ([]byte, error) {
	expr, err := parser.ParseExpr("", b)
	if err != nil {
		return nil, err
	}
	st, ok := expr.(*ast.StructLit)
	if !ok {
		return nil, fmt.Errorf("not an object")
	}
	f := &ast.File{Decls: append([]ast.Decl{&ast.Package{Name: ast.NewIdent(pkg)}}, st.Elts...)}
	return format.Node(f, format.Simplify())
}

type lifecycleJSON = segment.Lifecycle

func lifecycleOut(l segment.Lifecycle) *lifecycleJSON {
	if l == (segment.Lifecycle{}) {
		return nil
	}
	return &l
}

type folderOut struct {
	Parent      string         `json:"parent"`
	Description string         `json:"description,omitempty"`
	Lifecycle   *lifecycleJSON `json:"lifecycle,omitempty"`
	RenamedFrom []string       `json:"renamedFrom,omitempty"`
}

type segmentOut struct {
	Description string          `json:"description,omitempty"`
	Parent      string          `json:"parent"`
	Folder      string          `json:"folder,omitempty"`
	Rule        json.RawMessage `json:"rule"`
	Lifecycle   *lifecycleJSON  `json:"lifecycle,omitempty"`
	RenamedFrom []string        `json:"renamedFrom,omitempty"`
	Activations *orderedObject  `json:"activations,omitempty"`
}

type activationJSON struct {
	Connection      string                     `json:"connection"`
	Description     string                     `json:"description,omitempty"`
	AllColumns      bool                       `json:"allColumns,omitempty"`
	Columns         []string                   `json:"columns,omitempty"`
	Schedule        segment.Schedule           `json:"schedule"`
	ConnectorConfig map[string]json.RawMessage `json:"connectorConfig,omitempty"`
	Notify          *segment.Notify            `json:"notify,omitempty"`
	Lifecycle       *lifecycleJSON             `json:"lifecycle,omitempty"`
}

// activationOut renders an activation as the schema reads it. A setting
// whose value Treasure keeps hidden (a secret) becomes a reference to an
// environment variable named after the segment, activation and setting,
// which the reconciler reads when it writes the activation.
func activationOut(s segment.Segment, a segment.Activation) activationJSON {
	out := activationJSON{Connection: a.Connection, Description: a.Description, AllColumns: a.AllColumns,
		Columns: a.Columns, Schedule: a.Schedule, Lifecycle: lifecycleOut(a.Lifecycle)}
	if !a.Notify.IsZero() {
		n := a.Notify
		out.Notify = &n
	}
	if r := out.Schedule.Repeat; r == segment.RepeatNone || r == segment.RepeatOnce || out.Schedule.Every == 1 {
		out.Schedule.Every = 0
	}
	for _, k := range a.ConfigKeys() {
		v := a.ConnectorConfig[k]
		var raw json.RawMessage
		switch {
		case v.Env != "":
			raw, _ = json.Marshal(map[string]string{"env": v.Env})
		case v.File != "":
			raw, _ = json.Marshal(map[string]string{"file": v.File})
		case v.Hidden:
			raw, _ = json.Marshal(map[string]string{"env": secretEnvName(s.Name, a.Name, k)})
		default:
			raw = json.RawMessage(v.Value)
		}
		if out.ConnectorConfig == nil {
			out.ConnectorConfig = map[string]json.RawMessage{}
		}
		out.ConnectorConfig[k] = raw
	}
	return out
}

// secretEnvName returns an environment variable name for a hidden setting:
// SECRET_<SEGMENT>_<ACTIVATION>_<KEY>, in capitals and underscores.
func secretEnvName(parts ...string) string {
	var b strings.Builder
	b.WriteString("SECRET")
	for _, p := range parts {
		b.WriteByte('_')
		last := '_'
		for _, r := range strings.ToUpper(p) {
			if r > unicode.MaxASCII || !(unicode.IsLetter(r) || unicode.IsDigit(r)) {
				r = '_'
			}
			if r == '_' && last == '_' {
				continue
			}
			b.WriteRune(r)
			last = r
		}
	}
	return strings.TrimRight(b.String(), "_")
}

type tableOut struct {
	Catalog string `json:"catalog,omitempty"`
	Schema  string `json:"schema,omitempty"`
	Table   string `json:"table,omitempty"`
	Key     string `json:"key,omitempty"`
}

type attributeOut struct {
	Column string    `json:"column,omitempty"`
	Type   string    `json:"type,omitempty"`
	Join   *tableOut `json:"join,omitempty"`
	Group  string    `json:"group,omitempty"`
}

type columnOut struct {
	Column string `json:"column,omitempty"`
	Type   string `json:"type,omitempty"`
}

type behaviorOut struct {
	Table   *tableOut     `json:"table,omitempty"`
	Key     string        `json:"key,omitempty"`
	Time    string        `json:"time"`
	Columns orderedObject `json:"columns"`
}

type parentJSON struct {
	Description string         `json:"description,omitempty"`
	Timezone    string         `json:"timezone,omitempty"`
	Connection  string         `json:"connection"`
	Customers   tableDoc       `json:"customers"`
	Attributes  orderedObject  `json:"attributes"`
	Behaviors   orderedObject  `json:"behaviors,omitempty"`
	Lifecycle   *lifecycleJSON `json:"lifecycle,omitempty"`
}

// parentOut leaves out what the schema fills by default.
func parentOut(p segment.Parent) parentJSON {
	cust := p.Customers
	out := parentJSON{
		Description: p.Description,
		Connection:  p.Connection,
		Customers:   tableDoc{Catalog: cust.Catalog, Schema: cust.Schema, Table: cust.Table.Table, Key: cust.Key},
		Lifecycle:   lifecycleOut(p.Lifecycle),
		Attributes:  orderedObject{},
	}
	if p.Timezone != "UTC" {
		out.Timezone = p.Timezone
	}
	if p.CustomersName != "" && p.CustomersName != cust.Table.Table {
		out.Customers.Name = p.CustomersName
	}
	sameOr := func(v, def string) string {
		if v == def {
			return ""
		}
		return v
	}
	for _, a := range p.Attributes {
		ao := attributeOut{Column: sameOr(a.Column, a.Name), Type: string(a.Type), Group: a.Group}
		if a.Join != nil {
			ao.Join = &tableOut{Catalog: sameOr(a.Join.Catalog, cust.Catalog), Schema: sameOr(a.Join.Schema, cust.Schema),
				Table: a.Join.Table.Table, Key: a.Join.Key}
		}
		b, _ := json.Marshal(ao)
		out.Attributes = append(out.Attributes, member{Key: a.Name, Value: b})
	}
	for _, bh := range p.Behaviors {
		bo := behaviorOut{Key: sameOr(bh.Key, cust.Key), Time: bh.Time, Columns: orderedObject{}}
		t := tableOut{Catalog: sameOr(bh.Table.Catalog, cust.Catalog), Schema: sameOr(bh.Table.Schema, cust.Schema),
			Table: sameOr(bh.Table.Table, bh.Name)}
		if t != (tableOut{}) {
			bo.Table = &t
		}
		for _, c := range bh.Columns {
			b, _ := json.Marshal(columnOut{Column: sameOr(c.SourceColumn(), c.Name), Type: string(c.Type)})
			bo.Columns = append(bo.Columns, member{Key: c.Name, Value: b})
		}
		b, _ := json.Marshal(bo)
		out.Behaviors = append(out.Behaviors, member{Key: bh.Name, Value: b})
	}
	return out
}

// slug makes a name safe as a directory name.
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) && r < unicode.MaxASCII || unicode.IsDigit(r) && r < unicode.MaxASCII {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	out := strings.TrimSuffix(b.String(), "-")
	switch out {
	case "":
		out = "x"
	case "testdata":
		out += "-" // Load skips testdata directories
	}
	return out
}
