package plan

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// TextOptions control the human rendering.
type TextOptions struct {
	// Color adds ANSI colours; the CLI sets it only on a terminal.
	Color bool
	// ShowUnchanged lists no-op objects too.
	ShowUnchanged bool
}

const (
	ansiReset  = "\x1b[0m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiRed    = "\x1b[31m"
	ansiBold   = "\x1b[1m"
)

// symbol returns Terraform's marker for an action.
func symbol(a Action) string {
	switch a {
	case Create:
		return "+"
	case Update:
		return "~"
	case Replace:
		return "-/+"
	case Delete:
		return "-"
	case Conflict:
		return "!"
	}
	return " "
}

func colorOf(a Action) string {
	switch a {
	case Create:
		return ansiGreen
	case Update, Conflict:
		return ansiYellow
	case Replace, Delete:
		return ansiRed
	}
	return ""
}

// WriteText renders the plan in Terraform's grammar.
func WriteText(w io.Writer, p *Plan, o TextOptions) error {
	t := &textWriter{color: o.Color}
	for i := range p.Changes {
		c := &p.Changes[i]
		if c.Action == NoOp && (!o.ShowUnchanged && c.Reason == "") {
			continue
		}
		t.change(c)
	}
	t.footer(p)
	_, err := io.WriteString(w, t.b.String())
	return err
}

// textWriter builds the text rendering of a plan.
type textWriter struct {
	b     strings.Builder
	color bool
}

// paint colours s when colours are on.
func (t *textWriter) paint(color, s string) string {
	if !t.color || color == "" {
		return s
	}
	return color + s + ansiReset
}

// change writes one change: its title and notes, its marker line and the
// block of what it adds, removes or changes.
func (t *textWriter) change(c *Change) {
	t.title(c)
	b := &t.b
	name := c.Key.Name
	if name == "" {
		name = c.Key.Parent
	}
	fmt.Fprintf(b, "  %s %s %s", t.paint(colorOf(c.Action), symbol(c.Action)), c.Kind, strconv.Quote(name))
	if c.RenamedFrom != "" {
		fmt.Fprintf(b, " (renamed from %s)", strconv.Quote(c.RenamedFrom))
	}
	if p := c.Population.Text(); p != "" {
		b.WriteString("  " + p)
	}
	if c.Action == Conflict && len(c.Diff) == 0 {
		b.WriteString("\n\n")
		return
	}
	b.WriteString(" {\n")
	t.body(c)
	b.WriteString("    }\n\n")
}

// title writes the comment lines above a change: what happens to the
// object, drift, why it is held, its reason and a population warning.
func (t *textWriter) title(c *Change) {
	b := &t.b
	verb := map[Action]string{Create: "will be created", Update: "will be updated in-place",
		Replace: "will be replaced (full replace of attributes and behaviors)", Delete: "will be destroyed",
		Conflict: "conflicts with an object the reconciler does not own", NoOp: "is unchanged"}[c.Action]
	if c.Adopt {
		verb = "will be adopted and updated"
	}
	if c.Blocked != "" {
		verb = strings.Replace(verb, "will be", "would be", 1) + ", but is held"
	}
	title := fmt.Sprintf("# %s %s %s", c.Kind, strconv.Quote(c.Key.String()), verb)
	if c.ID != "" {
		title += " (id " + c.ID + ")"
	}
	b.WriteString(t.paint(ansiBold, title) + "\n")
	if c.Drift != nil {
		fmt.Fprintf(b, "  # drift: changed outside the reconciler by %s at %s\n",
			orUnknown(c.Drift.UpdatedBy), orUnknownTime(c.Drift))
	}
	if c.Blocked != "" {
		b.WriteString("  # blocked: " + c.Blocked + "\n")
	}
	if c.Reason != "" {
		b.WriteString("  # " + c.Reason + "\n")
	}
	if w := c.Population.Warning(); w != "" {
		b.WriteString("  # " + t.paint(ansiYellow, "warning: "+w) + "\n")
	}
}

// body writes the lines inside a change's block: every field of a created
// or deleted object, the differences of any other.
func (t *textWriter) body(c *Change) {
	b := &t.b
	switch c.Action {
	case Create:
		for _, l := range summaryLines(c.After) {
			b.WriteString("      " + t.paint(ansiGreen, "+") + " " + l + "\n")
		}
	case Delete:
		for _, l := range summaryLines(c.Before) {
			b.WriteString("      " + t.paint(ansiRed, "-") + " " + l + "\n")
		}
	default:
		for _, d := range c.Diff {
			switch {
			case d.Before == "":
				fmt.Fprintf(b, "      %s %s: %s\n", t.paint(ansiGreen, "+"), d.Path, d.After)
			case d.After == "":
				fmt.Fprintf(b, "      %s %s: %s\n", t.paint(ansiRed, "-"), d.Path, d.Before)
			default:
				fmt.Fprintf(b, "      %s %s: %s -> %s\n", t.paint(ansiYellow, "~"), d.Path, strconv.Quote(d.Before), strconv.Quote(d.After))
			}
		}
		if len(c.Recreated) > 0 {
			b.WriteString("      # recreated with new ids: " + strings.Join(c.Recreated, ", ") + "\n")
		}
	}
}

// footer writes the blocked deletes, the errors, the population warnings
// and the summary line.
func (t *textWriter) footer(p *Plan) {
	b := &t.b
	if p.PruneBlocked != "" {
		b.WriteString(t.paint(ansiYellow, "Deletes blocked: "+p.PruneBlocked) + "\n")
	}
	for _, e := range p.Errors {
		b.WriteString(t.paint(ansiRed, "Error: ") + e + "\n")
	}
	for _, w := range p.PopulationWarnings() {
		b.WriteString(t.paint(ansiYellow, "Warning: ") + w + "\n")
	}
	b.WriteString(SummaryLine(p) + "\n")
}

// SummaryLine renders Terraform's summary line.
func SummaryLine(p *Plan) string {
	s := p.Summary()
	if p.Errored {
		return fmt.Sprintf("Plan cannot be applied: %d error(s).", len(p.Errors))
	}
	if !p.HasChanges() {
		if s.Unresolved() == 0 {
			line := "No changes. Treasure Data matches the repository."
			if s.Protected > 0 {
				line += fmt.Sprintf(" (%d protected)", s.Protected)
			}
			return line
		}
		// Nothing to apply is not the same as nothing to do.
		var extra []string
		if s.Conflict > 0 {
			extra = append(extra, fmt.Sprintf("%d conflict(s)", s.Conflict))
		}
		if n := s.Blocked - s.Protected; n > 0 {
			extra = append(extra, fmt.Sprintf("%d blocked", n))
		}
		if s.Protected > 0 {
			extra = append(extra, fmt.Sprintf("%d protected", s.Protected))
		}
		return "Nothing to apply, but Treasure Data does not match the repository: " + strings.Join(extra, ", ") + "."
	}
	line := fmt.Sprintf("Plan: %d to add, %d to change, %d to replace, %d to destroy.", s.Add, s.Change, s.Replace, s.Destroy)
	if s.Conflict > 0 || s.Blocked > 0 {
		line += fmt.Sprintf(" (%d conflict(s), %d blocked)", s.Conflict, s.Blocked)
	}
	return line
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown user"
	}
	return s
}

func orUnknownTime(d *Drift) string {
	if d.UpdatedAt.IsZero() {
		return "an unknown time"
	}
	return d.UpdatedAt.UTC().Format("2006-01-02 15:04:05 UTC")
}
