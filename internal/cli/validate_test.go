package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cas-reconciler/reconciler/internal/wiring"
)

func runValidateArgs(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = dispatch(context.Background(), append([]string{"validate"}, args...), stdio{in: strings.NewReader(""), out: &out, err: &errb})
	return code, out.String(), errb.String()
}

const (
	reposDir  = "../../testdata/repos"
	retailDir = "../../examples/retail"
)

func TestValidateExample(t *testing.T) {
	code, out, errs := runValidateArgs(t, retailDir)
	if code != exitOK || out != "0 errors, 0 warnings in 6 files\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

// TestValidateBrokenText checks the text format against the golden
// diagnostics of every broken repository, and exit status 1.
func TestValidateBrokenText(t *testing.T) {
	dirs, _ := filepath.Glob(reposDir + "/broken-*")
	if len(dirs) < 10 {
		t.Fatalf("found %d broken repositories", len(dirs))
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			code, out, _ := runValidateArgs(t, dir)
			if code != exitFailed {
				t.Errorf("exit %d, want %d", code, exitFailed)
			}
			want, err := os.ReadFile(filepath.Join(dir, "expected.txt"))
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			summary := lines[len(lines)-1]
			body := strings.Join(lines[:len(lines)-1], "\n") + "\n"
			body = strings.ReplaceAll(body, filepath.ToSlash(dir)+"/", "")
			if body != string(want) {
				t.Errorf("output differs from expected.txt\n--- got\n%s--- want\n%s", body, want)
			}
			if !strings.Contains(summary, "error") || !strings.HasSuffix(summary, " files") {
				t.Errorf("summary line = %q", summary)
			}
		})
	}
}

func TestValidateSummaryCounts(t *testing.T) {
	_, out, _ := runValidateArgs(t, reposDir+"/broken-regexp")
	if !strings.HasSuffix(out, "\n1 error, 1 warning in 2 files\n") {
		t.Errorf("output = %q", out)
	}
}

func TestValidateJSON(t *testing.T) {
	code, out, _ := runValidateArgs(t, "--format", "json", reposDir+"/broken-unknown-attribute")
	if code != exitFailed {
		t.Errorf("exit %d", code)
	}
	var doc struct {
		Version     int            `json:"version"`
		Valid       bool           `json:"valid"`
		Files       int            `json:"files"`
		Errors      int            `json:"errors"`
		Warnings    int            `json:"warnings"`
		Objects     map[string]int `json:"objects"`
		Diagnostics []struct {
			Severity, Code, Summary, Detail, File string
			Line, Col                             int
		} `json:"diagnostics"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if doc.Version != 1 || doc.Valid || doc.Files != 2 || doc.Errors != 3 || len(doc.Diagnostics) != 3 || doc.Objects["parents"] != 1 {
		t.Errorf("document = %+v", doc)
	}
	d := doc.Diagnostics[0]
	if d.Severity != "error" || d.Code != "unknown-attribute" || d.File != reposDir+"/broken-unknown-attribute/segments.cue" ||
		d.Line != 4 || d.Col != 30 || !strings.Contains(d.Detail, `did you mean "loyalty_tier"?`) {
		t.Errorf("first diagnostic = %+v", d)
	}

	code, out, _ = runValidateArgs(t, "--format=json", retailDir)
	if code != exitOK || !strings.Contains(out, `"valid": true`) || !strings.Contains(out, `"diagnostics": []`) {
		t.Errorf("exit %d, output %s", code, out)
	}
}

func TestValidateGitHub(t *testing.T) {
	code, out, _ := runValidateArgs(t, "--format", "github", reposDir+"/broken-regexp")
	if code != exitFailed {
		t.Errorf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 2 annotations and a summary, got:\n%s", out)
	}
	wantPrefix := "::error file=" + reposDir + "/broken-regexp/segments.cue,line=4,col=55,title=regexp::invalid regular expression"
	if !strings.HasPrefix(lines[0], wantPrefix) || !strings.Contains(lines[0], "%0Amissing closing )") {
		t.Errorf("annotation = %q\nwant prefix %q and an escaped newline before the detail", lines[0], wantPrefix)
	}
	if !strings.HasPrefix(lines[1], "::warning file=") {
		t.Errorf("second annotation = %q", lines[1])
	}
	if got := githubEscape("a:b,c%\n", true); got != "a%3Ab%2Cc%25%0A" {
		t.Errorf("githubEscape = %q", got)
	}
}

func TestValidateUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"--format", "xml", retailDir}, exitUsage, "unknown format"},
		{[]string{retailDir, retailDir}, exitUsage, "at most one directory"},
		{[]string{reposDir + "/does-not-exist"}, exitUsage, "is not a directory"},
		{[]string{"--no-such-flag"}, exitUsage, "flag provided but not defined"},
		{[]string{"-h"}, exitOK, "Usage: reconciler validate"},
	}
	for _, tt := range tests {
		code, _, errs := runValidateArgs(t, tt.args...)
		if code != tt.code || !strings.Contains(errs, tt.err) {
			t.Errorf("validate %v: exit %d, stderr %q; want exit %d and %q", tt.args, code, errs, tt.code, tt.err)
		}
	}
}

// TestValidateEmptyDirectory: a directory without .cue files (the wrong
// directory, most likely) is an error unless --allow-empty.
func TestValidateEmptyDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "cue.mod"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cue.mod", "module.cue"), []byte("module: \"x.example/y\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("# nothing\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runValidateArgs(t, dir)
	if code != exitFailed || !strings.Contains(out, "no .cue files in "+dir) || !strings.Contains(out, "--allow-empty") ||
		!strings.HasSuffix(out, "1 error, 0 warnings in 0 files\n") {
		t.Errorf("empty directory: exit %d, want %d\nstdout %q\nstderr %q", code, exitFailed, out, errs)
	}
	code, out, _ = runValidateArgs(t, "--format", "json", dir)
	if code != exitFailed || !strings.Contains(out, `"code": "no-files"`) || !strings.Contains(out, `"valid": false`) {
		t.Errorf("empty directory, json: exit %d\n%s", code, out)
	}
	code, out, errs = runValidateArgs(t, "--allow-empty", dir)
	if code != exitOK || out != "0 errors, 0 warnings in 0 files\n" {
		t.Errorf("--allow-empty: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

// TestValidateWarehouseHostPort: the warehouse host flag takes a port, and
// its help says so.
func TestValidateWarehouseHostPort(t *testing.T) {
	t.Setenv("DATABRICKS_TOKEN", "dapi-from-env")
	t.Setenv("DATABRICKS_CLIENT_ID", "")
	d, err := databricksFlags("dbc.example:8443", "/sql/1.0/warehouses/x", false, "", "", "", "")
	// The flags reach the client's options as a configuration's do.
	o := wiring.WarehouseOptions(d, wiring.Options{})
	if err != nil || o.Host != "dbc.example" || o.Port != 8443 || o.Insecure || o.HTTPPath != "/sql/1.0/warehouses/x" ||
		o.Token != "dapi-from-env" || o.ClientID != "" || o.StartTimeout != -1 {
		t.Errorf("host:port = %+v, %v", d, err)
	}
	if _, err := databricksFlags("dbc.example:http", "/p", false, "", "", "", ""); err == nil {
		t.Error("a bad port was accepted")
	}
	_, _, errs := runValidateArgs(t, "-h")
	if !strings.Contains(errs, "-warehouse-host host") || !strings.Contains(errs, ":port") {
		t.Errorf("validate -h does not document the port of --warehouse-host:\n%s", errs)
	}
}
