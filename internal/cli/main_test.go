package cli

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestHelpExitsZero: -h, -help and --help print the command's usage and
// exit 0, for every command.
func TestHelpExitsZero(t *testing.T) {
	// No reconciler-demo and no go: `demo` answers by itself.
	t.Setenv("PATH", t.TempDir())
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	for _, want := range []string{"validate", "plan", "apply", "import", "run", "demo", "version"} {
		if !slices.Contains(names, want) {
			t.Errorf("command %s missing from %v", want, names)
		}
	}
	for _, name := range names {
		for _, flag := range []string{"-h", "-help", "--help"} {
			for _, args := range [][]string{{name, flag}, {name, "--detailed-exitcode", flag}} {
				if name != "plan" && len(args) > 2 {
					continue
				}
				var out, errb bytes.Buffer
				code := dispatch(context.Background(), args, stdio{in: strings.NewReader(""), out: &out, err: &errb})
				if code != exitOK {
					t.Errorf("%v: exit %d, want 0\n%s", args, code, errb.String())
				}
				if !strings.Contains(errb.String(), "Usage: reconciler "+name) {
					t.Errorf("%v: no usage printed:\n%s", args, errb.String())
				}
				if name == "version" && out.Len() > 0 {
					t.Errorf("%v: printed the version instead of the usage: %s", args, out.String())
				}
			}
		}
	}
	// A bad flag is still a usage error.
	for _, name := range names {
		var out, errb bytes.Buffer
		if code := dispatch(context.Background(), []string{name, "--no-such-flag"}, stdio{in: strings.NewReader(""), out: &out, err: &errb}); code != exitUsage {
			t.Errorf("%s --no-such-flag: exit %d, want %d", name, code, exitUsage)
		}
	}
}

// TestDocsDescribeCLI keeps the command overview of docs/cli.md true to
// flags that are easy to miss, and the README's quick start to what its two
// commands need.
func TestDocsDescribeCLI(t *testing.T) {
	b, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	_, cli, ok := strings.Cut(string(b), "\n## Commands and exit codes\n")
	if !ok {
		t.Fatal(`docs/cli.md has no section "Commands and exit codes"`)
	}
	cli, _, _ = strings.Cut(cli, "\n## ")
	for _, want := range []string{"--warehouse-host HOST[:PORT]", "--allow-empty", "`-h`"} {
		if !strings.Contains(cli, want) {
			t.Errorf("the command overview of docs/cli.md does not mention %s", want)
		}
	}
	b, err = os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	_, quick, ok := strings.Cut(readme, "\n## Quick start\n")
	if !ok {
		t.Fatal(`README.md has no section "Quick start"`)
	}
	quick, _, _ = strings.Cut(quick, "\n## ")
	if !strings.Contains(quick, "C compiler") || !strings.Contains(quick, "./test.sh") {
		t.Errorf("Quick start does not say that the demo and ./test.sh need a C compiler:\n%s", quick)
	}
}
