package spec

import (
	"bytes"
	"encoding/json"
	"strconv"

	"cuelang.org/go/cue"
	cueerrors "cuelang.org/go/cue/errors"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// A segment that fails the schema is not part of the state, but the parts of
// it that are not broken still get the semantic checks (regular expressions,
// references, names against the parent, ...), so that one run reports every
// problem. The broken parts, whose problems the schema already reported, are
// cut out of the file's own value and skipped by the checks.

// brokenParts are the parts of a segment that failed the schema or could not
// be expanded; the semantic checks skip them.
type brokenParts struct {
	// parent and name are set when those fields were broken: checks that
	// need the segment's parent, or its name, are skipped.
	parent, name bool
	// rule is set when the rule as a whole cannot be checked.
	rule bool
	// where holds the indexes of broken short conditions.
	where map[int]bool
	// sets holds the indexes of broken condition sets of the rule.
	sets map[int]bool
	// conds holds broken leaf conditions: condition set, condition.
	conds map[[2]int]bool
}

// partialSegment is a segment that failed the schema, with what the checks
// must skip.
type partialSegment struct {
	seg    segment.Segment
	broken *brokenParts
}

// skipSet reports whether the checks skip condition set i.
func (b *brokenParts) skipSet(i int) bool { return b != nil && b.sets[i] }

// skipCondition reports whether the checks skip condition j of set i.
func (b *brokenParts) skipCondition(i, j int) bool { return b != nil && b.conds[[2]int{i, j}] }

// skipRule reports whether the checks skip the whole rule.
func (b *brokenParts) skipRule() bool { return b != nil && b.rule }

// partialSegment decodes what is not broken of a segment that failed the
// schema: raw is the file's own value of the segment and err the schema's
// error. The schema stops at some errors (a field of the wrong type hides
// the unknown fields next to it), so what is left is checked against the
// schema again, with recheck, until it passes. It records no segment when
// too little of it is left to check.
func (d *decoder) partialSegment(path, key string, raw []byte, err error, recheck func(key string, seg []byte) (cue.Value, error)) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	if dec.Decode(&obj) != nil || obj == nil {
		return
	}
	b := &brokenParts{where: map[int]bool{}, sets: map[int]bool{}, conds: map[[2]int]bool{}}
	seen := map[string]bool{}
	for _, dg := range d.res.diags {
		seen[dg.String()] = true
	}
	var pruned []byte
	for round := 0; ; round++ {
		for _, e := range cueerrors.Errors(err) {
			p := errPath(e)
			if len(p) < 2 || p[0] != "segments" || p[1] != key {
				return
			}
			if !b.cut(obj, p[2:]) {
				return
			}
		}
		var jerr error
		if pruned, jerr = json.Marshal(obj); jerr != nil {
			return
		}
		var u cue.Value
		if u, err = recheck(key, pruned); err == nil {
			break
		}
		if round == maxRechecks {
			return
		}
		ds := cueDiags(err, d.pos)
		suggestFields(ds, err, u)
		for _, dg := range ds {
			if !seen[dg.String()] {
				seen[dg.String()] = true
				d.res.diags = append(d.res.diags, dg)
			}
		}
	}
	var doc segmentDoc
	if json.Unmarshal(pruned, &doc) != nil {
		return
	}
	if s, ok := d.segmentFrom(path, key, &doc, b); ok {
		d.res.partial = append(d.res.partial, partialSegment{seg: s, broken: b})
	}
}

// maxRechecks bounds how often a broken segment is checked against the
// schema again; every round cuts at least one part.
const maxRechecks = 8

// cut removes the part of obj (a segment) that holds the error at rel, and
// records it in b. List elements are replaced by empty objects so that the
// indexes, and with them the positions, of the others stay (by the least
// value the schema accepts, so that checking the rest against the schema
// again reports nothing about them). It returns false
// when the segment itself is broken.
func (b *brokenParts) cut(obj map[string]any, rel []string) bool {
	if len(rel) == 0 {
		return false
	}
	index := func(list []any, s string) (int, bool) {
		i, err := strconv.Atoi(s)
		return i, err == nil && i >= 0 && i < len(list)
	}
	switch rel[0] {
	case "where":
		if list, ok := obj["where"].([]any); ok && len(rel) > 1 {
			if i, ok := index(list, rel[1]); ok {
				list[i] = map[string]any{}
				b.where[i] = true
				return true
			}
		}
		delete(obj, "where")
		b.rule = true
	case "rule":
		rule, ok := obj["rule"].(map[string]any)
		if !ok || len(rel) == 1 {
			delete(obj, "rule")
			b.rule = true
			return true
		}
		if rel[1] != "conditions" {
			cutField(rule, rel[1])
			return true
		}
		sets, ok := rule["conditions"].([]any)
		var i int
		if ok && len(rel) > 2 {
			i, ok = index(sets, rel[2])
		}
		if !ok || len(rel) == 2 {
			delete(rule, "conditions")
			b.rule = true
			return true
		}
		set, ok := sets[i].(map[string]any)
		if !ok || len(rel) == 3 {
			sets[i] = map[string]any{"type": segment.And, "conditions": []any{}}
			b.sets[i] = true
			return true
		}
		if rel[3] != "conditions" {
			cutField(set, rel[3])
			return true
		}
		conds, ok := set["conditions"].([]any)
		var j int
		if ok && len(rel) > 4 {
			j, ok = index(conds, rel[4])
		}
		if !ok {
			b.sets[i] = true
			return true
		}
		conds[j] = map[string]any{"type": segment.ValueCondition}
		b.conds[[2]int{i, j}] = true
	default:
		delete(obj, rel[0])
		switch rel[0] {
		case "parent":
			b.parent = true
		case "name":
			b.name = true
		}
	}
	return true
}

// cutField removes a broken field of a rule or condition set. A broken type
// becomes And, and its expr goes with it, so that the checks of the
// conditions do not also report a missing type.
func cutField(m map[string]any, field string) {
	delete(m, field)
	if field == "type" {
		delete(m, "expr")
		m["type"] = segment.And
	}
}
