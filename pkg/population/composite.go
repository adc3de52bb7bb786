package population

import (
	"errors"
	"fmt"
	"strings"
)

// composite translates a Composite expression ("1 and (2 or 3)", or with
// letters "A and B") over preds into SQL.
func composite(expr string, preds []string) (string, error) {
	p := &cparser{toks: ctokens(expr), preds: preds}
	if len(p.toks) == 0 {
		return "", errors.New("expression is empty")
	}
	s, err := p.or()
	if err != nil {
		return "", err
	}
	if p.i < len(p.toks) {
		return "", fmt.Errorf("unexpected %q", p.toks[p.i])
	}
	return s, nil
}

func ctokens(s string) []string {
	var out []string
	cur := ""
	flush := func() {
		if cur != "" {
			out = append(out, cur)
			cur = ""
		}
	}
	for _, r := range s {
		switch {
		case r == '(' || r == ')':
			flush()
			out = append(out, string(r))
		case r == ' ' || r == '\t' || r == '\n':
			flush()
		default:
			cur += string(r)
		}
	}
	flush()
	return out
}

type cparser struct {
	toks  []string
	i     int
	preds []string
	kind  byte
}

func (p *cparser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *cparser) or() (string, error) {
	l, err := p.and()
	if err != nil {
		return "", err
	}
	parts := []string{l}
	for p.peek() == "or" {
		p.i++
		r, err := p.and()
		if err != nil {
			return "", err
		}
		parts = append(parts, r)
	}
	if len(parts) == 1 {
		return l, nil
	}
	return "(" + strings.Join(parts, " OR ") + ")", nil
}

func (p *cparser) and() (string, error) {
	l, err := p.primary()
	if err != nil {
		return "", err
	}
	parts := []string{l}
	for p.peek() == "and" {
		p.i++
		r, err := p.primary()
		if err != nil {
			return "", err
		}
		parts = append(parts, r)
	}
	if len(parts) == 1 {
		return l, nil
	}
	return "(" + strings.Join(parts, " AND ") + ")", nil
}

func (p *cparser) primary() (string, error) {
	t := p.peek()
	p.i++
	switch {
	case t == "":
		return "", errors.New("expression ends early")
	case t == "(":
		s, err := p.or()
		if err != nil {
			return "", err
		}
		if p.peek() != ")" {
			return "", errors.New("missing )")
		}
		p.i++
		return s, nil
	case len(t) == 1 && t[0] >= '1' && t[0] <= '9':
		return p.ident('d', int(t[0]-'1'))
	case len(t) == 1 && t[0] >= 'A' && t[0] <= 'Z':
		return p.ident('l', int(t[0]-'A'))
	}
	return "", fmt.Errorf("unexpected %q", t)
}

func (p *cparser) ident(kind byte, i int) (string, error) {
	if p.kind != 0 && p.kind != kind {
		return "", errors.New("identifiers mix digits and letters")
	}
	p.kind = kind
	if i >= len(p.preds) {
		return "", fmt.Errorf("identifier %d refers past the %d conditions", i+1, len(p.preds))
	}
	return p.preds[i], nil
}
