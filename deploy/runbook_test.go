package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// runbookDoc is the document that holds the runbook, and defaultRunbookURL
// the address of it that the rules file and the base carry; the overlays
// replace the part before "#".
const (
	runbookDoc        = "../docs/operations.md"
	defaultRunbookURL = "https://git.example.com/cas-reconciler/reconciler/blob/main/docs/operations.md"
)

var (
	headingRE  = regexp.MustCompile(`^#{1,6} (.*)$`)
	explicitRE = regexp.MustCompile(`<a id="([^"]+)"`)
	notSlugRE  = regexp.MustCompile(`[^\p{L}\p{N}_\- ]`)
)

// slug is the anchor a Markdown renderer gives a heading: lower case,
// punctuation dropped, spaces as hyphens.
func slug(h string) string {
	return strings.ReplaceAll(notSlugRE.ReplaceAllString(strings.ToLower(strings.TrimSpace(h)), ""), " ", "-")
}

// runbookAnchors returns the anchors of the "Runbook" section of the
// operations guide: one per heading below it and one per explicit
// <a id="...">.
func runbookAnchors(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(runbookDoc)
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## Runbook\n")
	if !ok {
		t.Fatalf(`%s has no section "Runbook"`, runbookDoc)
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	anchors := map[string]bool{}
	fence := false
	for _, l := range strings.Split(sec, "\n") {
		if strings.HasPrefix(l, "```") {
			fence = !fence
		}
		if fence {
			continue
		}
		if m := headingRE.FindStringSubmatch(l); m != nil {
			anchors[slug(m[1])] = true
		}
		for _, m := range explicitRE.FindAllStringSubmatch(l, -1) {
			anchors[m[1]] = true
		}
	}
	return anchors
}

// TestEveryAlertLinksItsRunbook checks that every alert carries a
// runbook_url at the documented address whose anchor is an entry of the
// runbook.
func TestEveryAlertLinksItsRunbook(t *testing.T) {
	anchors := runbookAnchors(t)
	rf := readRules(t)
	n := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			n++
			u := r.Annotations["runbook_url"]
			if u == "" {
				t.Errorf("alert %s has no runbook_url", r.Alert)
				continue
			}
			base, anchor, ok := strings.Cut(u, "#")
			if base != defaultRunbookURL || !ok {
				t.Errorf("alert %s: runbook_url %q is not %s#<anchor>", r.Alert, u, defaultRunbookURL)
				continue
			}
			if !anchors[anchor] {
				t.Errorf("alert %s: runbook_url anchor #%s is not an entry of the Runbook section of %s", r.Alert, anchor, runbookDoc)
			}
		}
	}
	if n == 0 {
		t.Error("no alerts")
	}
}

// TestOverlaysSetRunbookURL renders each overlay and checks that its alerts
// link the runbook at the address the overlay configures, with the anchors
// of the rules file.
func TestOverlaysSetRunbookURL(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not found")
	}
	want := map[string]string{}
	for _, g := range readRules(t).Groups {
		for _, r := range g.Rules {
			_, anchor, _ := strings.Cut(r.Annotations["runbook_url"], "#")
			want[r.Alert] = anchor
		}
	}
	dirs, err := filepath.Glob("overlays/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no overlays: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			url := overlayRunbookURL(t, dir)
			out, err := exec.Command(kubectl, "kustomize", dir).Output()
			if err != nil {
				t.Fatalf("kubectl kustomize %s: %v", dir, err)
			}
			dec := yaml.NewDecoder(bytes.NewReader(out))
			found := 0
			for {
				var doc struct {
					Kind     string `yaml:"kind"`
					Metadata struct {
						Name string `yaml:"name"`
					} `yaml:"metadata"`
					Spec ruleFile `yaml:"spec"`
				}
				if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					t.Fatal(err)
				}
				if doc.Kind == "ConfigMap" && doc.Metadata.Name == "cas-reconciler-runbooks" {
					t.Error("the local ConfigMap cas-reconciler-runbooks is deployed")
				}
				if doc.Kind != "PrometheusRule" {
					continue
				}
				for _, g := range doc.Spec.Groups {
					for _, r := range g.Rules {
						found++
						if got, w := r.Annotations["runbook_url"], url+"#"+want[r.Alert]; got != w {
							t.Errorf("alert %s: runbook_url %q, want %q", r.Alert, got, w)
						}
					}
				}
			}
			if found != len(want) {
				t.Errorf("%d alerts rendered, want %d", found, len(want))
			}
		})
	}
}

// overlayRunbookURL returns the address of the operations guide that the
// overlay in dir configures.
func overlayRunbookURL(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		ConfigMapGenerator []struct {
			Name     string   `yaml:"name"`
			Literals []string `yaml:"literals"`
		} `yaml:"configMapGenerator"`
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	for _, g := range k.ConfigMapGenerator {
		if g.Name != "cas-reconciler-runbooks" {
			continue
		}
		for _, l := range g.Literals {
			if u, ok := strings.CutPrefix(l, "url="); ok {
				if !strings.HasSuffix(u, "/docs/operations.md") {
					t.Errorf("%s: runbook url %q does not end in /docs/operations.md", dir, u)
				}
				return u
			}
		}
	}
	t.Fatalf("%s sets no runbook url (configMapGenerator cas-reconciler-runbooks, literal url=...)", dir)
	return ""
}
