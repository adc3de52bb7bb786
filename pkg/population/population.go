// Package population compiles a segment rule into one Databricks SQL
// statement that counts the distinct customer keys the rule matches. It is
// pure: it does no I/O and reads no clock; the instant relative time
// operators count from is a parameter.
//
// Identifiers are quoted with backticks and every value of a rule is a named
// parameter (:p1, :p2, ...), never spliced into the SQL text. Where the
// meaning of a rule shape is not documented by Treasure, the compiler makes a
// choice and writes it into the SQL as a comment.
package population

import (
	"fmt"
	"strings"
	"time"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// Options are the inputs of a compilation besides the parent and the rule.
type Options struct {
	// Now is the instant relative time operators count from.
	Now time.Time
	// Segments holds the rules of the segments a rule may reference by name
	// (Reference conditions with Segment set), in the same parent.
	Segments map[string]*segment.Rule
	// TimeKinds gives, by behavior name, the type of the behavior's time
	// column as the warehouse reports it; a behavior not listed has a
	// TIMESTAMP time column.
	TimeKinds map[string]TimeKind
}

// TimeKind is the warehouse type of a behavior's time column.
type TimeKind uint8

// Time column kinds.
const (
	TimeTimestamp TimeKind = iota
	TimeDate
	// TimeEpochSeconds is an integer count of seconds since 1970 UTC.
	TimeEpochSeconds
)

// Param is one named parameter of a Statement.
type Param struct {
	// Name is the parameter name without the colon.
	Name string
	// Value is a string, float64, int64, bool or time.Time.
	Value any
}

// Statement is a compiled SQL statement and its named parameters.
type Statement struct {
	SQL    string
	Params []Param
	// Columns names, in order, the result columns: one count per segment.
	Columns []string
}

// Named is a segment to count in a batch.
type Named struct {
	Name string
	Rule *segment.Rule
}

// Compile returns a statement with one result column, `population`, the
// number of distinct customer keys rule matches.
func Compile(p *segment.Parent, rule *segment.Rule, opts Options) (Statement, error) {
	return CompileBatch(p, []Named{{Name: "population", Rule: rule}}, opts)
}

// CompileBatch returns one statement that counts every segment of one
// parent in a single scan of the Customers table: one conditional count per
// segment, each behavior aggregated once (all aggregations of all segments
// on one behavior share one grouped subquery). Result column i is the count
// of segs[i].
func CompileBatch(p *segment.Parent, segs []Named, opts Options) (Statement, error) {
	if p == nil {
		return Statement{}, &Error{Reason: ReasonInvalid, Msg: "no parent segment"}
	}
	var rules []*segment.Rule
	for _, s := range segs {
		rules = append(rules, s.Rule)
	}
	referenced := referencedSegments(rules, opts.Segments)
	c, err := newCompiler(p, opts)
	if err != nil {
		return Statement{}, err
	}
	c.layered = len(referenced) > 0
	var preds, limits []string
	for _, s := range segs {
		c.stack = nil
		var pred string
		if referenced[s.Name] && opts.Segments[s.Name] == s.Rule && (s.Rule == nil || s.Rule.Limit == nil) {
			// Counted and referenced: the column serves both.
			pred, err = c.refColumn(s.Rule, s.Name)
		} else {
			pred, err = c.rule(s.Rule, s.Name)
		}
		if err != nil {
			return Statement{}, err
		}
		lim := ""
		if s.Rule != nil && s.Rule.Limit != nil {
			c.seg = s.Name
			lim, err = c.limit(s.Rule.Limit)
			c.seg = ""
			if err != nil {
				return Statement{}, err
			}
		}
		preds = append(preds, pred)
		limits = append(limits, lim)
	}
	return c.statement(segs, preds, limits), nil
}

// referencedSegments names the segments rules reference, directly or
// through the rules of other segments (known holds those rules). A rule
// that references others is compiled layered, every referenced rule once:
// inlined, a rule that references an earlier one twice doubles with each
// link of the chain.
func referencedSegments(rules []*segment.Rule, known map[string]*segment.Rule) map[string]bool {
	seen := map[string]bool{}
	for len(rules) > 0 {
		r := rules[len(rules)-1]
		rules = rules[:len(rules)-1]
		if r == nil {
			continue
		}
		for i := range r.Conditions {
			for j := range r.Conditions[i].Conditions {
				cond := &r.Conditions[i].Conditions[j]
				if cond.Type != segment.ReferenceCondition || cond.Segment == "" || seen[cond.Segment] {
					continue
				}
				seen[cond.Segment] = true
				if next, ok := known[cond.Segment]; ok {
					rules = append(rules, next)
				}
			}
		}
	}
	return seen
}

func newCompiler(p *segment.Parent, opts Options) (*compiler, error) {
	if p == nil {
		return nil, &Error{Reason: ReasonInvalid, Msg: "no parent segment"}
	}
	loc := time.UTC
	if p.Timezone != "" {
		l, err := time.LoadLocation(p.Timezone)
		if err != nil {
			return nil, &Error{Reason: ReasonInvalid, Path: "timezone", Msg: fmt.Sprintf("unknown time zone %q", p.Timezone)}
		}
		loc = l
	}
	return &compiler{parent: p, opts: opts, loc: loc, now: opts.Now.In(loc), joins: map[string]*joinAgg{}, behaviors: map[string]*behaviorAgg{}}, nil
}

// Reason classifies a compile error.
type Reason string

// Compile error reasons.
const (
	// ReasonUnsupported is a rule shape the compiler does not translate.
	ReasonUnsupported Reason = "unsupported"
	// ReasonUnknownName is an attribute, behavior, column or segment the
	// parent does not declare.
	ReasonUnknownName Reason = "unknown_name"
	// ReasonTypeMismatch is a value whose kind does not fit the column type.
	ReasonTypeMismatch Reason = "type_mismatch"
	// ReasonCycle is a segment that references itself through references.
	ReasonCycle Reason = "cycle"
	// ReasonInvalid is a malformed rule or parent.
	ReasonInvalid Reason = "invalid"
)

// Error is a diagnostic for a rule the compiler cannot count exactly. It
// never comes with a statement: a rule is counted exactly or not at all.
type Error struct {
	Reason Reason
	// Segment is the segment whose rule holds the shape.
	Segment string
	// Path locates the shape in the rule ("conditions[0].conditions[1].operator").
	Path string
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("population: ")
	if e.Segment != "" {
		fmt.Fprintf(&b, "segment %q: ", e.Segment)
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Quote returns name as a backticked identifier.
func Quote(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }

func quoteTable(t segment.Table) string {
	return Quote(t.Catalog) + "." + Quote(t.Schema) + "." + Quote(t.Table)
}

// CompileSample returns a statement with one result column, `key`, that
// lists up to n of the customer keys the rule of seg matches, in key order. A root
// limit of the rule is not applied: which profiles Treasure keeps under a
// limit is not known, so the sample is drawn from every matching profile.
func CompileSample(p *segment.Parent, seg Named, n int, opts Options) (Statement, error) {
	c, err := newCompiler(p, opts)
	if err != nil {
		return Statement{}, err
	}
	c.layered = len(referencedSegments([]*segment.Rule{seg.Rule}, opts.Segments)) > 0
	pred, err := c.rule(seg.Rule, seg.Name)
	if err != nil {
		return Statement{}, err
	}
	lim := c.param(int64(n))
	const head = "/* population sample: matching customer keys in key order; a root limit is not applied */\nSELECT DISTINCT "
	if c.layered {
		sql := head + "`k` AS `key`\n" + c.layers() + "WHERE " + pred + "\nORDER BY `key`\nLIMIT " + lim + "\n"
		return Statement{SQL: sql, Params: c.params, Columns: []string{"key"}}, nil
	}
	key := "c." + Quote(p.Customers.Key)
	sql := head + key + " AS `key`\n" + c.from() + "WHERE " + pred + "\nORDER BY `key`\nLIMIT " + lim + "\n"
	return Statement{SQL: sql, Params: c.params, Columns: []string{"key"}}, nil
}
