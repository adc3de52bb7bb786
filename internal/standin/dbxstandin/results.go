//go:build cgo

package dbxstandin

import (
	"bytes"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin/tcli"
	"github.com/duckdb/duckdb-go/v2"
)

// column holds one result column, materialised, in the Thrift column kind
// the driver expects for its type.
type column struct {
	name      string
	typeID    tcli.TTypeId
	nested    *duckType // ARRAY, MAP and STRUCT only
	precision int32
	scale     int32
	nulls     []bool
	bools     []bool
	i8s       []int8
	i16s      []int16
	i32s      []int32
	i64s      []int64
	doubles   []float64
	strings   []string
	binaries  [][]byte
}

// resultSet is a fully materialised statement result.
type resultSet struct {
	cols []*column
	rows int
}

// typeIDFor maps a DuckDB result type name to the Thrift type id.
func typeIDFor(dbType string) (tcli.TTypeId, int32, int32) {
	t := strings.ToUpper(dbType)
	switch {
	case strings.HasSuffix(t, "]"):
		return tcli.TTypeId_ARRAY_TYPE, 0, 0
	case strings.HasPrefix(t, "MAP("):
		return tcli.TTypeId_MAP_TYPE, 0, 0
	case strings.HasPrefix(t, "STRUCT("):
		return tcli.TTypeId_STRUCT_TYPE, 0, 0
	case t == "BOOLEAN":
		return tcli.TTypeId_BOOLEAN_TYPE, 0, 0
	case t == "TINYINT":
		return tcli.TTypeId_TINYINT_TYPE, 0, 0
	case t == "SMALLINT", t == "UTINYINT":
		return tcli.TTypeId_SMALLINT_TYPE, 0, 0
	case t == "INTEGER", t == "USMALLINT":
		return tcli.TTypeId_INT_TYPE, 0, 0
	case t == "BIGINT", t == "UINTEGER", t == "HUGEINT", t == "UBIGINT", t == "UHUGEINT":
		return tcli.TTypeId_BIGINT_TYPE, 0, 0
	case t == "FLOAT":
		return tcli.TTypeId_FLOAT_TYPE, 0, 0
	case t == "DOUBLE":
		return tcli.TTypeId_DOUBLE_TYPE, 0, 0
	case strings.HasPrefix(t, "DECIMAL"):
		var p, s int32 = 38, 0
		if _, err := fmt.Sscanf(t, "DECIMAL(%d,%d)", &p, &s); err != nil {
			p, s = 38, 0
		}
		return tcli.TTypeId_DECIMAL_TYPE, p, s
	case t == "DATE":
		return tcli.TTypeId_DATE_TYPE, 0, 0
	case strings.HasPrefix(t, "TIMESTAMP"):
		return tcli.TTypeId_TIMESTAMP_TYPE, 0, 0
	case t == "BLOB":
		return tcli.TTypeId_BINARY_TYPE, 0, 0
	}
	return tcli.TTypeId_STRING_TYPE, 0, 0
}

// readRows materialises rows into Thrift-ready columns.
func readRows(rows *sql.Rows) (*resultSet, error) {
	cts, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	rs := &resultSet{cols: make([]*column, len(cts))}
	for i, ct := range cts {
		id, p, s := typeIDFor(ct.DatabaseTypeName())
		rs.cols[i] = &column{name: ct.Name(), typeID: id, precision: p, scale: s}
		switch id {
		case tcli.TTypeId_ARRAY_TYPE, tcli.TTypeId_MAP_TYPE, tcli.TTypeId_STRUCT_TYPE:
			rs.cols[i].nested = parseDuckType(ct.DatabaseTypeName())
		}
	}
	vals := make([]any, len(cts))
	ptrs := make([]any, len(cts))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, c := range rs.cols {
			if err := c.append(vals[i]); err != nil {
				return nil, fmt.Errorf("column %s: %w", c.name, err)
			}
		}
		rs.rows++
	}
	return rs, rows.Err()
}

func (c *column) append(v any) error {
	isNull := v == nil
	c.nulls = append(c.nulls, isNull)
	switch c.typeID {
	case tcli.TTypeId_BOOLEAN_TYPE:
		b, _ := v.(bool)
		c.bools = append(c.bools, b)
	case tcli.TTypeId_TINYINT_TYPE:
		n, _ := toInt64(v)
		c.i8s = append(c.i8s, int8(n))
	case tcli.TTypeId_SMALLINT_TYPE:
		n, _ := toInt64(v)
		c.i16s = append(c.i16s, int16(n))
	case tcli.TTypeId_INT_TYPE:
		n, _ := toInt64(v)
		c.i32s = append(c.i32s, int32(n))
	case tcli.TTypeId_BIGINT_TYPE:
		n, ok := toInt64(v)
		if !ok && !isNull {
			return fmt.Errorf("value %v does not fit BIGINT", v)
		}
		c.i64s = append(c.i64s, n)
	case tcli.TTypeId_FLOAT_TYPE, tcli.TTypeId_DOUBLE_TYPE:
		var f float64
		switch x := v.(type) {
		case float32:
			f = float64(x)
		case float64:
			f = x
		}
		c.doubles = append(c.doubles, f)
	case tcli.TTypeId_BINARY_TYPE:
		b, _ := v.([]byte)
		c.binaries = append(c.binaries, b)
	default:
		s := ""
		if !isNull {
			s = c.text(v)
		}
		c.strings = append(c.strings, s)
	}
	return nil
}

func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case int:
		return int64(x), true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		return int64(x), x <= 1<<63-1
	case *big.Int:
		return x.Int64(), x.IsInt64()
	}
	return 0, false
}

