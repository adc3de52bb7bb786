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
