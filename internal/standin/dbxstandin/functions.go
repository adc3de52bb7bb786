package dbxstandin

import "strings"

// functionNames maps Databricks functions to the DuckDB functions of the
// same meaning, for calls whose arguments need no change. Functions both
// engines know under one name (count_if, min_by, max_by, bit_or, least,
// instr, left, right, length) are not listed.
var functionNames = map[string]string{
	"regexp_like": "regexp_matches",
	"rlike":       "regexp_matches",
	"size":        "len",
	"filter":      "list_filter",
	"startswith":  "starts_with",
	"endswith":    "ends_with",
}

// functionName returns the DuckDB name of the function called name, or ""
// when the name stays.
func functionName(name string) string {
	return functionNames[strings.ToLower(name)]
}

// collectSet rewrites the aggregate collect_set(x) [FILTER (WHERE c)],
// the array of the distinct values of x other than NULL (empty over no
// rows), to coalesce(list_distinct(list(x) [FILTER (WHERE c)]), []): the
// FILTER clause belongs to the inner aggregate. open is the index of the
// call's "(". It returns the text replacing the name and the index of the
// token after which "), [])" closes the rewrite, or -1 when the call is
// not closed.
func collectSet(toks []token, open int) (string, int) {
	end := matchParen(toks, open)
	if end < 0 {
		return "", -1
	}
	if f := nextSig(toks, end+1); f > 0 && toks[f].isWord("FILTER") {
		if p := nextSig(toks, f+1); p > 0 && toks[p].isPunct("(") {
			if e := matchParen(toks, p); e > 0 {
				end = e
			}
		}
	}
	return "coalesce(list_distinct(list", end
}

// matchParen returns the index of the ")" closing the "(" at open, or -1.
func matchParen(toks []token, open int) int {
	depth := 0
	for k := open; k < len(toks); k++ {
		switch {
		case toks[k].isPunct("("):
			depth++
		case toks[k].isPunct(")"):
			depth--
			if depth == 0 {
				return k
			}
		}
	}
	return -1
}
