package spec

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"

	"github.com/cas-reconciler/reconciler/pkg/diag"
	"github.com/cas-reconciler/reconciler/pkg/segment"
	"github.com/cas-reconciler/reconciler/schemas"
)

// schemaFilePrefix starts the file names of schema positions, which are
// never shown to authors.
const schemaFilePrefix = "$schemas/"

// schemaVersion identifies the embedded schema; cached results are keyed by
// it together with the file content.
var schemaVersion = func() [32]byte {
	h := sha256.New()
	files, _ := fs.Glob(schemas.FS, schemas.PackageDir+"/*.cue")
	for _, name := range files {
		b, _ := fs.ReadFile(schemas.FS, name)
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(b))
		h.Write(b)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}()

// fileResult is everything one file contributes. It is immutable once built:
// the cache hands the same value to many loads, and Load copies what its
// callers may change (segment and parent structs, activations) and shares
// the rest read-only.
type fileResult struct {
	path     string
	parents  []segment.Parent
	folders  []segment.Folder
	segments []segment.Segment
	// invalidParents and invalidSegments name objects that were declared
	// but failed the schema, so that references to them are not reported
	// a second time as unknown.
	invalidParents  []string
	invalidSegments []string
	// partial are the segments that failed the schema or could not be
	// expanded, decoded from what is not broken, for the semantic checks.
	partial []partialSegment
	diags   diag.Diagnostics
	empty   bool // the file declares nothing (only schema glue)
	// memo holds the check results of segments then partial, for a
	// result in a Cache (nil otherwise).
	memo []segMemo
	// encoded, when set, is the whole result as Export encodes it: a
	// stand-in that holds nothing else but the path (lean.go).
	encoded []byte
}

// evaluator evaluates files in one cue.Context. It is used by one goroutine.
type evaluator struct {
	ctx   *cue.Context
	pkg   cue.Value // the schema package
	repo  cue.Value // #Repo
	files int
}

func newEvaluator() (*evaluator, error) {
	ctx := cuecontext.New()
	names, err := fs.Glob(schemas.FS, schemas.PackageDir+"/*.cue")
	if err != nil {
		return nil, err
	}
	merged := &ast.File{Filename: schemaFilePrefix + schemas.PackageDir}
	for i, name := range names {
		src, err := fs.ReadFile(schemas.FS, name)
		if err != nil {
			return nil, fmt.Errorf("read schema %s: %w", name, err)
		}
		f, err := parser.ParseFile(schemaFilePrefix+name, src)
		if err != nil {
			return nil, fmt.Errorf("parse schema: %w", err)
		}
		for _, d := range f.Decls {
			if _, ok := d.(*ast.Package); ok && i > 0 {
				continue
			}
			merged.Decls = append(merged.Decls, d)
		}
	}
	pkg := ctx.BuildFile(merged)
	if err := pkg.Err(); err != nil {
		return nil, fmt.Errorf("build schema: %w", err)
	}
	repo := pkg.LookupPath(cue.MakePath(cue.Def("#Repo")))
	if err := repo.Err(); err != nil {
		return nil, fmt.Errorf("schema has no #Repo: %w", err)
	}
	return &evaluator{ctx: ctx, pkg: pkg, repo: repo}, nil
}

// scope returns the value that resolves the schema package under name.
func (ev *evaluator) scope(name string) cue.Value {
	return ev.ctx.CompileString("{}").FillPath(cue.MakePath(cue.Str(name)), ev.pkg)
}

// eval parses, evaluates, validates and decodes one file.
func (ev *evaluator) eval(path string, src []byte) *fileResult {
	ev.files++
	res := &fileResult{path: path}
	f, opts, ok := ev.parse(res, path, src)
	if !ok {
		return res
	}
	pos := newPositions(path, f)
	v := ev.ctx.BuildFile(f, opts...)
	if err := v.Err(); err != nil {
		res.diags = append(res.diags, cueDiags(err, pos)...)
		return res
	}
	u := ev.repo.Unify(v)
	d := decoder{pos: pos, res: res}
	if !checkSections(res, v, pos) {
		return res
	}
	declared := false
	for _, section := range []string{"parents", "folders", "segments"} {
		if ev.evalSection(&d, section, v, u) {
			declared = true
		}
	}
	res.empty = !declared && len(res.diags) == 0
	res.diags = res.diags.Sort()
	return res
}

