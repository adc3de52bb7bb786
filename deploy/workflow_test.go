package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/cas-reconciler/reconciler/internal/config"
)

// workflow is the part of a GitHub Actions workflow the tests read.
type workflow struct {
	Jobs map[string]struct {
		Env   map[string]string `yaml:"env"`
		Steps []struct {
			Name string            `yaml:"name"`
			Uses string            `yaml:"uses"`
			Run  string            `yaml:"run"`
			Env  map[string]string `yaml:"env"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

func readWorkflow(t *testing.T, path string) workflow {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var w workflow
	if err := yaml.Unmarshal(b, &w); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(w.Jobs) == 0 {
		t.Fatalf("%s: no jobs", path)
	}
	return w
}

// buildReconciler builds the binary (without cgo, as released) and returns
// its path.
func buildReconciler(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "reconciler")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/reconciler")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// versionForms are the values of RECONCILER_VERSION docs/operations.md documents.
var versionForms = regexp.MustCompile(`^(latest|v[0-9]+\.[0-9]+\.[0-9]+|[0-9a-f]{40})$`)

// TestPullRequestExample checks the example workflow for segment
// repositories against what exists: the package it installs, a version
// that resolves, the subcommands and flags it runs (the validate step is run
// on the retail example), and the configuration file it reads, whose
// secrets come from the step's environment.
func TestPullRequestExample(t *testing.T) {
	const dir = "github"
	w := readWorkflow(t, filepath.Join(dir, "reconciler-pr.yaml"))
	bin := buildReconciler(t)
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	module := strings.Fields(strings.SplitN(string(gomod), "\n", 2)[0])[1]

	installs, commands := 0, 0
	for _, job := range w.Jobs {
		for _, step := range job.Steps {
			for _, line := range strings.Split(step.Run, "\n") {
				f := strings.Fields(line)
				switch {
				case len(f) >= 3 && f[0] == "go" && f[1] == "install":
					installs++
					pkg, version, _ := strings.Cut(f[2], "@")
					if pkg != module+"/cmd/reconciler" {
						t.Errorf("installs %s, want %s/cmd/reconciler", pkg, module)
					}
					if version == "${RECONCILER_VERSION}" {
						version = job.Env["RECONCILER_VERSION"]
					}
					if !versionForms.MatchString(version) {
						t.Errorf("installs version %q: want latest, a release tag vX.Y.Z or a commit", version)
					} else if strings.HasPrefix(version, "v") {
						out, err := exec.Command("git", "tag", "--list", version).Output()
						if err != nil || strings.TrimSpace(string(out)) != version {
							t.Errorf("installs version %s, which is not a tag of this repository", version)
						}
					}
				case len(f) >= 2 && f[0] == "reconciler":
					commands++
					checkCommand(t, bin, dir, f, step.Env)
				}
			}
		}
	}
	if installs != 1 || commands < 2 {
		t.Errorf("found %d installs and %d reconciler commands, want 1 and at least 2", installs, commands)
	}
}

// checkCommand checks one reconciler command line of the example.
func checkCommand(t *testing.T, bin, dir string, f []string, env map[string]string) {
	t.Helper()
	sub := f[1]
	var help bytes.Buffer
	cmd := exec.Command(bin, sub, "-h")
	cmd.Stdout, cmd.Stderr = &help, &help
	_ = cmd.Run() // the exit status of -h is not what is checked
	if !strings.Contains(help.String(), "Usage: reconciler "+sub) {
		t.Errorf("%q: no such command:\n%s", strings.Join(f, " "), help.String())
		return
	}
	var args []string
	for i := 1; i < len(f); i++ {
		a := f[i]
		if a == ">" || a == "|" {
			break
		}
		args = append(args, a)
		flag, ok := strings.CutPrefix(a, "--")
		if !ok {
			continue
		}
		flag, _, _ = strings.Cut(flag, "=")
		if !strings.Contains(help.String(), "  -"+flag+" ") && !strings.Contains(help.String(), "  -"+flag+"\n") {
			t.Errorf("%s has no flag --%s:\n%s", sub, flag, help.String())
		}
		if flag == "config" && i+1 < len(f) {
			checkConfig(t, filepath.Join(dir, f[i+1]), env)
		}
	}
	if sub == "validate" {
		// The step runs in the checkout of a segment repository.
		repo := t.TempDir()
		if err := os.CopyFS(repo, os.DirFS("../examples/retail")); err != nil {
			t.Fatal(err)
		}
		run := exec.Command(bin, args...)
		run.Dir = repo
		if out, err := run.CombinedOutput(); err != nil {
			t.Errorf("%q on the retail example: %v\n%s", strings.Join(f, " "), err, out)
		}
	}
}

// envRef finds the environment variables a configuration names.
var envRef = regexp.MustCompile(`\benv:\s*"?([A-Za-z_][A-Za-z0-9_]*)`)

// checkConfig loads the configuration the example reads, with only the
// environment the workflow step sets.
func checkConfig(t *testing.T, path string, env map[string]string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("the workflow reads %s, which the example does not ship: %v", path, err)
		return
	}
	lookup := func(k string) (string, bool) {
		_, ok := env[k]
		return "secret-of-" + k, ok
	}
	if _, err := config.Parse(path, data, config.Options{LookupEnv: lookup, Dir: filepath.Dir(path)}); err != nil {
		t.Errorf("%s with the workflow's environment: %v", path, err)
	}
	for _, m := range envRef.FindAllStringSubmatch(string(data), -1) {
		if _, ok := env[m[1]]; !ok {
			t.Errorf("%s reads $%s, which the workflow step does not set", path, m[1])
		}
	}
}

// TestOwnWorkflowsRunTheCI checks that the repository's own workflows run
// .ci/run and none of them plans or validates the repository as a segment
// repository (which the example for users does).
func TestOwnWorkflowsRunTheCI(t *testing.T) {
	paths, _ := filepath.Glob("../.github/workflows/*.y*ml")
	if len(paths) == 0 {
		t.Fatal("no workflow in .github/workflows")
	}
	ci := false
	for _, p := range paths {
		w := readWorkflow(t, p)
		for _, job := range w.Jobs {
			for _, step := range job.Steps {
				if strings.Contains(step.Run, ".ci/run") {
					ci = true
				}
				for _, line := range strings.Split(step.Run, "\n") {
					f := strings.Fields(line)
					if len(f) >= 2 && f[0] == "reconciler" && slices.Contains([]string{"plan", "validate", "apply"}, f[1]) {
						t.Errorf("%s runs %q on this repository", p, strings.TrimSpace(line))
					}
				}
			}
		}
	}
	if !ci {
		t.Errorf("no workflow in .github/workflows runs .ci/run")
	}
	if _, err := os.Stat("../.ci/run"); err != nil {
		t.Error(err)
	}
}
