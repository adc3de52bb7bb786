package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/cas-reconciler/reconciler/internal/config"
	"github.com/cas-reconciler/reconciler/internal/loadworker"
	"github.com/cas-reconciler/reconciler/internal/reconcile"
	"github.com/cas-reconciler/reconciler/pkg/diag"
	"github.com/cas-reconciler/reconciler/pkg/segment"
	"github.com/cas-reconciler/reconciler/pkg/spec"
)

// The validate command checks a repository of CUE definitions without
// changing anything.
//
//	reconciler validate [--format text|json|github] [--allow-empty] [--config FILE [--source NAME]] [--warehouse ...] [DIR]
//
// DIR defaults to the current directory. File paths in the output are DIR
// joined with the path of the file inside the repository, so that editors
// and CI annotations find them when run from where the command was run.
//
// Exit status: 0 when there is no error (warnings allowed), 1 when there is
// at least one error (a directory without .cue files is one, unless
// --allow-empty), 2 for bad usage or an internal failure.
//
// Formats:
//
//   - text (default): one compiler-style line per problem,
//     "path:line:col: error: summary", followed by the detail indented by four
//     spaces, then a summary line such as "3 errors, 1 warning in 24 files".
//   - github: GitHub Actions workflow commands,
//     "::error file=path,line=N,col=N,title=code::summary%0Adetail", then the
//     summary line.
//   - json: one JSON object, stable within "version": 1:
//
//     {
//     "version": 1,
//     "valid": bool,            // no errors
//     "files": int,             // CUE files read
//     "errors": int, "warnings": int,
//     "objects": {"parents": int, "folders": int, "segments": int},
//     "diagnostics": [{
//     "severity": "error"|"warning",
//     "code": string,           // stable kind of problem, e.g. "unknown-attribute"
//     "summary": string, "detail": string (may be empty),
//     "file": string (may be empty), "line": int, "col": int (0 when unknown)
//     }]
//     }
//
// Fields may be added within version 1; none are removed or renamed.

// validateJSONVersion is the version of the --format json document.
const validateJSONVersion = 1

func runValidate(ctx context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(io.err)
	format := fs.String("format", "text", "output `format`: text, json or github")
	allowEmpty := fs.Bool("allow-empty", false, "accept a directory without any .cue file (otherwise an error)")
	maxFiles := fs.Int("max-files", 0, "most CUE `files` to load (default 20000, as load.maxFiles); more: too-many-files")
	warehouse := warehouseFlags(fs, io.err)
	var remote target
	fs.StringVar(&remote.config, "config", "", "configuration `file`: also check that every parent segment's connection exists in Treasure Data")
	fs.StringVar(&remote.source, "source", "", "source of the configuration whose Treasure Data account is checked (default: the only one)")
	remote.logLevel = "warn"
	fs.Usage = func() {
		fmt.Fprintln(io.err, "Usage: reconciler validate [flags] [DIR]")
		fmt.Fprintln(io.err)
		fmt.Fprintln(io.err, "Check the CUE definitions of the repository in DIR (default \".\") without changing anything.")
		fmt.Fprintln(io.err, "Exit status: 0 valid, 1 invalid (a directory without .cue files too, unless --allow-empty),")
		fmt.Fprintln(io.err, "2 usage or internal error.")
		fmt.Fprintln(io.err)
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	switch *format {
	case "text", "json", "github":
	default:
		fmt.Fprintf(io.err, "reconciler validate: unknown format %q (want text, json or github)\n", *format)
		return exitUsage
	}
	if fs.NArg() > 1 {
		fmt.Fprintln(io.err, "reconciler validate: at most one directory")
		fs.Usage()
		return exitUsage
	}
	dir := "."
	if fs.NArg() == 1 {
		dir = fs.Arg(0)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		fmt.Fprintf(io.err, "reconciler validate: %s is not a directory\n", dir)
		return exitUsage
	}

	// Evaluation allocates many short-lived values while the live heap
	// stays small (per-worker CUE contexts are dropped every few hundred
	// files): collect less often, but keep the peak bounded. Settings in
	// the environment win.
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetGCPercent(400)
		debug.SetMemoryLimit(200 << 20)
	}
	limits := validateLimits
	if *maxFiles > 0 {
		limits.MaxFiles = *maxFiles
	}
	// One load: the worker's results wait encoded until the load checks
	// them, and, unless the warehouse checks need the rules, the state
	// keeps none (the connections and counts need no rule).
	loader := loadworker.New(limits)
	loader.Cache = spec.NewOneShotCache()
	loader.Lean = fs.Lookup("warehouse").Value.String() != "true"
	res, err := loader.Load(ctx, os.DirFS(dir))
	if _, over := err.(*loadworker.BudgetError); over {
		err = nil // the over-budget files are in the diagnostics
	}
	if err != nil {
		fmt.Fprintf(io.err, "reconciler validate: %v\n", err)
		return exitUsage
	}
	diags, st := res.Diagnostics, res.State
	if res.Files == 0 && !*allowEmpty {
		// Most likely the wrong directory: nothing checked is no success.
		diags = append(diags, diag.Errorf(diag.Pos{}, "no-files",
			"no .cue files in %s (cue.mod, testdata and names starting with . or _ are skipped); pass --allow-empty to accept an empty repository", dir))
	}
	if remote.config != "" {
		sess, code := remote.open(io, config.UseTreasure)
		if sess == nil {
			return code
		}
		more, err := reconcile.ResolveConnections(ctx, sess.src.Treasure, st)
		sess.Close()
		if err != nil {
			fmt.Fprintf(io.err, "reconciler validate: %v\n", err)
			return exitUsage
		}
		diags = append(diags, more...).Sort()
	}
	if warehouse != nil {
		checked, more, err := warehouse(ctx, st)
		if err != nil {
			fmt.Fprintf(io.err, "reconciler validate: %v\n", err)
			return exitUsage
		}
		st = checked
		diags = append(diags, more...).Sort()
	}
	diags = relocate(diags, dir)

	var werr error
	switch *format {
	case "json":
		werr = writeValidateJSON(io.out, diags, res.Files, st)
	case "github":
		werr = writeGitHub(io.out, diags)
		if werr == nil {
			_, werr = fmt.Fprintln(io.out, countLine(diags, res.Files))
		}
	default:
		werr = writeText(io.out, diags)
		if werr == nil {
			_, werr = fmt.Fprintln(io.out, countLine(diags, res.Files))
		}
	}
	if werr != nil {
		fmt.Fprintf(io.err, "reconciler validate: write output: %v\n", werr)
		return exitUsage
	}
	if diags.HasErrors() {
		return exitFailed
	}
	return exitOK
}

