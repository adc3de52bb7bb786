package dbxstandin

import (
	"fmt"
	"strconv"
	"strings"
)

// DataType is a parsed Databricks column type.
type DataType struct {
	// Name is the simple upper-case name: STRING, BIGINT, INT, SMALLINT,
	// TINYINT, DOUBLE, FLOAT, DECIMAL, BOOLEAN, DATE, TIMESTAMP,
	// TIMESTAMP_NTZ, BINARY, ARRAY, MAP or STRUCT.
	Name      string
	Precision int // DECIMAL only
	Scale     int // DECIMAL only
	Elem      *DataType
	Key       *DataType
	Value     *DataType
	Fields    []StructField
}

// StructField is one field of a STRUCT type.
type StructField struct {
	Name string
	Type *DataType
}

var typeAliases = map[string]string{
	"STRING": "STRING", "VARCHAR": "STRING", "CHAR": "STRING",
	"BIGINT": "BIGINT", "LONG": "BIGINT",
	"INT": "INT", "INTEGER": "INT",
	"SMALLINT": "SMALLINT", "SHORT": "SMALLINT",
	"TINYINT": "TINYINT", "BYTE": "TINYINT",
	"DOUBLE": "DOUBLE", "FLOAT": "FLOAT", "REAL": "FLOAT",
	"DECIMAL": "DECIMAL", "DEC": "DECIMAL", "NUMERIC": "DECIMAL",
	"BOOLEAN": "BOOLEAN", "DATE": "DATE", "TIMESTAMP": "TIMESTAMP",
	"TIMESTAMP_LTZ": "TIMESTAMP", "TIMESTAMP_NTZ": "TIMESTAMP_NTZ",
	"BINARY": "BINARY", "ARRAY": "ARRAY", "MAP": "MAP", "STRUCT": "STRUCT",
}

// ParseType parses a Databricks type string such as "DECIMAL(12,2)",
// "ARRAY<STRING>", "MAP<STRING,INT>" or "STRUCT<a:INT,b:STRING>".
func ParseType(s string) (*DataType, error) {
	p := typeParser{s: s}
	t, err := p.parse()
	if err != nil {
		return nil, fmt.Errorf("type %q: %w", s, err)
	}
	p.space()
	if p.i != len(p.s) {
		return nil, fmt.Errorf("type %q: unexpected %q", s, p.s[p.i:])
	}
	return t, nil
}

type typeParser struct {
	s string
	i int
}

func (p *typeParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n') {
		p.i++
	}
}

func (p *typeParser) word() string {
	p.space()
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			p.i++
			continue
		}
		break
	}
	return p.s[start:p.i]
}

func (p *typeParser) expect(c byte) error {
	p.space()
	if p.i >= len(p.s) || p.s[p.i] != c {
		return fmt.Errorf("expected %q at offset %d", c, p.i)
	}
	p.i++
	return nil
}

func (p *typeParser) peek(c byte) bool {
	p.space()
	return p.i < len(p.s) && p.s[p.i] == c
}

