package spec

import (
	"strconv"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/token"

	"github.com/cas-reconciler/reconciler/pkg/diag"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// posPair is where a value was written: the label of the field that holds it
// (or the list element) and the value itself.
type posPair struct {
	label, value token.Pos
}

// positions maps field paths of one file ("segments/VIP/where/0/atLeast",
// elements joined by pathSep) to where they were written. It is read from the
// syntax tree, so it only knows values written literally, which is what
// authors do; anything else falls back to the nearest enclosing value.
type positions struct {
	file string
	m    map[string]posPair
}

// pathSep joins path elements; it cannot occur in a CUE label read from a
// file without escaping.
const pathSep = "\x00"

func joinPath(elems ...string) string { return strings.Join(elems, pathSep) }

func newPositions(file string, f *ast.File) *positions {
	p := &positions{file: file, m: map[string]posPair{}}
	if f != nil {
		p.decls("", f.Decls)
	}
	return p
}

func (p *positions) add(path string, pp posPair) {
	if _, ok := p.m[path]; !ok {
		p.m[path] = pp
	}
}

func (p *positions) decls(prefix string, decls []ast.Decl) {
	for _, d := range decls {
		switch d := d.(type) {
		case *ast.Field:
			name, ok := labelName(d.Label)
			if !ok {
				continue
			}
			path := name
			if prefix != "" {
				path = prefix + pathSep + name
			}
			p.add(path, posPair{label: d.Label.Pos(), value: d.Value.Pos()})
			p.expr(path, d.Value)
		case *ast.EmbedDecl:
			p.expr(prefix, d.Expr)
		}
	}
}

func (p *positions) expr(path string, e ast.Expr) {
	switch e := e.(type) {
	case *ast.StructLit:
		p.decls(path, e.Elts)
	case *ast.ListLit:
		for i, el := range e.Elts {
			sub := path + pathSep + strconv.Itoa(i)
			p.add(sub, posPair{label: el.Pos(), value: el.Pos()})
			p.expr(sub, el)
		}
	case *ast.BinaryExpr:
		p.expr(path, e.X)
		p.expr(path, e.Y)
	case *ast.ParenExpr:
		p.expr(path, e.X)
	}
}

// labelName returns the name of a regular field label.
func labelName(l ast.Label) (string, bool) {
	switch l := l.(type) {
	case *ast.Ident:
		return l.Name, true
	case *ast.BasicLit:
		if l.Kind != token.STRING {
			return l.Value, l.Kind == token.INT
		}
		s, err := literal.Unquote(l.Value)
		return s, err == nil
	}
	return "", false
}

// toPos converts a CUE position, keeping the file name as given.
func toPos(file string, p token.Pos) diag.Pos {
	if !p.IsValid() {
		return diag.Pos{File: file}
	}
	return diag.Pos{File: file, Line: p.Line(), Col: p.Column()}
}

// value returns the position of the value at path, or of the nearest
// enclosing value written in the file, or the file itself.
func (p *positions) value(path string) diag.Pos {
	for {
		if pp, ok := p.m[path]; ok {
			return toPos(p.file, pp.value)
		}
		i := strings.LastIndex(path, pathSep)
		if i < 0 {
			return diag.Pos{File: p.file, Line: 1, Col: 1}
		}
		path = path[:i]
	}
}

// label returns the position of the label of the field at path (the element
// for list elements), falling back like value.
func (p *positions) label(path string) diag.Pos {
	if pp, ok := p.m[path]; ok {
		return toPos(p.file, pp.label)
	}
	return p.value(path)
}

// has reports whether the value at path was written in the file.
func (p *positions) has(path string) bool {
	_, ok := p.m[path]
	return ok
}

// origin returns the Origin of the value at path, with the positions of the
// named fields that were written in the file. A field name may be dotted
// ("table.catalog").
func (p *positions) origin(path string, fields ...string) segment.Origin {
	o := segment.Origin{Pos: p.label(path)}
	for _, f := range fields {
		p.field(&o, f, path, f)
	}
	return o
}

// field records in o, under name, the position of the value at path/rel if
// it was written in the file.
func (p *positions) field(o *segment.Origin, name, path, rel string) {
	full := path + pathSep + strings.ReplaceAll(rel, ".", pathSep)
	if !p.has(full) {
		return
	}
	o.SetField(name, p.value(full))
}