// parse parses one file and resolves its imports: the standard library, and
// the schema package itself, which is resolved from the embedded copy
// (authors import it so that the cue command and editors see the schema
// too). It reports false, with the diagnostics in res, when the file cannot
// be evaluated.
func (ev *evaluator) parse(res *fileResult, path string, src []byte) (*ast.File, []cue.BuildOption, bool) {
	f, err := parser.ParseFile(path, src)
	if err != nil {
		for _, e := range cueerrors.Errors(err) {
			format, args := e.Msg()
			res.diags = append(res.diags, diag.Errorf(toPos(path, e.Position()), "syntax",
				"syntax error: %s", fmt.Sprintf(format, args...)))
		}
		return nil, nil, false
	}
	var opts []cue.BuildOption
	var blank [][2]int
	for spec := range f.ImportSpecs() {
		ip, err := strconv.Unquote(spec.Path.Value)
		if err != nil {
			continue
		}
		if ip == schemas.ImportPath || strings.HasPrefix(ip, schemas.ImportPath+"@") {
			name := "cas"
			if spec.Name != nil {
				name = spec.Name.Name
			}
			opts = append(opts, cue.Scope(ev.scope(name)))
			blank = append(blank, importRange(f, spec))
			continue
		}
		if first, _, _ := strings.Cut(ip, "/"); strings.Contains(first, ".") {
			res.diags = append(res.diags, diag.Errorf(toPos(path, spec.Pos()), "import",
				"import %q is not supported", ip).
				WithDetail("files may import the CUE standard library and %s only; each file is evaluated on its own", schemas.ImportPath))
			return nil, nil, false
		}
	}
	if len(blank) > 0 {
		// Blank the import out, keeping every position, and resolve the
		// package name through the scope instead.
		src = slices.Clone(src)
		for _, r := range blank {
			for i := r[0]; i < r[1] && i < len(src); i++ {
				if src[i] != '\n' {
					src[i] = ' '
				}
			}
		}
		if f, err = parser.ParseFile(path, src); err != nil {
			res.diags = append(res.diags, diag.Errorf(diag.Pos{File: path}, "syntax", "syntax error: %v", err))
			return nil, nil, false
		}
	}
	return f, opts, true
}

// checkSections reports every top-level field of the file's value v other
// than the three sections. It reports false when the fields cannot be
// listed.
func checkSections(res *fileResult, v cue.Value, pos *positions) bool {
	it, err := v.Fields()
	if err != nil {
		res.diags = append(res.diags, cueDiags(err, pos)...)
		return false
	}
	for it.Next() {
		switch name := it.Selector().Unquoted(); name {
		case "parents", "folders", "segments":
		default:
			at := pos.label(name)
			res.diags = append(res.diags, diag.Errorf(at, "unknown-field", "%s: field not allowed", displayPath([]string{name})).
				WithDetail("a file declares parents, folders and segments only%s", suggestSection(name)))
		}
	}
	return true
}

// evalSection decodes every object of one section of the file's value v
// (u is v unified with the schema) and reports whether the section declares
// any. The happy path converts each object to JSON, which fails on any
// error or incomplete value; only then is the object validated to collect
// every problem with its position.
func (ev *evaluator) evalSection(d *decoder, section string, v, u cue.Value) bool {
	res, pos := d.res, d.pos
	sv := u.LookupPath(cue.MakePath(cue.Str(section)))
	if !sv.Exists() {
		return false
	}
	it, err := sv.Fields()
	if err != nil {
		res.diags = append(res.diags, cueDiags(err, pos)...)
		return false
	}
	declared := false
	for it.Next() {
		declared = true
		key := it.Selector().Unquoted()
		ov := it.Value()
		var b []byte
		var err error
		if section == "parents" {
			// The schema fills many defaults of a parent segment:
			// read the unified value.
			b, err = ov.MarshalJSON()
		} else if err = ov.Validate(cue.Concrete(true)); err == nil {
			// Folders and segments get no default the loader does
			// not fill itself, and converting the file's own value
			// is much cheaper than converting the unified one.
			b, err = v.LookupPath(cue.MakePath(cue.Str(section), cue.Str(key))).MarshalJSON()
			if err != nil {
				b, err = ov.MarshalJSON()
			}
		}
		if err != nil {
			ev.invalidObject(d, section, key, v, u, ov, err)
			continue
		}
		d.decode(section, key, b)
	}
	return declared
}

