package plan

import (
	"fmt"
	"io"
	"strings"
)

// MaxMarkdown is the largest comment a renderer produces, below GitHub's
// limit of 65,536 characters for a comment.
const MaxMarkdown = 65000

// WriteMarkdown renders the plan for a pull-request comment: a summary
// table and one collapsible block per changed object. Output longer than
// limit (MaxMarkdown when 0) is cut with a note.
func WriteMarkdown(w io.Writer, p *Plan, title string, limit int) error {
	if limit <= 0 {
		limit = MaxMarkdown
	}
	const cutNote = "\n_The plan is too long for one comment and was cut; run `reconciler plan` for the whole plan._\n"
	var body strings.Builder
	body.WriteString(markdownHead(p, title))
	for i := range p.Changes {
		c := &p.Changes[i]
		if c.Action == NoOp && c.Reason == "" {
			continue
		}
		blk := markdownChange(c)
		if body.Len()+len(blk)+len(cutNote) > limit {
			body.WriteString(cutNote)
			_, err := io.WriteString(w, body.String())
			return err
		}
		body.WriteString(blk)
	}
	_, err := io.WriteString(w, body.String())
	return err
}

// markdownHead renders the title, the summary table and the notes on
// blocked deletes, errors and population warnings.
func markdownHead(p *Plan, title string) string {
	s := p.Summary()
	var head strings.Builder
	if title == "" {
		title = "Reconciler plan"
	}
	fmt.Fprintf(&head, "### %s\n\n**%s**\n\n", title, SummaryLine(p))
	head.WriteString("| add | change | replace | destroy | conflict | blocked | drift |\n|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(&head, "| %d | %d | %d | %d | %d | %d | %d |\n\n", s.Add, s.Change, s.Replace, s.Destroy, s.Conflict, s.Blocked, s.Drift)
	if p.PruneBlocked != "" {
		fmt.Fprintf(&head, "> [!WARNING]\n> Deletes blocked: %s\n\n", p.PruneBlocked)
	}
	if len(p.Errors) > 0 {
		head.WriteString("> [!CAUTION]\n> The plan cannot be applied:\n")
		for _, e := range p.Errors {
			fmt.Fprintf(&head, "> - %s\n", escapeHTML(e))
		}
		head.WriteString("\n")
	}
	if ws := p.PopulationWarnings(); len(ws) > 0 {
		head.WriteString("> [!WARNING]\n")
		for _, w := range ws {
			fmt.Fprintf(&head, "> %s\n", escapeHTML(w))
		}
		head.WriteString("\n")
	}
	return head.String()
}

// markdownChange renders one change as a collapsible block: a summary line,
// and the change's text rendering as a diff.
func markdownChange(c *Change) string {
	var blk strings.Builder
	name := c.Key.Name
	if name == "" {
		name = c.Key.Parent
	}
	fmt.Fprintf(&blk, "<details><summary><code>%s</code> %s <b>%s</b>", symbol(c.Action), c.Kind, escapeHTML(name))
	if c.Kind != KindParent {
		fmt.Fprintf(&blk, " (in %s)", escapeHTML(c.Key.Parent))
	}
	if c.RenamedFrom != "" {
		fmt.Fprintf(&blk, " — renamed from %s", escapeHTML(c.RenamedFrom))
	}
	if c.Blocked != "" {
		blk.WriteString(" — blocked")
	}
	if c.Drift != nil {
		blk.WriteString(" — drift")
	}
	if t := c.Population.Text(); t != "" {
		blk.WriteString(" — " + escapeHTML(t))
	}
	if w := c.Population.Warning(); w != "" {
		blk.WriteString(" — ⚠️ " + escapeHTML(w))
	}
	blk.WriteString("</summary>\n\n```diff\n")
	one := &Plan{Changes: []Change{*c}}
	var txt strings.Builder
	_ = WriteText(&txt, one, TextOptions{ShowUnchanged: true})
	text := txt.String()
	if i := strings.LastIndex(text, "\n\n"); i >= 0 {
		text = text[:i+1]
	}
	blk.WriteString(strings.ReplaceAll(text, "```", "'''"))
	blk.WriteString("```\n</details>\n")
	return blk.String()
}

func escapeHTML(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
