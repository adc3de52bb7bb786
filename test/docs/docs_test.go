package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const root = "../.."

// maxREADME is the size the README may reach: what the project is, the two
// commands, a tour and the links to the guides.
const maxREADME = 12 * 1024

// quickStart holds the README's two commands, exactly as a user types them.
var quickStart = []string{
	"go run ./cmd/reconciler demo",
	"./test.sh",
}

var (
	headingRE  = regexp.MustCompile(`^(#{1,6}) (.*)$`)
	explicitRE = regexp.MustCompile(`<a id="([^"]+)"`)
	notSlugRE  = regexp.MustCompile(`[^\p{L}\p{N}_\- ]`)
	linkRE     = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	schemeRE   = regexp.MustCompile(`^[a-z][a-z0-9+.-]*:`)
	tocEntryRE = regexp.MustCompile(`^\s*- \[.*\]\(#([^)]+)\)$`)
)

// slug is the anchor a Markdown renderer gives a heading: lower case,
// punctuation dropped, spaces as hyphens.
func slug(h string) string {
	return strings.ReplaceAll(notSlugRE.ReplaceAllString(strings.ToLower(strings.TrimSpace(h)), ""), " ", "-")
}

type heading struct {
	level  int
	anchor string
}

// outline returns the headings of a Markdown text outside code blocks and
// the set of its anchors (headings, repeated ones numbered as renderers do,
// and explicit <a id="...">).
func outline(text string) ([]heading, map[string]bool) {
	var hs []heading
	anchors := map[string]bool{}
	seen := map[string]int{}
	fence := false
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "```") {
			fence = !fence
		}
		if fence {
			continue
		}
		if m := headingRE.FindStringSubmatch(l); m != nil {
			a := slug(m[2])
			if n := seen[a]; n > 0 {
				seen[a]++
				a += "-" + strconv.Itoa(n)
			} else {
				seen[a] = 1
			}
			anchors[a] = true
			hs = append(hs, heading{len(m[1]), a})
		}
		for _, m := range explicitRE.FindAllStringSubmatch(l, -1) {
			anchors[m[1]] = true
		}
	}
	return hs, anchors
}

// documents returns the README and every guide under docs/, by path
// relative to the repository root.
func documents(t *testing.T) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	paths = append(paths, filepath.Join(root, "README.md"))
	docs := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		docs[filepath.ToSlash(rel)] = string(b)
	}
	return docs
}

func TestREADMEIsAFrontPage(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > maxREADME {
		t.Errorf("README.md is %d bytes, more than %d: move the details to a guide under docs/", len(b), maxREADME)
	}
	_, quick, ok := strings.Cut(string(b), "\n## Quick start\n")
	if !ok {
		t.Fatal(`README.md has no section "Quick start"`)
	}
	quick, _, _ = strings.Cut(quick, "\n## ")
	for _, c := range quickStart {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(c) + `(\s|$)`).MatchString(quick) {
			t.Errorf("the quick start does not give the command %q", c)
		}
	}
	for _, guide := range []string{"authoring", "cli", "configuration", "operations", "treasure-api", "development"} {
		if !strings.Contains(string(b), "](docs/"+guide+".md)") {
			t.Errorf("README.md does not link docs/%s.md", guide)
		}
	}
}

// TestGuidesHaveContents checks that every guide lists each of its
// sections (level 2 headings) in a table of contents before the first one.
func TestGuidesHaveContents(t *testing.T) {
	for path, text := range documents(t) {
		if path == "README.md" {
			continue
		}
		hs, _ := outline(text)
		head, _, _ := strings.Cut(text, "\n## ")
		listed := map[string]bool{}
		for _, l := range strings.Split(head, "\n") {
			if m := tocEntryRE.FindStringSubmatch(l); m != nil {
				listed[m[1]] = true
			}
		}
		n := 0
		for _, h := range hs {
			if h.level == 2 {
				n++
				if !listed[h.anchor] {
					t.Errorf("%s: section #%s is not in the table of contents", path, h.anchor)
				}
			}
		}
		if n == 0 {
			t.Errorf("%s has no sections", path)
		}
	}
}

// TestLinksResolve checks every relative link of the README and the guides:
// the file exists, and an anchor in a Markdown file is one of its headings
// or explicit anchors.
func TestLinksResolve(t *testing.T) {
	docs := documents(t)
	anchors := map[string]map[string]bool{}
	for path, text := range docs {
		_, anchors[path] = outline(text)
	}
	n := 0
	for path, text := range docs {
		fence := false
		for i, l := range strings.Split(text, "\n") {
			if strings.HasPrefix(l, "```") {
				fence = !fence
			}
			if fence {
				continue
			}
			for _, m := range linkRE.FindAllStringSubmatch(l, -1) {
				target := m[1]
				if schemeRE.MatchString(target) {
					continue
				}
				n++
				file, anchor, _ := strings.Cut(target, "#")
				dest := path
				if file != "" {
					dest = filepath.ToSlash(filepath.Join(filepath.Dir(path), file))
					if _, err := os.Stat(filepath.Join(root, dest)); err != nil {
						t.Errorf("%s:%d: link %s: %s does not exist", path, i+1, target, dest)
						continue
					}
				}
				if anchor == "" || !strings.HasSuffix(dest, ".md") {
					continue
				}
				a, ok := anchors[dest]
				if !ok {
					b, err := os.ReadFile(filepath.Join(root, dest))
					if err != nil {
						t.Fatal(err)
					}
					_, a = outline(string(b))
					anchors[dest] = a
				}
				if !a[anchor] {
					t.Errorf("%s:%d: link %s: %s has no anchor #%s", path, i+1, target, dest, anchor)
				}
			}
		}
	}
	if n == 0 {
		t.Error("no relative links found")
	}
}