// invalidObject reports the problems of an object ov of the file's value v
// that did not convert to JSON (err), and keeps what is not broken of a
// segment for the semantic checks.
func (ev *evaluator) invalidObject(d *decoder, section, key string, v, u, ov cue.Value, err error) {
	verr := ov.Validate(cue.Concrete(true))
	if verr == nil {
		verr = err
	}
	ds := cueDiags(verr, d.pos)
	suggestFields(ds, verr, u)
	d.res.diags = append(d.res.diags, ds...)
	d.invalid(section, key)
	if section == "segments" {
		if raw, err := v.LookupPath(cue.MakePath(cue.Str(section), cue.Str(key))).MarshalJSON(); err == nil {
			d.partialSegment(pathString(section, key), key, raw, verr, ev.recheck)
		}
	}
}

// recheck unifies one segment, given as JSON, with the schema and returns
// the unified value and the error of its validation.
func (ev *evaluator) recheck(key string, seg []byte) (cue.Value, error) {
	v := ev.ctx.CompileString("{}").FillPath(cue.MakePath(cue.Str("segments"), cue.Str(key)), ev.ctx.CompileBytes(seg))
	if err := v.Err(); err != nil {
		return v, err
	}
	u := ev.repo.Unify(v)
	return u, u.LookupPath(cue.MakePath(cue.Str("segments"), cue.Str(key))).Validate(cue.Concrete(true))
}

// suggestSection names the section a misspelt top-level field was meant to
// be.
func suggestSection(name string) string {
	if n, ok := nearest(name, []string{"parents", "folders", "segments"}); ok {
		return fmt.Sprintf("; did you mean %q?", n)
	}
	return ""
}

// importRange returns the byte range to blank for an import spec: the whole
// import declaration when it holds this spec alone.
func importRange(f *ast.File, spec *ast.ImportSpec) [2]int {
	for _, d := range f.Decls {
		if id, ok := d.(*ast.ImportDecl); ok && len(id.Specs) == 1 && id.Specs[0] == spec {
			return [2]int{id.Pos().Offset(), id.End().Offset()}
		}
	}
	return [2]int{spec.Pos().Offset(), spec.End().Offset()}
}

// errPath returns the unquoted path of a CUE error.
func errPath(e cueerrors.Error) []string {
	p := e.Path()
	if len(p) > 0 && p[0] == "#Repo" {
		p = p[1:]
	}
	out := make([]string, 0, len(p))
	for _, s := range p {
		if u, err := strconv.Unquote(s); err == nil {
			s = u
		}
		out = append(out, s)
	}
	return out
}

