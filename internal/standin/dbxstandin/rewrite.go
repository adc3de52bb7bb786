package dbxstandin

import (
	"fmt"
	"strings"
)

// internalCatalog is the DuckDB catalog holding the fake Unity Catalog
// relations. Statements may not name it.
const internalCatalog = "__uc"

type tokenKind int

const (
	tkSpace tokenKind = iota
	tkComment
	tkIdent       // bare identifier or keyword; text is as written
	tkQuotedIdent // `ident`; text is the unquoted name
	tkString      // '...'; text is the decoded value
	tkNumber
	tkNamedParam // :name; text is the name
	tkPosParam   // ?
	tkPunct      // any other character(s); text is as written
)

type token struct {
	kind tokenKind
	text string
	pos  int
}

// isWord reports whether the token is the bare keyword kw (case-insensitive).
func (t token) isWord(kw string) bool {
	return t.kind == tkIdent && strings.EqualFold(t.text, kw)
}

func (t token) isName() bool { return t.kind == tkIdent || t.kind == tkQuotedIdent }

func (t token) isPunct(p string) bool { return t.kind == tkPunct && t.text == p }

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func isIdentPart(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// tokenize splits Databricks SQL into tokens. It understands '...' string
// literals with backslash escapes, r'...' raw strings, `quoted` identifiers,
// -- and /* */ comments, :name and ? parameter markers and :: casts. It
// rejects what a Databricks warehouse would reject or what DuckDB would read
// differently: $-parameters and "double-quoted" literals.
func tokenize(sql string) ([]token, error) {
	var toks []token
	i := 0
	n := len(sql)
	for i < n {
		c := sql[i]
		start := i
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			for i < n && strings.IndexByte(" \t\n\r\f", sql[i]) >= 0 {
				i++
			}
			toks = append(toks, token{tkSpace, sql[start:i], start})
		case c == '-' && i+1 < n && sql[i+1] == '-':
			for i < n && sql[i] != '\n' {
				i++
			}
			toks = append(toks, token{tkComment, sql[start:i], start})
		case c == '/' && i+1 < n && sql[i+1] == '*':
			depth := 0
			for i < n {
				if i+1 < n && sql[i] == '/' && sql[i+1] == '*' {
					depth++
					i += 2
					continue
				}
				if i+1 < n && sql[i] == '*' && sql[i+1] == '/' {
					depth--
					i += 2
					if depth == 0 {
						break
					}
					continue
				}
				i++
			}
			if depth != 0 {
				return nil, &SQLError{Class: "UNCLOSED_BRACKETED_COMMENT", State: StateSyntax, Message: "Found an unclosed bracketed comment. Please, append */ at the end of the comment."}
			}
			toks = append(toks, token{tkComment, sql[start:i], start})
		case c == '\'' || (c == 'r' || c == 'R') && i+1 < n && sql[i+1] == '\'':
			raw := c != '\''
			if raw {
				i++
			}
			i++
			var b strings.Builder
			closed := false
			for i < n {
				ch := sql[i]
				if ch == '\\' && !raw && i+1 < n {
					i++
					switch e := sql[i]; e {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					case 'r':
						b.WriteByte('\r')
					case '0':
						b.WriteByte(0)
					default:
						b.WriteByte(e)
					}
					i++
					continue
				}
				if ch == '\'' {
					i++
					closed = true
					break
				}
				b.WriteByte(ch)
				i++
			}
			if !closed {
				return nil, syntaxError("end of input")
			}
			toks = append(toks, token{tkString, b.String(), start})
		case c == '"':
			end := strings.IndexByte(sql[i+1:], '"')
			text := sql[i:]
			if end >= 0 {
				text = sql[i : i+end+2]
			}
			return nil, syntaxError("'%s': double-quoted literals are not accepted, use '...' for strings and `...` for identifiers", text)
		case c == '`':
			i++
			var b strings.Builder
			closed := false
			for i < n {
				if sql[i] == '`' {
					if i+1 < n && sql[i+1] == '`' {
						b.WriteByte('`')
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				b.WriteByte(sql[i])
				i++
			}
			if !closed {
				return nil, syntaxError("end of input")
			}
			toks = append(toks, token{tkQuotedIdent, b.String(), start})
		case isIdentStart(c):
			for i < n && isIdentPart(sql[i]) {
				i++
			}
			toks = append(toks, token{tkIdent, sql[start:i], start})
		case c >= '0' && c <= '9' || c == '.' && i+1 < n && sql[i+1] >= '0' && sql[i+1] <= '9':
			for i < n && (sql[i] >= '0' && sql[i] <= '9' || sql[i] == '.' || sql[i] == 'e' || sql[i] == 'E' ||
				(sql[i] == '+' || sql[i] == '-') && (sql[i-1] == 'e' || sql[i-1] == 'E')) {
				i++
			}
			if i < n && isIdentStart(sql[i]) {
				j := i
				for j < n && isIdentPart(sql[j]) {
					j++
				}
				return nil, syntaxError("'%s'", sql[start:j])
			}
			toks = append(toks, token{tkNumber, sql[start:i], start})
		case c == ':':
			if i+1 < n && sql[i+1] == ':' {
				i += 2
				toks = append(toks, token{tkPunct, "::", start})
				continue
			}
			if i+1 < n && isIdentStart(sql[i+1]) {
				i++
				for i < n && isIdentPart(sql[i]) {
					i++
				}
				toks = append(toks, token{tkNamedParam, sql[start+1 : i], start})
				continue
			}
			i++
			toks = append(toks, token{tkPunct, ":", start})
		case c == '?':
			i++
			toks = append(toks, token{tkPosParam, "?", start})
		case c == '$':
			j := i + 1
			for j < n && isIdentPart(sql[j]) {
				j++
			}
			return nil, syntaxError("'%s'", sql[i:j])
		default:
			i++
			toks = append(toks, token{tkPunct, string(c), start})
		}
	}
	return toks, nil
}

// Statement kinds recognised by the rewriter.
const (
	kindQuery = "query"
	kindUse   = "use"
	kindSet   = "set"
	kindShow  = "show"
	kindOther = "other"
)

// rewriteEnv is what the rewriter needs to know about the caller.
type rewriteEnv struct {
	catalog   string // current catalog
	principal string // current_user()
	// relation returns a DuckDB relation (a parenthesised subquery) standing
	// in for <catalog>.information_schema.<rel>; catalog is "" for
	// system.information_schema.
	relation func(catalog, rel string) (string, error)
}

// rewritten is a statement translated to DuckDB SQL.
type rewritten struct {
	kind  string
	sql   string   // DuckDB text
	words []string // significant tokens, for USE/SET handling
	named []string // :name markers in order of appearance
	pos   int      // number of ? markers
}

// rewrite translates one Databricks SQL statement to DuckDB SQL.
func rewrite(sql string, env rewriteEnv) (*rewritten, error) {
	toks, err := tokenize(sql)
	if err != nil {
		return nil, err
	}
	// Drop one trailing semicolon; more than one statement is refused.
	sig := significant(toks)
	if len(sig) > 0 && toks[sig[len(sig)-1]].isPunct(";") {
		toks = toks[:sig[len(sig)-1]]
		sig = sig[:len(sig)-1]
	}
	if len(sig) == 0 {
		return nil, syntaxError("end of input")
	}
	out := &rewritten{kind: kindOther}
	for _, k := range sig {
		t := toks[k]
		if t.isPunct(";") {
			return nil, syntaxError("';'")
		}
		out.words = append(out.words, t.text)
	}
	first := toks[sig[0]]
	switch {
	case first.isWord("SELECT"), first.isWord("WITH"), first.isWord("VALUES"), first.isWord("TABLE"), first.isPunct("("):
		out.kind = kindQuery
	case first.isWord("USE"):
		out.kind = kindUse
		return out, nil
	case first.isWord("SET"):
		out.kind = kindSet
		return out, nil
	case first.isWord("SHOW"):
		out.kind = kindShow
		return out, nil
	default:
		return out, nil
	}

	var b strings.Builder
	// closes[i] holds the text to write after token i (the end of a
	// rewritten call).
	closes := map[int]string{}
	for i := 0; i < len(toks); i++ {
		if i > 0 {
			b.WriteString(closes[i-1])
		}
		t := toks[i]
		switch t.kind {
		case tkString:
			b.WriteString(quoteString(t.text))
		case tkNamedParam:
			out.named = append(out.named, t.text)
			b.WriteString("$" + t.text)
		case tkPosParam:
			out.pos++
			b.WriteString("?")
		case tkIdent, tkQuotedIdent:
			// Gather a dotted name chain a.b.c starting here.
			if i > 0 && toks[i-1].isPunct(".") {
				b.WriteString(identText(t))
				continue
			}
			chain := []token{t}
			j := i + 1
			for j+1 < len(toks) && toks[j].isPunct(".") && toks[j+1].isName() {
				chain = append(chain, toks[j+1])
				j += 2
			}
			for _, c := range chain {
				if strings.EqualFold(c.text, internalCatalog) {
					return nil, tableNotFound(backtickName(chainText(chain)))
				}
			}
			if txt, n, err := infoSchemaRef(chain, toks[j:], env); err != nil {
				return nil, err
			} else if n > 0 {
				b.WriteString(txt)
				i += 2 * (n - 1)
				continue
			}
			if t.kind == tkIdent && (strings.EqualFold(t.text, "current_user") || strings.EqualFold(t.text, "session_user")) && len(chain) == 1 {
				k := nextSig(toks, i+1)
				if k > 0 && toks[k].isPunct("(") {
					if m := nextSig(toks, k+1); m > 0 && toks[m].isPunct(")") {
						b.WriteString(quoteString(env.principal))
						i = m
						continue
					}
				}
			}
			if t.kind == tkIdent && len(chain) == 1 {
				if k := nextSig(toks, i+1); k > 0 && toks[k].isPunct("(") {
					// FILTER (WHERE ...) after an aggregate is a clause, not a call.
					if w := nextSig(toks, k+1); w > 0 && toks[w].isWord("WHERE") {
						b.WriteString(identText(t))
						continue
					}
					if strings.EqualFold(t.text, "collect_set") {
						if f, end := collectSet(toks, k); end > 0 {
							b.WriteString(f)
							closes[end] += "), [])"
							continue
						}
					}
					if f := functionName(t.text); f != "" {
						b.WriteString(f)
						continue
					}
				}
			}
			b.WriteString(identText(t))
		default:
			b.WriteString(t.text)
		}
	}
	b.WriteString(closes[len(toks)-1])
	if len(out.named) > 0 && out.pos > 0 {
		return nil, &SQLError{Class: "UNBOUND_SQL_PARAMETER", State: StateInvalidParameter, Message: "Named and positional parameter markers cannot be mixed."}
	}
	out.sql = b.String()
	return out, nil
}

// infoSchemaRef recognises <cat>.information_schema.<rel>,
// system.information_schema.<rel> and information_schema.<rel> and returns
// the replacement text and the number of chain parts consumed (0 when the
// chain is not an information_schema reference).
func infoSchemaRef(chain []token, rest []token, env rewriteEnv) (string, int, error) {
	var catalog, rel string
	used := 0
	switch {
	case len(chain) >= 3 && strings.EqualFold(chain[1].text, "information_schema"):
		catalog, rel, used = chain[0].text, chain[2].text, 3
		if strings.EqualFold(catalog, "system") {
			catalog = ""
		}
	case len(chain) == 2 && strings.EqualFold(chain[0].text, "information_schema"):
		catalog, rel, used = env.catalog, chain[1].text, 2
	default:
		return "", 0, nil
	}
	rel = strings.ToLower(rel)
	if len(chain) > used {
		// A column qualified with the full relation name.
		parts := []string{quoteIdent(rel)}
		for _, c := range chain[used:] {
			parts = append(parts, identText(c))
		}
		return strings.Join(parts, "."), len(chain), nil
	}
	sub, err := env.relation(strings.ToLower(catalog), rel)
	if err != nil {
		return "", 0, err
	}
	if !hasAlias(rest) {
		sub += " AS " + quoteIdent(rel)
	}
	return sub, used, nil
}

var notAlias = map[string]bool{
	"WHERE": true, "JOIN": true, "LEFT": true, "RIGHT": true, "INNER": true, "OUTER": true, "FULL": true,
	"CROSS": true, "ON": true, "GROUP": true, "ORDER": true, "LIMIT": true, "UNION": true, "HAVING": true,
	"WINDOW": true, "QUALIFY": true, "USING": true, "NATURAL": true, "EXCEPT": true, "INTERSECT": true,
	"OFFSET": true, "FETCH": true, "LATERAL": true, "PIVOT": true, "UNPIVOT": true, "TABLESAMPLE": true,
	"ANTI": true, "SEMI": true, "MINUS": true, "CLUSTER": true, "DISTRIBUTE": true, "SORT": true,
}

// hasAlias reports whether the tokens after a relation name start with an
// alias (AS x, or a bare identifier that is not a clause keyword).
func hasAlias(rest []token) bool {
	for _, t := range rest {
		if t.kind == tkSpace || t.kind == tkComment {
			continue
		}
		if t.kind == tkQuotedIdent {
			return true
		}
		if t.kind == tkIdent {
			return !notAlias[strings.ToUpper(t.text)]
		}
		return false
	}
	return false
}

func identText(t token) string {
	if t.kind == tkQuotedIdent {
		return quoteIdent(t.text)
	}
	return t.text
}

func chainText(chain []token) []string {
	out := make([]string, len(chain))
	for i, c := range chain {
		out[i] = c.text
	}
	return out
}

// backtickName renders a.b.c as `a`.`b`.`c`, as Databricks error texts do.
func backtickName(parts []string) string {
	q := make([]string, len(parts))
	for i, p := range parts {
		q[i] = "`" + strings.ReplaceAll(p, "`", "``") + "`"
	}
	return strings.Join(q, ".")
}

func significant(toks []token) []int {
	var idx []int
	for i, t := range toks {
		if t.kind != tkSpace && t.kind != tkComment {
			idx = append(idx, i)
		}
	}
	return idx
}

func nextSig(toks []token, from int) int {
	for k := from; k < len(toks); k++ {
		if toks[k].kind != tkSpace && toks[k].kind != tkComment {
			return k
		}
	}
	return -1
}

// String renders a token for debugging.
func (t token) String() string { return fmt.Sprintf("%d:%q", t.kind, t.text) }
