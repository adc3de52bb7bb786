package spec

import (
	"errors"
	"fmt"
	"strings"
)

// parseComposite parses a Composite expression over n items and returns the
// items it uses (0-based). Identifiers are 1..9 or A..Z, not mixed; the
// operators are lowercase and and or; parentheses group.
func parseComposite(expr string, n int) (map[int]bool, error) {
	p := &compositeParser{src: expr, n: n, used: map[int]bool{}}
	if strings.TrimSpace(expr) == "" {
		return nil, errors.New("expression is empty")
	}
	p.next()
	if err := p.or(); err != nil {
		return nil, err
	}
	if p.tok != "" {
		return nil, fmt.Errorf("unexpected %q", p.tok)
	}
	return p.used, nil
}

type compositeParser struct {
	src  string
	off  int
	tok  string
	n    int
	kind byte // 'd' for digits, 'l' for letters
	used map[int]bool
}

func (p *compositeParser) next() {
	for p.off < len(p.src) && (p.src[p.off] == ' ' || p.src[p.off] == '\t') {
		p.off++
	}
	if p.off >= len(p.src) {
		p.tok = ""
		return
	}
	c := p.src[p.off]
	if c == '(' || c == ')' {
		p.tok = string(c)
		p.off++
		return
	}
	start := p.off
	for p.off < len(p.src) && p.src[p.off] != ' ' && p.src[p.off] != '\t' && p.src[p.off] != '(' && p.src[p.off] != ')' {
		p.off++
	}
	p.tok = p.src[start:p.off]
}

func (p *compositeParser) or() error {
	if err := p.and(); err != nil {
		return err
	}
	for p.tok == "or" {
		p.next()
		if err := p.and(); err != nil {
			return err
		}
	}
	return nil
}

func (p *compositeParser) and() error {
	if err := p.primary(); err != nil {
		return err
	}
	for p.tok == "and" {
		p.next()
		if err := p.primary(); err != nil {
			return err
		}
	}
	return nil
}

func (p *compositeParser) primary() error {
	t := p.tok
	switch {
	case t == "":
		return errors.New("unexpected end of expression")
	case t == "(":
		p.next()
		if err := p.or(); err != nil {
			return err
		}
		if p.tok != ")" {
			return errors.New("missing )")
		}
		p.next()
		return nil
	case len(t) == 1 && t[0] >= '1' && t[0] <= '9':
		return p.ident('d', int(t[0]-'1'))
	case len(t) == 1 && t[0] >= 'A' && t[0] <= 'Z':
		return p.ident('l', int(t[0]-'A'))
	case t == "AND" || t == "OR" || t == "And" || t == "Or":
		return fmt.Errorf("operator %q must be lowercase", t)
	}
	return fmt.Errorf("unexpected %q", t)
}

func (p *compositeParser) ident(kind byte, i int) error {
	if p.kind != 0 && p.kind != kind {
		return errors.New("identifiers mix digits and letters")
	}
	p.kind = kind
	if i >= p.n {
		return fmt.Errorf("%q refers to item %d, but there are %d", p.tok, i+1, p.n)
	}
	p.used[i] = true
	p.next()
	return nil
}