// displayPath renders a path the way CUE does: segments."VIP".where[0].
func displayPath(p []string) string {
	var b strings.Builder
	for i, s := range p {
		if _, err := strconv.Atoi(s); err == nil && i > 0 {
			b.WriteString("[" + s + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		if ast.IsValidIdent(s) {
			b.WriteString(s)
		} else {
			b.WriteString(strconv.Quote(s))
		}
	}
	return b.String()
}

// cueDiags turns a CUE error into diagnostics positioned in the data file.
// Errors about missing values often carry only schema positions; those are
// placed at the nearest enclosing value written in the file. The many
// errors of a failed disjunction (an enum) become one.
func cueDiags(err error, pos *positions) diag.Diagnostics {
	var out diag.Diagnostics
	disj := map[string]int{}         // path -> index in out of its disjunction diagnostic
	members := map[int][][2]string{} // index in out -> the two values of each member's conflict
	for _, e := range cueerrors.Errors(err) {
		p := errPath(e)
		dp := displayPath(p)
		var at diag.Pos
		for _, tp := range append([]token.Pos{e.Position()}, e.InputPositions()...) {
			if tp.IsValid() && tp.Filename() == pos.file {
				at = toPos(pos.file, tp)
				break
			}
		}
		format, args := e.Msg()
		msg := fmt.Sprintf(format, args...)
		if !at.IsValid() {
			if strings.Contains(msg, "field not allowed") {
				at = pos.label(joinPath(p...))
			} else {
				at = pos.value(joinPath(p...))
			}
		}
		if secretPath(p) {
			// Never echo what was written for a secret.
			if _, ok := disj[dp]; !ok {
				disj[dp] = -1
				d := diag.Errorf(at, "activation-secret", "%s: holds a secret and must be a reference", dp)
				d.Detail = "write {env: \"NAME\"} or {file: \"path\"}; the value is read when the activation is written"
				out = append(out, d)
			}
			continue
		}
		if i, ok := disj[dp]; ok {
			// a member of a disjunction reported before
			if m := conflictRE.FindStringSubmatch(mismatchRE.ReplaceAllString(msg, "")); m != nil {
				members[i] = append(members[i], [2]string{m[1], m[2]})
			}
			continue
		}
		code, detail := "schema", ""
		switch {
		case strings.Contains(msg, "errors in empty disjunction"):
			disj[dp] = len(out)
			msg = "invalid value"
		case strings.HasPrefix(msg, "incomplete value"), strings.HasPrefix(msg, "non-concrete value"):
			code = "missing-field"
			detail = "set this field; the schema expects " + strings.TrimPrefix(strings.TrimPrefix(msg, "incomplete value "), "non-concrete value ")
			msg = "missing required value"
		case strings.Contains(msg, "field not allowed"):
			code = "unknown-field"
			msg = "field not allowed"
			if len(p) > 0 {
				detail = fmt.Sprintf("%q is not a field of this object; check its spelling against the schema", p[len(p)-1])
			}
		}
		if dp != "" {
			msg = dp + ": " + msg
		}
		d := diag.Errorf(at, code, "%s", msg)
		d.Detail = detail
		out = append(out, d)
	}
	for i, ms := range members {
		given, allowed := disjunctionValues(ms)
		d := &out[i]
		if given != "" {
			d.Summary += " " + given
		}
		d.Detail = "allowed values: " + strings.Join(allowed, ", ")
	}
	return out
}

// suggestFields adds "did you mean" to unknown-field diagnostics, naming the
// closest field the schema allows where the unknown one was written.
func suggestFields(ds diag.Diagnostics, err error, u cue.Value) {
	for _, e := range cueerrors.Errors(err) {
		p := errPath(e)
		if len(p) == 0 {
			continue
		}
		prefix := displayPath(p) + ": "
		for i := range ds {
			d := &ds[i]
			if d.Code != "unknown-field" || !strings.HasPrefix(d.Summary, prefix) {
				continue
			}
			sels := make([]cue.Selector, 0, len(p)-1)
			for _, el := range p[:len(p)-1] {
				if n, err := strconv.Atoi(el); err == nil {
					sels = append(sels, cue.Index(n))
				} else {
					sels = append(sels, cue.Str(el))
				}
			}
			it, ferr := u.LookupPath(cue.MakePath(sels...)).Fields(cue.Optional(true))
			if ferr != nil {
				continue
			}
			var names []string
			for it.Next() {
				if sel := it.Selector(); sel.IsString() && sel.Unquoted() != p[len(p)-1] {
					names = append(names, sel.Unquoted())
				}
			}
			if n, ok := nearest(p[len(p)-1], names); ok {
				d.Detail = fmt.Sprintf("did you mean %q? %s", n, d.Detail)
			}
		}
	}
}

// disjunctionValues returns the value given and the values allowed from the
// conflicts of a failed disjunction's members: the given value is the one
// every conflict names (CUE writes it first or second depending on the
// kinds of the values).
func disjunctionValues(ms [][2]string) (given string, allowed []string) {
	count := map[string]int{}
	for _, m := range ms {
		count[m[0]]++
		if m[1] != m[0] {
			count[m[1]]++
		}
	}
	side := 1 // the value given is usually second
	if len(ms) > 1 && count[ms[0][0]] == len(ms) && count[ms[0][1]] != len(ms) {
		side = 0
	}
	for _, m := range ms {
		given = m[side]
		allowed = append(allowed, m[1-side])
	}
	return given, allowed
}

// mismatchRE matches the note CUE adds to a conflict of values of different
// kinds.
var mismatchRE = regexp.MustCompile(` \(mismatched types [^()]*\)$`)

// conflictRE matches a disjunction member's error: the allowed value, then
// the value given.
var conflictRE = regexp.MustCompile(`^conflicting values (.+) and (.+)$`)

// pathString joins path elements for lookups in positions.
func pathString(elems ...string) string { return joinPath(elems...) }

// secretPath reports whether a CUE error path is at or below a connector
// setting that holds a secret (segment.SecretKey).
func secretPath(p []string) bool {
	for i := 0; i+1 < len(p); i++ {
		if p[i] == "connectorConfig" && segment.SecretKey(p[i+1]) {
			return true
		}
	}
	return false
}
