package plan

import (
	"encoding/json"
	"io"
)

// JSONFormatVersion is the version of the JSON plan schema. It changes only
// when a field is removed or its meaning changes; new fields may appear.
const JSONFormatVersion = "1"

// jsonPlan is the documented JSON schema of a plan:
//
//	{
//	  "format_version": "1",
//	  "summary": {"add": 1, "change": 0, "replace": 0, "destroy": 0,
//	              "conflict": 0, "blocked": 0, "protected": 0, "unchanged": 3,
//	              "drift": 0},
//	  "has_changes": true,
//	  "applyable": true,
//	  "errored": false,
//	  "errors": ["segment \"R/A\" references segment \"B\", which exists ..."],
//	  "prune_blocked": "",
//	  "changes": [{
//	    "action": "create|update|replace|delete|conflict|no-op",
//	    "kind": "parent|folder|segment|activation",
//	    "parent": "Retail Customers", "name": "VIP Customers",
//	    "id": "123", "adopt": false, "renamed_from": "Old name",
//	    "looks_renamed_from": "", "looks_renamed_to": "",
//	    "diff": [{"path": "description", "before": "a", "after": "b"}],
//	    "recreated": ["attribute ltv"],
//	    "drift": {"updated_by": "alice", "updated_at": "..."},
//	    "blocked": "", "reason": "", "conflict_by": "other_owner", "level": 1000,
//	    "population": {"before": 1204, "after": 1391, "total": 5000, "unknown": "",
//	                   "warning": ""}
//	  }],
//	  "warnings": ["segment \"R/Empty\" matches no profile"]
//	}
type jsonPlan struct {
	FormatVersion string       `json:"format_version"`
	Summary       jsonSummary  `json:"summary"`
	HasChanges    bool         `json:"has_changes"`
	Applyable     bool         `json:"applyable"`
	Errored       bool         `json:"errored"`
	Errors        []string     `json:"errors,omitempty"`
	PruneBlocked  string       `json:"prune_blocked,omitempty"`
	Changes       []jsonChange `json:"changes"`
	// Warnings are the population warnings (a segment matching no profile
	// or every profile).
	Warnings []string `json:"warnings,omitempty"`
}

type jsonPopulation struct {
	Population
	Warning string `json:"warning,omitempty"`
}

type jsonSummary struct {
	Add       int `json:"add"`
	Change    int `json:"change"`
	Replace   int `json:"replace"`
	Destroy   int `json:"destroy"`
	Conflict  int `json:"conflict"`
	Blocked   int `json:"blocked"`
	Protected int `json:"protected"`
	Unchanged int `json:"unchanged"`
	Drift     int `json:"drift"`
}

type jsonChange struct {
	Action Action `json:"action"`
	Kind   Kind   `json:"kind"`
	Parent string `json:"parent"`
	Name   string `json:"name,omitempty"`
	ID     string `json:"id,omitempty"`
	Adopt  bool   `json:"adopt,omitempty"`
	// RenamedFrom is the earlier name or path of a renamed object;
	// LooksRenamedFrom/To pair a create and a delete with the same rule.
	RenamedFrom      string      `json:"renamed_from,omitempty"`
	LooksRenamedFrom string      `json:"looks_renamed_from,omitempty"`
	LooksRenamedTo   string      `json:"looks_renamed_to,omitempty"`
	Diff             []FieldDiff `json:"diff,omitempty"`
	Recreated        []string    `json:"recreated,omitempty"`
	Drift            *Drift      `json:"drift,omitempty"`
	Blocked          string      `json:"blocked,omitempty"`
	Reason           string      `json:"reason,omitempty"`
	// ConflictBy is the closed reason of a conflict.
	ConflictBy ConflictReason `json:"conflict_by,omitempty"`
	Level      int            `json:"level"`
	// Population is set on counted segment creates and updates; a figure
	// is null when unknown.
	Population *jsonPopulation `json:"population,omitempty"`
}

// WriteJSON renders the plan in the documented JSON schema. No-op changes
// are included only when all is set.
func WriteJSON(w io.Writer, p *Plan, all bool) error {
	s := p.Summary()
	out := jsonPlan{
		FormatVersion: JSONFormatVersion,
		Summary:       jsonSummary(s),
		HasChanges:    p.HasChanges(),
		Applyable:     p.Applyable,
		Errored:       p.Errored,
		Errors:        p.Errors,
		PruneBlocked:  p.PruneBlocked,
		Changes:       []jsonChange{},
		Warnings:      p.PopulationWarnings(),
	}
	for i := range p.Changes {
		c := &p.Changes[i]
		if c.Action == NoOp && !all && c.Reason == "" {
			continue
		}
		out.Changes = append(out.Changes, jsonChange{Action: c.Action, Kind: c.Kind, Parent: c.Key.Parent,
			Name: c.Key.Name, ID: c.ID, Adopt: c.Adopt, RenamedFrom: c.RenamedFrom,
			LooksRenamedFrom: c.LooksRenamedFrom, LooksRenamedTo: c.LooksRenamedTo, Diff: c.Diff, Recreated: c.Recreated, Drift: c.Drift,
			Blocked: c.Blocked, Reason: c.Reason, ConflictBy: c.ConflictBy, Level: c.Level, Population: populationJSON(c.Population)})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

func populationJSON(p *Population) *jsonPopulation {
	if p == nil {
		return nil
	}
	return &jsonPopulation{Population: *p, Warning: p.Warning()}
}