// relocate prefixes the file of every position with dir.
func relocate(ds diag.Diagnostics, dir string) diag.Diagnostics {
	dir = filepath.ToSlash(filepath.Clean(dir))
	if dir == "." {
		return ds
	}
	out := make(diag.Diagnostics, len(ds))
	for i, d := range ds {
		if d.Pos.File != "" {
			d.Pos.File = dir + "/" + d.Pos.File
		}
		out[i] = d
	}
	return out
}

// writeText writes compiler-style lines with indented details.
func writeText(w io.Writer, ds diag.Diagnostics) error {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.String())
		b.WriteByte('\n')
		if d.Detail != "" {
			for _, line := range strings.Split(d.Detail, "\n") {
				b.WriteString("    " + line + "\n")
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// countLine is the closing summary, such as "3 errors, 1 warning in 24 files".
func countLine(ds diag.Diagnostics, files int) string {
	e, w := ds.Count()
	return fmt.Sprintf("%s, %s in %s", plural(e, "error"), plural(w, "warning"), plural(files, "file"))
}

// githubEscape escapes workflow command data; prop also escapes property
// separators.
func githubEscape(s string, prop bool) string {
	s = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
	if prop {
		s = strings.NewReplacer(":", "%3A", ",", "%2C").Replace(s)
	}
	return s
}

// writeGitHub writes GitHub Actions workflow commands (annotations).
func writeGitHub(w io.Writer, ds diag.Diagnostics) error {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString("::" + d.Severity.String())
		var props []string
		if d.Pos.File != "" {
			props = append(props, "file="+githubEscape(d.Pos.File, true))
			if d.Pos.Line > 0 {
				props = append(props, fmt.Sprintf("line=%d", d.Pos.Line))
			}
			if d.Pos.Col > 0 {
				props = append(props, fmt.Sprintf("col=%d", d.Pos.Col))
			}
		}
		if d.Code != "" {
			props = append(props, "title="+githubEscape(d.Code, true))
		}
		if len(props) > 0 {
			b.WriteString(" " + strings.Join(props, ","))
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += "\n" + d.Detail
		}
		b.WriteString("::" + githubEscape(msg, false) + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

type validateJSONDiag struct {
	Severity string `json:"severity"`
	Code     string `json:"code"`
	Summary  string `json:"summary"`
	Detail   string `json:"detail"`
	File     string `json:"file"`
	Line     int    `json:"line"`
	Col      int    `json:"col"`
}

type validateJSONDoc struct {
	Version     int                `json:"version"`
	Valid       bool               `json:"valid"`
	Files       int                `json:"files"`
	Errors      int                `json:"errors"`
	Warnings    int                `json:"warnings"`
	Objects     map[string]int     `json:"objects"`
	Diagnostics []validateJSONDiag `json:"diagnostics"`
}

func writeValidateJSON(w io.Writer, ds diag.Diagnostics, files int, st segment.State) error {
	e, wn := ds.Count()
	doc := validateJSONDoc{
		Version: validateJSONVersion, Valid: e == 0, Files: files, Errors: e, Warnings: wn,
		Objects:     map[string]int{"parents": len(st.Parents), "folders": len(st.Folders), "segments": len(st.Segments)},
		Diagnostics: []validateJSONDiag{},
	}
	for _, d := range ds {
		doc.Diagnostics = append(doc.Diagnostics, validateJSONDiag{Severity: d.Severity.String(), Code: d.Code,
			Summary: d.Summary, Detail: d.Detail, File: d.Pos.File, Line: d.Pos.Line, Col: d.Pos.Col})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// validateLimits bound validate's load (the loadworker defaults).
var validateLimits loadworker.Limits
