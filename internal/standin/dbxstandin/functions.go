package dbxstandin

import "strings"

// functionNames maps Databricks functions to the DuckDB functions of the
// same meaning, for calls whose arguments need no change. Functions both
// engines know under one name (count_if, min_by, max_by, least, instr, left,
// right, length) are not listed.
var functionNames = map[string]string{
	"regexp_like": "regexp_matches",
	"rlike":       "regexp_matches",
	"size":        "len",
	"filter":      "list_filter",
}

// functionName returns the DuckDB name of the function called name, or ""
// when the name stays.
func functionName(name string) string {
	return functionNames[strings.ToLower(name)]
}
