package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cas-reconciler/reconciler/pkg/catalog"
	"github.com/cas-reconciler/reconciler/pkg/plan"
	"github.com/cas-reconciler/reconciler/pkg/population"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// Counter runs population statements on the warehouse.
type Counter interface {
	Count(ctx context.Context, st population.Statement, timeout time.Duration) ([]int64, error)
}

// PopulationOptions bound the population preview of a run.
type PopulationOptions struct {
	// Timeout bounds each statement (one per parent segment); 0 leaves it
	// to the warehouse client's query timeout.
	Timeout time.Duration
	// MaxSegments caps the segments counted per run; the figures of the
	// others are unknown. 0 means no cap.
	MaxSegments int
	// MaxChangePercent, when positive, holds the apply of a segment update
	// whose population moves by more than this percentage
	// (plan.BlockPopulationChange).
	MaxChangePercent float64
}

// DefaultPopulationMaxSegments is the default cap of segments counted per run.
const DefaultPopulationMaxSegments = 100

// countPopulations sets Population on every segment create and update of
// p: one statement per parent segment counts its profiles, the desired rule
// of each changed segment and, where it differs, the observed rule. A
// warehouse failure or a rule shape the compiler does not count makes the
// figure unknown; it never fails the run. Unchanged segments are never
// counted. It returns the number of statements run.
func countPopulations(ctx context.Context, cnt Counter, p *plan.Plan, desired, observed segment.State, cat *catalog.Catalog, now time.Time, o PopulationOptions) int {
	type pending struct {
		c       *plan.Change
		after   *segment.Segment
		before  *segment.Segment
		sameAll bool
	}
	byParent := map[string][]pending{}
	var order []string
	counted := 0
	for i := range p.Changes {
		c := &p.Changes[i]
		if c.Kind != plan.KindSegment || (c.Action != plan.Create && c.Action != plan.Update) {
			continue
		}
		before, after := c.Segments()
		if after == nil {
			continue
		}
		if o.MaxSegments > 0 && counted >= o.MaxSegments {
			c.Population = &plan.Population{Unknown: fmt.Sprintf("not counted: more than %d changed segments in this run (population.maxSegments)", o.MaxSegments)}
			continue
		}
		counted++
		if _, ok := byParent[c.Key.Parent]; !ok {
			order = append(order, c.Key.Parent)
		}
		byParent[c.Key.Parent] = append(byParent[c.Key.Parent], pending{c: c, after: after, before: before, sameAll: before != nil && sameRule(&before.Rule, &after.Rule)})
	}
	statements := 0
	for _, name := range order {
		items := byParent[name]
		parent := findParent(desired, name)
		if parent == nil {
			for _, it := range items {
				it.c.Population = &plan.Population{Unknown: "not counted: the parent segment is not in the repository"}
			}
			continue
		}
		opts := population.Options{Now: now, TimeKinds: TimeKinds(parent, cat), Segments: rulesOf(desired, name)}
		observedRules := rulesOf(observed, name)
		named := []population.Named{{Name: "total", Rule: &segment.Rule{}}}
		type slot struct{ after, before int }
		slots := make([]slot, len(items))
		for i, it := range items {
			slots[i] = slot{-1, -1}
			pop := &plan.Population{}
			it.c.Population = pop
			if _, err := population.Compile(parent, &it.after.Rule, opts); err != nil {
				pop.Unknown = compileReason(err)
			} else {
				slots[i].after = len(named)
				named = append(named, population.Named{Name: it.after.Name, Rule: &it.after.Rule})
			}
		}
		st, err := population.CompileBatch(parent, named, opts)
		// The observed rules resolve references among the observed
		// segments, so they are counted in a second statement, only for
		// the updates that change the rule.
		var beforeNamed []population.Named
		for i, it := range items {
			if it.before == nil || it.sameAll {
				continue
			}
			bo := population.Options{Now: now, TimeKinds: opts.TimeKinds, Segments: observedRules}
			if _, err := population.Compile(parent, &it.before.Rule, bo); err != nil {
				continue
			}
			slots[i].before = len(beforeNamed)
			beforeNamed = append(beforeNamed, population.Named{Name: it.before.Name, Rule: &it.before.Rule})
		}
		var counts, beforeCounts []int64
		var cerr error
		if err == nil {
			statements++
			counts, cerr = cnt.Count(ctx, st, o.Timeout)
		} else {
			cerr = err
		}
		if cerr == nil && len(beforeNamed) > 0 {
			var bst population.Statement
			bst, cerr = population.CompileBatch(parent, beforeNamed, population.Options{Now: now, TimeKinds: opts.TimeKinds, Segments: observedRules})
			if cerr == nil {
				statements++
				beforeCounts, cerr = cnt.Count(ctx, bst, o.Timeout)
			}
		}
		if cerr != nil {
			why := "warehouse: " + oneLine(cerr)
			var ce *population.Error
			if errors.As(cerr, &ce) {
				why = compileReason(cerr)
			}
			for _, it := range items {
				if it.c.Population.Unknown == "" {
					it.c.Population.Unknown = why
				}
			}
			continue
		}
		total := counts[0]
		for i, it := range items {
			pop := it.c.Population
			pop.Total = &total
			if slots[i].after >= 0 {
				pop.After = &counts[slots[i].after]
			}
			switch {
			case it.before == nil:
			case it.sameAll:
				pop.Before = pop.After
			case slots[i].before >= 0:
				pop.Before = &beforeCounts[slots[i].before]
			case pop.Unknown == "":
				pop.Unknown = "the observed rule is not counted"
			}
		}
	}
	return statements
}

func compileReason(err error) string {
	var ce *population.Error
	if errors.As(err, &ce) {
		return fmt.Sprintf("not counted (%s): %s", ce.Reason, strings.TrimPrefix(ce.Error(), "population: "))
	}
	return oneLine(err)
}

func oneLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func sameRule(a, b *segment.Rule) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

func findParent(st segment.State, name string) *segment.Parent {
	for i := range st.Parents {
		if st.Parents[i].Name == name {
			return &st.Parents[i]
		}
	}
	return nil
}

func rulesOf(st segment.State, parent string) map[string]*segment.Rule {
	out := map[string]*segment.Rule{}
	for i := range st.Segments {
		if s := &st.Segments[i]; s.Parent == parent {
			out[s.Name] = &s.Rule
		}
	}
	return out
}

// TimeKinds reads the type of each behavior's time column from the
// warehouse catalog.
func TimeKinds(p *segment.Parent, cat *catalog.Catalog) map[string]population.TimeKind {
	out := map[string]population.TimeKind{}
	if cat == nil {
		return out
	}
	for _, b := range p.Behaviors {
		t := cat.Table(b.Table)
		if t == nil || b.Time == "" {
			continue
		}
		col, ok := t.Column(b.Time)
		if !ok {
			continue
		}
		switch {
		case catalog.IsIntegerType(col.Type):
			out[b.Name] = population.TimeEpochSeconds
		case strings.EqualFold(col.Type, "date"):
			out[b.Name] = population.TimeDate
		}
	}
	return out
}