func (p *typeParser) parse() (*DataType, error) {
	w := p.word()
	name, ok := typeAliases[strings.ToUpper(w)]
	if !ok {
		return nil, fmt.Errorf("unsupported type %q", w)
	}
	t := &DataType{Name: name}
	switch name {
	case "STRING":
		if p.peek('(') { // VARCHAR(n) / CHAR(n)
			p.i++
			p.word()
			if err := p.expect(')'); err != nil {
				return nil, err
			}
		}
	case "DECIMAL":
		t.Precision, t.Scale = 10, 0
		if p.peek('(') {
			p.i++
			n, err := strconv.Atoi(p.word())
			if err != nil || n < 1 || n > 38 {
				return nil, fmt.Errorf("bad decimal precision")
			}
			t.Precision = n
			if p.peek(',') {
				p.i++
				n, err = strconv.Atoi(p.word())
				if err != nil || n < 0 || n > t.Precision {
					return nil, fmt.Errorf("bad decimal scale")
				}
				t.Scale = n
			}
			if err := p.expect(')'); err != nil {
				return nil, err
			}
		}
	case "ARRAY":
		if err := p.expect('<'); err != nil {
			return nil, err
		}
		e, err := p.parse()
		if err != nil {
			return nil, err
		}
		t.Elem = e
		if err := p.expect('>'); err != nil {
			return nil, err
		}
	case "MAP":
		if err := p.expect('<'); err != nil {
			return nil, err
		}
		k, err := p.parse()
		if err != nil {
			return nil, err
		}
		if err := p.expect(','); err != nil {
			return nil, err
		}
		v, err := p.parse()
		if err != nil {
			return nil, err
		}
		t.Key, t.Value = k, v
		if err := p.expect('>'); err != nil {
			return nil, err
		}
	case "STRUCT":
		if err := p.expect('<'); err != nil {
			return nil, err
		}
		for {
			fn := p.word()
			if fn == "" {
				return nil, fmt.Errorf("struct field without a name")
			}
			if err := p.expect(':'); err != nil {
				return nil, err
			}
			ft, err := p.parse()
			if err != nil {
				return nil, err
			}
			t.Fields = append(t.Fields, StructField{Name: fn, Type: ft})
			if p.peek(',') {
				p.i++
				continue
			}
			break
		}
		if err := p.expect('>'); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// DuckDB returns the DuckDB type used to store the column.
func (t *DataType) DuckDB() string {
	switch t.Name {
	case "STRING":
		return "VARCHAR"
	case "INT":
		return "INTEGER"
	case "FLOAT":
		return "FLOAT"
	case "DECIMAL":
		return fmt.Sprintf("DECIMAL(%d,%d)", t.Precision, t.Scale)
	case "TIMESTAMP":
		return "TIMESTAMPTZ"
	case "TIMESTAMP_NTZ":
		return "TIMESTAMP"
	case "BINARY":
		return "BLOB"
	case "ARRAY":
		return t.Elem.DuckDB() + "[]"
	case "MAP":
		return "MAP(" + t.Key.DuckDB() + ", " + t.Value.DuckDB() + ")"
	case "STRUCT":
		parts := make([]string, len(t.Fields))
		for i, f := range t.Fields {
			parts[i] = quoteIdent(f.Name) + " " + f.Type.DuckDB()
		}
		return "STRUCT(" + strings.Join(parts, ", ") + ")"
	default:
		return t.Name
	}
}

// FullDataType is the lower-case type text Unity Catalog reports in
// information_schema.columns.full_data_type, e.g. "decimal(12,2)" or
// "array<string>".
func (t *DataType) FullDataType() string {
	switch t.Name {
	case "DECIMAL":
		return fmt.Sprintf("decimal(%d,%d)", t.Precision, t.Scale)
	case "ARRAY":
		return "array<" + t.Elem.FullDataType() + ">"
	case "MAP":
		return "map<" + t.Key.FullDataType() + "," + t.Value.FullDataType() + ">"
	case "STRUCT":
		parts := make([]string, len(t.Fields))
		for i, f := range t.Fields {
			parts[i] = f.Name + ":" + f.Type.FullDataType()
		}
		return "struct<" + strings.Join(parts, ",") + ">"
	default:
		return strings.ToLower(t.Name)
	}
}

// numericPrecision returns numeric_precision, numeric_precision_radix and
// numeric_scale as reported by information_schema.columns (nil when not
// numeric).
func (t *DataType) numericPrecision() (prec, radix, scale any) {
	switch t.Name {
	case "TINYINT":
		return 8, 2, 0
	case "SMALLINT":
		return 16, 2, 0
	case "INT":
		return 32, 2, 0
	case "BIGINT":
		return 64, 2, 0
	case "FLOAT":
		return 24, 2, nil
	case "DOUBLE":
		return 53, 2, nil
	case "DECIMAL":
		return t.Precision, 10, t.Scale
	}
	return nil, nil, nil
}

func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

func quoteString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