// text renders a non-numeric value the way the driver parses it.
func (c *column) text(v any) string {
	switch c.typeID {
	case tcli.TTypeId_ARRAY_TYPE, tcli.TTypeId_MAP_TYPE, tcli.TTypeId_STRUCT_TYPE:
		var b bytes.Buffer
		writeJSON(&b, v, c.nested)
		return b.String()
	case tcli.TTypeId_DATE_TYPE:
		if t, ok := v.(time.Time); ok {
			return t.Format(time.DateOnly)
		}
	case tcli.TTypeId_TIMESTAMP_TYPE:
		if t, ok := v.(time.Time); ok {
			return t.UTC().Format("2006-01-02 15:04:05.999999999")
		}
	}
	return scalarText(v)
}

func scalarText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case duckdb.Decimal:
		return decimalText(x)
	case *big.Int:
		return x.String()
	case time.Time:
		return x.UTC().Format("2006-01-02 15:04:05.999999999")
	case duckdb.UUID:
		h := hex.EncodeToString(x[:])
		return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	}
	return fmt.Sprint(v)
}

// decimalText renders a decimal with exactly its scale, as Databricks does.
func decimalText(d duckdb.Decimal) string {
	s := new(big.Int).Abs(d.Value).String()
	sign := ""
	if d.Value.Sign() < 0 {
		sign = "-"
	}
	if d.Scale == 0 {
		return sign + s
	}
	sc := int(d.Scale)
	for len(s) <= sc {
		s = "0" + s
	}
	return sign + s[:len(s)-sc] + "." + s[len(s)-sc:]
}

// jsonValue converts nested DuckDB values into JSON-encodable values.
func jsonValue(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonValue(e)
		}
		return out
	case duckdb.Map:
		keys := make([]string, 0, len(x))
		vals := map[string]any{}
		for k, e := range x {
			ks := scalarText(k)
			keys = append(keys, ks)
			vals[ks] = jsonValue(e)
		}
		sort.Strings(keys)
		out := make(map[string]any, len(keys))
		for _, k := range keys {
			out[k] = vals[k]
		}
		return out
	case duckdb.Decimal:
		return json.Number(decimalText(x))
	case *big.Int:
		return json.Number(x.String())
	case time.Time, duckdb.UUID:
		return scalarText(x)
	case []byte:
		return string(x)
	}
	return v
}

// nullBitmap encodes nulls[start:end] as the driver expects: bit i of byte
// i/8 set means row i is NULL.
func nullBitmap(nulls []bool) []byte {
	b := make([]byte, (len(nulls)+7)/8)
	for i, n := range nulls {
		if n {
			b[i/8] |= 1 << (uint(i) % 8)
		}
	}
	return b
}

// schema returns the Thrift table schema of the result.
func (rs *resultSet) schema() *tcli.TTableSchema {
	s := &tcli.TTableSchema{Columns: make([]*tcli.TColumnDesc, len(rs.cols))}
	for i, c := range rs.cols {
		entry := &tcli.TPrimitiveTypeEntry{Type: c.typeID}
		if c.typeID == tcli.TTypeId_DECIMAL_TYPE {
			p, sc := c.precision, c.scale
			entry.TypeQualifiers = &tcli.TTypeQualifiers{Qualifiers: map[string]*tcli.TTypeQualifierValue{
				"precision": {I32Value: &p},
				"scale":     {I32Value: &sc},
			}}
		}
		s.Columns[i] = &tcli.TColumnDesc{
			ColumnName: c.name,
			Position:   int32(i + 1),
			TypeDesc:   &tcli.TTypeDesc{Types: []*tcli.TTypeEntry{{PrimitiveEntry: entry}}},
		}
	}
	return s
}

// page returns rows [start, end) as a column-based row set.
func (rs *resultSet) page(start, end int) *tcli.TRowSet {
	set := &tcli.TRowSet{StartRowOffset: int64(start), Rows: []*tcli.TRow{}, Columns: make([]*tcli.TColumn, len(rs.cols))}
	for i, c := range rs.cols {
		nulls := nullBitmap(c.nulls[start:end])
		col := &tcli.TColumn{}
		switch c.typeID {
		case tcli.TTypeId_BOOLEAN_TYPE:
			col.BoolVal = &tcli.TBoolColumn{Values: c.bools[start:end], Nulls: nulls}
		case tcli.TTypeId_TINYINT_TYPE:
			col.ByteVal = &tcli.TByteColumn{Values: c.i8s[start:end], Nulls: nulls}
		case tcli.TTypeId_SMALLINT_TYPE:
			col.I16Val = &tcli.TI16Column{Values: c.i16s[start:end], Nulls: nulls}
		case tcli.TTypeId_INT_TYPE:
			col.I32Val = &tcli.TI32Column{Values: c.i32s[start:end], Nulls: nulls}
		case tcli.TTypeId_BIGINT_TYPE:
			col.I64Val = &tcli.TI64Column{Values: c.i64s[start:end], Nulls: nulls}
		case tcli.TTypeId_FLOAT_TYPE, tcli.TTypeId_DOUBLE_TYPE:
			col.DoubleVal = &tcli.TDoubleColumn{Values: c.doubles[start:end], Nulls: nulls}
		case tcli.TTypeId_BINARY_TYPE:
			col.BinaryVal = &tcli.TBinaryColumn{Values: c.binaries[start:end], Nulls: nulls}
		default:
			col.StringVal = &tcli.TStringColumn{Values: c.strings[start:end], Nulls: nulls}
		}
		set.Columns[i] = col
	}
	return set
}
