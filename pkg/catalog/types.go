package catalog

import (
	"strings"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// IONType maps a Databricks column type, as written in
// information_schema.columns.full_data_type ("decimal(12,2)",
// "array<string>"), to the Treasure Data ION type of an attribute or
// behavior column. ok is false for types Treasure cannot use: MAP, STRUCT,
// BINARY, VARIANT, INTERVAL and arrays of anything but strings or numbers.
func IONType(databricksType string) (t segment.IONType, ok bool) {
	s := strings.ToUpper(strings.TrimSpace(databricksType))
	if inner, found := strings.CutPrefix(s, "ARRAY<"); found {
		inner, found = strings.CutSuffix(inner, ">")
		if !found {
			return "", false
		}
		switch et, ok := scalarType(inner); {
		case !ok:
			return "", false
		case et == segment.String:
			return segment.StringArray, true
		case et == segment.Number:
			return segment.NumberArray, true
		}
		return "", false
	}
	return scalarType(s)
}

func scalarType(s string) (segment.IONType, bool) {
	base := strings.TrimSpace(s)
	if i := strings.IndexByte(base, '('); i >= 0 {
		base = strings.TrimSpace(base[:i])
	}
	switch base {
	case "STRING", "VARCHAR", "CHAR":
		return segment.String, true
	case "BIGINT", "LONG", "INT", "INTEGER", "SMALLINT", "SHORT", "TINYINT", "BYTE",
		"DOUBLE", "FLOAT", "REAL", "DECIMAL", "DEC", "NUMERIC":
		return segment.Number, true
	case "BOOLEAN":
		return segment.Boolean, true
	case "DATE":
		return segment.Date, true
	case "TIMESTAMP", "TIMESTAMP_NTZ", "TIMESTAMP_LTZ":
		return segment.Timestamp, true
	}
	return "", false
}

// IsIntegerType reports whether a Databricks type is an integer type
// (TINYINT to BIGINT), the types that can hold an epoch time.
func IsIntegerType(databricksType string) bool {
	switch baseType(databricksType) {
	case "BIGINT", "LONG", "INT", "INTEGER", "SMALLINT", "SHORT", "TINYINT", "BYTE":
		return true
	}
	return false
}

// IsTimeType reports whether a Databricks type is DATE or a TIMESTAMP type.
func IsTimeType(databricksType string) bool {
	switch baseType(databricksType) {
	case "DATE", "TIMESTAMP", "TIMESTAMP_NTZ", "TIMESTAMP_LTZ":
		return true
	}
	return false
}

// baseType returns the upper-case type name without parameters:
// "decimal(12,2)" is DECIMAL, "array<string>" is ARRAY.
func baseType(databricksType string) string {
	s := strings.ToUpper(strings.TrimSpace(databricksType))
	if i := strings.IndexAny(s, "(<"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return s
}

// SameKeyType reports whether two Databricks types can be joined as
// customer keys without a cast: equal up to case, parameters of
// VARCHAR/CHAR/STRING aside, and integer types of any width.
func SameKeyType(a, b string) bool {
	ta, tb := baseType(a), baseType(b)
	if IsIntegerType(a) && IsIntegerType(b) {
		return true
	}
	str := func(t string) bool { return t == "STRING" || t == "VARCHAR" || t == "CHAR" }
	if str(ta) && str(tb) {
		return true
	}
	return strings.EqualFold(strings.ReplaceAll(a, " ", ""), strings.ReplaceAll(b, " ", ""))
}
