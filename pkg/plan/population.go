package plan

import (
	"fmt"
	"strconv"
	"strings"
)

// Population is how many profiles a created or updated segment matches,
// counted on the warehouse outside this package and handed in as data:
// Before with the observed rule, After with the desired rule, both on the
// same warehouse snapshot. A nil figure is unknown (or, for Before of a
// create, absent).
type Population struct {
	Before *int64 `json:"before"`
	After  *int64 `json:"after"`
	// Total is the number of profiles of the parent segment; nil when
	// unknown.
	Total *int64 `json:"total,omitempty"`
	// Unknown says why a figure is missing (a warehouse failure, a rule
	// shape that is not counted), for people.
	Unknown string `json:"unknown,omitempty"`
	// ReleasedBy is the revision that released a change held by
	// population.maxChangePercent at an earlier revision.
	ReleasedBy string `json:"releasedBy,omitempty"`
}

// ChangePercent is the relative change from Before to After in percent;
// ok is false when either is unknown or Before is 0.
func (p *Population) ChangePercent() (pct float64, ok bool) {
	if p == nil || p.Before == nil || p.After == nil || *p.Before == 0 {
		return 0, false
	}
	return float64(*p.After-*p.Before) * 100 / float64(*p.Before), true
}

// Text renders the figures: "population 1,204 → 1,391 (+15.5%)".
func (p *Population) Text() string {
	if p == nil {
		return ""
	}
	if p.After == nil {
		s := "population unknown"
		if p.Unknown != "" {
			s += " (" + p.Unknown + ")"
		}
		return s
	}
	if p.Before == nil {
		return "population " + Thousands(*p.After)
	}
	s := "population " + Thousands(*p.Before) + " → " + Thousands(*p.After)
	if pct, ok := p.ChangePercent(); ok {
		s += fmt.Sprintf(" (%+.1f%%)", pct)
	}
	if p.ReleasedBy != "" {
		s += ", released by revision " + ShortRevision(p.ReleasedBy)
	}
	return s
}

// Warning is not empty when the desired rule matches no profile or every
// profile of the parent segment.
func (p *Population) Warning() string {
	if p == nil || p.After == nil {
		return ""
	}
	switch {
	case *p.After == 0:
		return "matches no profile"
	case p.Total != nil && *p.After == *p.Total:
		return "matches every profile of the parent segment (" + Thousands(*p.Total) + ")"
	}
	return ""
}

// PopulationWarnings lists the warnings of the plan's changes, one line
// each ("segment \"R/VIP\" matches no profile").
func (p *Plan) PopulationWarnings() []string {
	var out []string
	for i := range p.Changes {
		c := &p.Changes[i]
		if w := c.Population.Warning(); w != "" {
			out = append(out, fmt.Sprintf("%s %s %s", c.Kind, strconv.Quote(c.Key.String()), w))
		}
	}
	return out
}

// PopulationHolds remembers the population changes a run held, for the next
// run: by segment key (Key.String()), the fingerprint of the desired segment
// and the revision of the run that held it.
type PopulationHolds map[string]PopulationHold

// PopulationHold is one held population change.
type PopulationHold struct {
	Fingerprint string
	Revision    string
}

// HoldPopulationChanges blocks (BlockPopulationChange) every segment update
// whose population moves by more than maxPercent, unless the desired
// segment sets lifecycle.allowPopulationChange, or the same desired segment
// (same fingerprint) was held at an earlier revision than this one: pushing
// a new revision after a hold acknowledges it (Population.ReleasedBy says
// so). A change held at this revision stays held on every run of it, even
// when the figures move back under the limit, so a decision does not flap
// with the data. An unknown figure holds nothing. It returns the holds of
// this run, for the next; revision "" (a directory, not a commit) releases
// nothing.
func (p *Plan) HoldPopulationChanges(maxPercent float64, revision string, earlier PopulationHolds) PopulationHolds {
	held := PopulationHolds{}
	if maxPercent <= 0 {
		p.Applyable = !p.Errored && p.HasChanges()
		return held
	}
	for i := range p.Changes {
		c := &p.Changes[i]
		if !c.Applies() || c.Kind != KindSegment {
			continue
		}
		_, after := c.Segments()
		if after == nil || after.Lifecycle.AllowPopulationChange {
			continue
		}
		key, fp := c.Key.String(), Fingerprint(after)
		prev, seen := earlier[key]
		seen = seen && prev.Fingerprint == fp
		pct, ok := c.Population.ChangePercent()
		over := ok && (pct > maxPercent || pct < -maxPercent)
		switch {
		case seen && revision != "" && prev.Revision != revision:
			if c.Population != nil {
				c.Population.ReleasedBy = revision
			}
			continue
		case !over && !(seen && prev.Revision == revision):
			continue
		}
		what := "moves by more than"
		if ok {
			what = fmt.Sprintf("moves by %+.1f%% (%s), more than", pct, c.Population.Text())
		}
		c.block(BlockPopulationChange, fmt.Sprintf("its population %s population.maxChangePercent (%g%%); set lifecycle.allowPopulationChange: true on the segment, or push a new revision, to apply it",
			what, maxPercent))
		rev := revision
		if seen {
			rev = prev.Revision
		}
		held[key] = PopulationHold{Fingerprint: fp, Revision: rev}
	}
	p.Applyable = !p.Errored && p.HasChanges()
	return held
}

// Thousands renders n with commas between groups of three digits.
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// ShortRevision is the first 12 characters of a commit id, as plans, status
// lines and logs show it.
func ShortRevision(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
