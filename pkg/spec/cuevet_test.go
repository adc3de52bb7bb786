package spec

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/cas-reconciler/reconciler/schemas"
)

// cueVersion returns the version of cuelang.org/go that go.mod requires.
func cueVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*cuelang\.org/go (v\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod does not require cuelang.org/go")
	}
	return string(m[1])
}

// cueCommand returns a cue command: $CUE if set, else one built from the
// version go.mod requires. It skips the test when none can be had.
func cueCommand(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CUE"); p != "" {
		return p
	}
	if testing.Short() {
		t.Skip("building the cue command takes minutes; skipped in -short mode (set CUE to a cue binary to run)")
	}
	bin := t.TempDir()
	cmd := exec.Command("go", "install", "cuelang.org/go/cmd/cue@"+cueVersion(t))
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("cannot build the cue command (%v); skipping the cue vet check:\n%s", err, out)
	}
	name := "cue"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	return filepath.Join(bin, name)
}

// copyDir copies the files of fsys into dir.
func copyDir(t *testing.T, fsys fs.FS, dir string) {
	t.Helper()
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// schemaDir is where docs/authoring.md tells authors to copy the schema module.
const schemaDir = "cue.mod/pkg/cas.treasuredata.dev/schemas"

// readmeSetup returns the file that the "Editor support and cue vet"
// section of docs/authoring.md tells authors to add, and checks that the section names the
// directory the schemas are copied to.
func readmeSetup(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../docs/authoring.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## Editor support and `cue vet`\n")
	if !ok {
		t.Fatal(`docs/authoring.md has no section "Editor support and cue vet"`)
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	if !strings.Contains(sec, "`"+schemaDir+"/`") || !strings.Contains(sec, "copy `schemas/cue.mod` and `schemas/cas`") {
		t.Fatalf("the authoring section no longer says to copy schemas/cue.mod and schemas/cas to %s/:\n%s", schemaDir, sec)
	}
	_, code, ok := strings.Cut(sec, "```cue\n")
	if !ok {
		t.Fatal("the authoring section has no cue block")
	}
	code, _, ok = strings.Cut(code, "```")
	if !ok {
		t.Fatal("the authoring section's cue block is not closed")
	}
	if !strings.Contains(sec, "`cue vet -c ./...`") {
		t.Fatal("the authoring section no longer runs cue vet -c ./...")
	}
	return code
}

// withoutComments drops the comment lines of a CUE file.
func withoutComments(s string) string {
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if !strings.HasPrefix(strings.TrimSpace(sc.Text()), "//") {
			b.WriteString(sc.Text() + "\n")
		}
	}
	return b.String()
}

var packageRE = regexp.MustCompile(`(?m)^package (\w+)`)

// vetRepo sets up a copy of repository dir the way docs/authoring.md tells authors
// to, runs `cue vet -c ./...` in it and returns its output and error. A
// repository without cue.mod is made a module; one with its own setup file
// (repo.cue) must have the authoring guide's.
func vetRepo(t *testing.T, cue, dir, setup string) ([]byte, error) {
	t.Helper()
	tmp := t.TempDir()
	copyDir(t, os.DirFS(dir), tmp)
	copyDir(t, schemas.FS, filepath.Join(tmp, filepath.FromSlash(schemaDir)))
	cues, _ := filepath.Glob(filepath.Join(dir, "*.cue"))
	if len(cues) == 0 {
		t.Fatalf("%s has no CUE file at its root", dir)
	}
	src, err := os.ReadFile(cues[0])
	if err != nil {
		t.Fatal(err)
	}
	m := packageRE.FindSubmatch(src)
	if m == nil {
		t.Fatalf("%s has no package clause", cues[0])
	}
	pkg := string(m[1])
	setup = packageRE.ReplaceAllString(setup, "package "+pkg)
	if own, err := os.ReadFile(filepath.Join(dir, "repo.cue")); err == nil {
		if withoutComments(string(own)) != withoutComments(setup) {
			t.Fatalf("%s/repo.cue is not the authoring guide's setup file:\n%s\nwant:\n%s", dir, own, setup)
		}
	} else {
		if err := os.WriteFile(filepath.Join(tmp, "repo.cue"), []byte(setup), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "cue.mod", "module.cue")); err != nil {
		lang, err := fs.ReadFile(schemas.FS, "cue.mod/module.cue")
		if err != nil {
			t.Fatal(err)
		}
		lv := regexp.MustCompile(`language: version: "[^"]+"`).Find(lang)
		mod := "module: \"example.com/" + pkg + "\"\n" + string(lv) + "\n"
		if err := os.WriteFile(filepath.Join(tmp, "cue.mod", "module.cue"), []byte(mod), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(cue, "vet", "-c", "./...")
	cmd.Dir = tmp
	return cmd.CombinedOutput()
}

// TestCueVet runs the real `cue vet -c ./...` with the schemas applied the
// way docs/authoring.md says: the example repositories pass, and the broken ones
// fail naming each field that `reconciler validate` rejects at the schema
// level (misspelt fields, enums, values of the wrong type).
func TestCueVet(t *testing.T) {
	cue := cueCommand(t)
	setup := readmeSetup(t)

	dirs, err := filepath.Glob("../../testdata/repos/*")
	if err != nil {
		t.Fatal(err)
	}
	examples, err := filepath.Glob("../../examples/*/repo.cue")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range examples {
		dirs = append(dirs, filepath.Dir(e))
	}
	good := 0
	for _, dir := range dirs {
		if strings.HasPrefix(filepath.Base(dir), "broken-") {
			continue
		}
		good++
		t.Run(filepath.Base(dir), func(t *testing.T) {
			if r := load(t, dir); len(r.Diagnostics) > 0 {
				t.Fatalf("reconciler validate rejects the example:\n%s", render(r.Diagnostics))
			}
			if out, err := vetRepo(t, cue, dir, setup); err != nil {
				t.Fatalf("cue vet -c ./... failed on the example repository: %v\n%s", err, out)
			}
		})
	}
	if good == 0 {
		t.Fatal("no example repository in examples/ or testdata/repos")
	}

	broken := []struct {
		dir    string
		fields []string // paths, as cue prints them, that the output must name
	}{
		{"broken-segment-typos", []string{
			`segments."Misspelt Description".descripton: field not allowed`,
			`segments."Misspelt Where".wher: field not allowed`,
			`segments."Days As Text".where.0.within.days: conflicting values "30" and int`,
			`segments."Limit As Text".limit.number: conflicting values "100" and number`,
			`segments."Lifecycle As Text".lifecycle.preventDestroy: conflicting values "yes" and bool`,
		}},
		{"broken-schema", []string{
			`segments.Typo.wher: field not allowed`,
			`segments.Realtime.kind: conflicting values "batch" and "realtime"`,
			`parents.Second.attributes.age.type:`,
			`segments."Bad Operator".rule.conditions.0.conditions.0.operator.type:`,
		}},
		{"broken-several-problems", []string{
			`segments.VIP.folder: conflicting values 3 and string`,
			`segments.VIP.where.2.within.weeks: field not allowed`,
			`segments."Full Rule".kind: conflicting values "batch" and "realtime"`,
		}},
	}
	for _, tc := range broken {
		t.Run(tc.dir, func(t *testing.T) {
			dir := filepath.Join("../../testdata/repos", tc.dir)
			if r := load(t, dir); !r.Diagnostics.HasErrors() {
				t.Fatal("reconciler validate accepts the broken repository")
			}
			out, err := vetRepo(t, cue, dir, setup)
			if err == nil {
				t.Fatalf("cue vet -c ./... accepted the broken repository:\n%s", out)
			}
			for _, f := range tc.fields {
				if !bytes.Contains(out, []byte(f)) {
					t.Errorf("cue vet does not report %s\n", f)
				}
			}
			if t.Failed() {
				t.Logf("cue vet output:\n%s", out)
			}
		})
	}
}
