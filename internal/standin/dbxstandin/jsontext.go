//go:build cgo

package dbxstandin

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"

	"github.com/duckdb/duckdb-go/v2"
)

// duckType is a parsed DuckDB result type name, enough to keep STRUCT
// fields in declaration order when rendering nested values as JSON.
type duckType struct {
	kind   byte // 'l' list/array, 's' struct, 'm' map, 0 scalar
	elem   *duckType
	key    *duckType
	fields []duckField
}

type duckField struct {
	name string
	typ  *duckType
}

// parseDuckType parses names such as "INTEGER[]", "VARCHAR[3]",
// `STRUCT("a b" INTEGER, c MAP(VARCHAR, DOUBLE))`. Unknown shapes parse as
// scalars, which only loses field order.
func parseDuckType(s string) *duckType {
	p := &duckTypeParser{s: s}
	return p.parse()
}

type duckTypeParser struct {
	s string
	i int
}

func (p *duckTypeParser) skip() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *duckTypeParser) name() string {
	p.skip()
	if p.i < len(p.s) && p.s[p.i] == '"' {
		var b strings.Builder
		p.i++
		for p.i < len(p.s) {
			if p.s[p.i] == '"' {
				if p.i+1 < len(p.s) && p.s[p.i+1] == '"' {
					b.WriteByte('"')
					p.i += 2
					continue
				}
				p.i++
				break
			}
			b.WriteByte(p.s[p.i])
			p.i++
		}
		return b.String()
	}
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != ' ' && p.s[p.i] != ',' && p.s[p.i] != ')' && p.s[p.i] != '(' && p.s[p.i] != '[' {
		p.i++
	}
	return p.s[start:p.i]
}

func (p *duckTypeParser) parse() *duckType {
	head := strings.ToUpper(p.name())
	t := &duckType{}
	if p.i < len(p.s) && p.s[p.i] == '(' {
		p.i++
		switch head {
		case "STRUCT":
			t.kind = 's'
			for p.i < len(p.s) && p.s[p.i] != ')' {
				n := p.name()
				t.fields = append(t.fields, duckField{name: n, typ: p.parse()})
				p.skip()
				if p.i < len(p.s) && p.s[p.i] == ',' {
					p.i++
				}
			}
		case "MAP":
			t.kind = 'm'
			t.key = p.parse()
			p.skip()
			if p.i < len(p.s) && p.s[p.i] == ',' {
				p.i++
			}
			t.elem = p.parse()
		default: // DECIMAL(p,s) and similar
			for p.i < len(p.s) && p.s[p.i] != ')' {
				p.i++
			}
		}
		p.skip()
		if p.i < len(p.s) && p.s[p.i] == ')' {
			p.i++
		}
	}
	for p.i < len(p.s) && p.s[p.i] == '[' {
		end := strings.IndexByte(p.s[p.i:], ']')
		if end < 0 {
			break
		}
		p.i += end + 1
		t = &duckType{kind: 'l', elem: t}
	}
	return t
}

// writeJSON renders a nested DuckDB value as JSON, keeping struct fields in
// declaration order and map entries in insertion order.
func writeJSON(b *bytes.Buffer, v any, t *duckType) {
	if v == nil {
		b.WriteString("null")
		return
	}
	if t == nil {
		t = &duckType{}
	}
	switch x := v.(type) {
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, e, t.elem)
		}
		b.WriteByte(']')
	case map[string]any:
		b.WriteByte('{')
		written := map[string]bool{}
		first := true
		emit := func(k string, e any, ft *duckType) {
			if !first {
				b.WriteByte(',')
			}
			first = false
			kb, _ := json.Marshal(k)
			b.Write(kb)
			b.WriteByte(':')
			writeJSON(b, e, ft)
		}
		for _, f := range t.fields {
			if e, ok := x[f.name]; ok {
				emit(f.name, e, f.typ)
				written[f.name] = true
			}
		}
		rest := make([]string, 0, len(x))
		for k := range x {
			if !written[k] {
				rest = append(rest, k)
			}
		}
		sort.Strings(rest)
		for _, k := range rest {
			emit(k, x[k], nil)
		}
		b.WriteByte('}')
	case duckdb.OrderedMap:
		keys, vals := x.Keys(), x.Values()
		b.WriteByte('{')
		for i := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			kb, _ := json.Marshal(scalarText(keys[i]))
			b.Write(kb)
			b.WriteByte(':')
			writeJSON(b, vals[i], t.elem)
		}
		b.WriteByte('}')
	case duckdb.Map:
		keys := make([]string, 0, len(x))
		vals := make(map[string]any, len(x))
		for k, e := range x {
			ks := scalarText(k)
			keys = append(keys, ks)
			vals[ks] = e
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			kb, _ := json.Marshal(k)
			b.Write(kb)
			b.WriteByte(':')
			writeJSON(b, vals[k], t.elem)
		}
		b.WriteByte('}')
	default:
		enc, err := json.Marshal(jsonValue(v))
		if err != nil {
			enc, _ = json.Marshal(scalarText(v))
		}
		b.Write(enc)
	}
}
