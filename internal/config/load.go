package config

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
	cueyaml "cuelang.org/go/encoding/yaml"

	"github.com/cas-reconciler/reconciler/internal/schedule"
	"github.com/cas-reconciler/reconciler/pkg/diag"
	schema "github.com/cas-reconciler/reconciler/schemas/config"
)

// Options tune Parse. The zero value reads the process environment and
// resolves secret files relative to the working directory.
type Options struct {
	// LookupEnv reads environment variables; os.LookupEnv when nil.
	LookupEnv func(string) (string, bool)
	// Dir is the directory relative secret and key files are resolved in.
	Dir string
	// Skip are the parts whose secrets are checked for shape only (an env
	// or file reference, never a literal, present where required) and not
	// read: their environment variables and files may be absent. Zero
	// reads every secret.
	Skip Uses
}

// Load reads, validates and resolves the configuration file at path. A CUE
// file (.cue) and YAML (.yaml, .yml) are accepted, with the same schema.
// An invalid file yields a *diag.InvalidError holding every problem with its
// position; other errors (unreadable file) are returned as they are.
func Load(path string) (*Config, error) { return LoadUsing(path, UseAll) }

// LoadUsing is Load reading only the secrets of uses; the other secret
// references are checked for shape only (see Options.Skip).
func LoadUsing(path string, uses Uses) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, Options{Dir: filepath.Dir(path), Skip: UseAll &^ uses})
}

// Parse validates and resolves a configuration read from filename (whose
// extension selects CUE or YAML; positions are reported against it).
func Parse(filename string, data []byte, opts Options) (*Config, error) {
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	l := &loader{file: filename, opts: opts}
	cfg := l.parse(data)
	if err := l.diags.Sort().Err(); err != nil {
		return nil, err
	}
	cfg.File = filename
	cfg.Unresolved = opts.Skip & UseAll
	return cfg, nil
}

type loader struct {
	file  string
	opts  Options
	diags diag.Diagnostics
	// val is the configuration unified with the schema; user is the file's
	// own value, whose positions are all in the file.
	val, user cue.Value
	// bad holds the top-level fields that failed the schema.
	bad map[string]bool
}

func (l *loader) pos(tp token.Pos) diag.Pos {
	if !tp.IsValid() {
		return diag.Pos{}
	}
	return diag.Pos{File: l.file, Line: tp.Line(), Col: tp.Column()}
}

// at returns the position of the value at path (CUE syntax) in the file,
// or of its nearest ancestor written there.
func (l *loader) at(path string) diag.Pos {
	for {
		if p := l.fromFile(l.user.LookupPath(cue.ParsePath(path))); p.IsValid() {
			return p
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			return diag.Pos{File: l.file, Line: 1, Col: 1}
		}
		path = path[:i]
	}
}

func (l *loader) fromFile(v cue.Value) diag.Pos {
	if !v.Exists() {
		return diag.Pos{}
	}
	for _, tp := range []token.Pos{v.Pos()} {
		if tp.IsValid() && tp.Filename() == l.file {
			return l.pos(tp)
		}
	}
	if src := v.Source(); src != nil && src.Pos().Filename() == l.file {
		return l.pos(src.Pos())
	}
	return diag.Pos{}
}

func (l *loader) errorf(path, code, format string, args ...any) {
	l.diags = append(l.diags, diag.Errorf(l.at(path), code, "%s: %s", path, fmt.Sprintf(format, args...)))
}

func (l *loader) parse(data []byte) *Config {
	ctx := cuecontext.New()
	sch := ctx.CompileBytes(schema.Schema, cue.Filename(schema.Filename))
	if err := sch.Err(); err != nil {
		l.diags = append(l.diags, diag.Errorf(diag.Pos{}, "schema", "config schema: %v", err))
		return nil
	}
	var f *ast.File
	var err error
	switch strings.ToLower(filepath.Ext(l.file)) {
	case ".yaml", ".yml":
		f, err = cueyaml.Extract(l.file, data)
	default:
		f, err = parser.ParseFile(l.file, data)
	}
	if err != nil {
		for _, e := range cueerrors.Errors(err) {
			at := l.pos(e.Position())
			msg := strings.TrimPrefix(e.Error(), l.file+": ")
			if !at.IsValid() {
				// The YAML decoder puts the line in the message.
				at = diag.Pos{File: l.file}
				if m := yamlLineRE.FindStringSubmatch(msg); m != nil && m[1] == l.file {
					at.Line, _ = strconv.Atoi(m[2])
					msg = m[3]
				}
			}
			l.diags = append(l.diags, diag.Errorf(at, "syntax", "syntax error: %s", msg))
		}
		return nil
	}
	user := ctx.BuildFile(f)
	if err := user.Err(); err != nil {
		l.cueErrors(cueerrors.Errors(err))
		return nil
	}
	l.user = user
	root := sch.LookupPath(cue.ParsePath("#Config"))
	l.val = root.Unify(user)
	// CUE reports only some errors of a value when several parts are
	// wrong, so each top-level field is validated on its own too; the
	// duplicates are merged by cueErrors.
	errs := cueerrors.Errors(l.val.Validate(cue.Concrete(true)))
	bad := map[string]bool{}
	iter, _ := user.Fields(cue.All())
	for iter.Next() {
		sel := iter.Selector()
		if !root.Allows(sel) {
			l.diags = append(l.diags, diag.Errorf(l.fromFile(iter.Value()), "schema", "%s: field not allowed", sel))
			bad[sel.String()] = true
			continue
		}
		fe := cueerrors.Errors(l.val.LookupPath(cue.MakePath(sel)).Validate(cue.Concrete(true)))
		if len(fe) > 0 {
			bad[sel.String()] = true
		}
		errs = append(errs, fe...)
	}
	l.bad = bad
	l.cueErrors(errs)
	cfg := &Config{}
	if len(errs) == 0 && len(l.diags) == 0 {
		if err := l.val.Decode(cfg); err != nil {
			l.cueErrors(cueerrors.Errors(err))
			return nil
		}
	} else {
		cfg = l.partial(bad)
	}
	l.check(cfg)
	return cfg
}

// partial decodes the parts of an invalid configuration that are valid, so
// that the checks beyond the schema still report their findings.
func (l *loader) partial(bad map[string]bool) *Config {
	m := map[string]any{}
	iter, _ := l.val.Fields(cue.All())
	for iter.Next() {
		name := iter.Selector().String()
		if name == "sources" {
			// The file's list gives the entries: a list holding a
			// refused source cannot be iterated once unified.
			var list []any
			items, _ := l.user.LookupPath(cue.MakePath(iter.Selector())).List()
			for i := 0; items.Next(); i++ {
				var s any
				if err := iter.Value().LookupPath(cue.MakePath(cue.Index(i))).Decode(&s); err != nil {
					s = map[string]any{}
				}
				list = append(list, s)
			}
			m[name] = list
			continue
		}
		if bad[name] {
			continue
		}
		var v any
		if err := iter.Value().Decode(&v); err == nil {
			m[name] = v
		}
	}
	cfg := &Config{}
	if b, err := json.Marshal(m); err == nil {
		_ = json.Unmarshal(b, cfg) // type errors leave fields zero
	}
	return cfg
}

// cueErrors converts CUE errors to diagnostics placed in the user's file.
// The many errors of one failed disjunction (an enum, a default) become one
// diagnostic naming the value found and the values allowed. Values at
// secret fields are never repeated.
func (l *loader) cueErrors(errs []cueerrors.Error) {
	type group struct {
		at      diag.Pos
		allowed []string
		other   []string
	}
	groups := map[string]*group{}
	var order []string
	for _, e := range errs {
		p := e.Path()
		if len(p) > 0 && p[0] == "#Config" {
			p = p[1:]
		}
		path := cuePath(p)
		g := groups[path]
		if g == nil {
			g = &group{}
			groups[path] = g
			order = append(order, path)
		}
		for _, tp := range append([]token.Pos{e.Position()}, e.InputPositions()...) {
			if !g.at.IsValid() && tp.IsValid() && tp.Filename() == l.file {
				g.at = l.pos(tp)
			}
		}
		format, args := e.Msg()
		msg := fmt.Sprintf(format, args...)
		uv := l.userValue(path)
		switch {
		case strings.Contains(msg, "errors in empty disjunction"):
		case conflictRE.MatchString(msg):
			m := conflictRE.FindStringSubmatch(msg)
			a, b := m[1], m[2]
			if a == uv || (uv == "" && !strings.HasPrefix(a, "\"")) {
				a, b = b, a
			}
			_ = b
			g.allowed = appendNew(g.allowed, a)
		case boundRE.MatchString(msg):
			g.allowed = appendNew(g.allowed, boundRE.FindStringSubmatch(msg)[1])
		default:
			g.other = appendNew(g.other, msg)
		}
	}
	for _, path := range order {
		g := groups[path]
		at := g.at
		if !at.IsValid() {
			at = l.at(path)
		}
		prefix := ""
		if path != "" {
			prefix = path + ": "
		}
		hide := secretPath(path) || (strings.HasSuffix(path, ".url") && strings.Contains(l.userValue(path), "@"))
		for _, m := range g.other {
			if hide {
				m = "invalid value"
			}
			l.diags = append(l.diags, diag.Errorf(at, "schema", "%s%s", prefix, m))
		}
		if len(g.allowed) == 0 {
			continue
		}
		found := l.userValue(path)
		if hide || found == "" {
			found = ""
		} else {
			found = " " + found
		}
		l.diags = append(l.diags, diag.Errorf(at, "schema", "%sinvalid value%s (allowed: %s)", prefix, found, strings.Join(g.allowed, " | ")))
	}
}

var (
	yamlLineRE = regexp.MustCompile(`^(.*?):(\d+): (.*)$`)
	conflictRE = regexp.MustCompile(`^conflicting values (.+?) and (.+?)(?: \(mismatched types .*\))?$`)
	boundRE    = regexp.MustCompile(`^invalid value .* \(out of bound (.+)\)$`)
)

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// urlHasCredentials reports whether a source URL carries credentials: any
// user information of an HTTP(S) or file URL (a token is often written as
// the user name), a password of an ssh:// URL. An SSH user alone (ssh://git@,
// git@host:path) is an account, not a credential.
func urlHasCredentials(raw string) bool {
	if !strings.Contains(raw, "://") {
		return false // scp-like git@host:path
	}
	u, err := url.Parse(raw)
	if err != nil {
		// Unparsable: look for user information by hand.
		_, rest, _ := strings.Cut(raw, "://")
		host, _, _ := strings.Cut(rest, "/")
		return strings.Contains(host, "@")
	}
	if u.User == nil {
		return false
	}
	if u.Scheme == "ssh" {
		_, has := u.User.Password()
		return has
	}
	return true
}

// secretPath reports whether path names a secret field, whose value must
// never appear in a message.
func secretPath(path string) bool {
	for _, s := range []string{"apiKey", "token", "password", "passphrase", "clientSecret", "webhooks."} {
		if strings.Contains(path, s) {
			return true
		}
	}
	return false
}

// userValue renders the value written at path, or "" when there is none.
func (l *loader) userValue(path string) string {
	if !l.user.Exists() || path == "" {
		return ""
	}
	v := l.user.LookupPath(cue.ParsePath(path))
	if !v.Exists() {
		return ""
	}
	b, err := format.Node(v.Syntax(cue.Final()))
	if err != nil {
		return ""
	}
	return string(b)
}

func cuePath(p []string) string {
	var b strings.Builder
	for _, s := range p {
		if _, err := strconv.Atoi(s); err == nil {
			b.WriteString("[" + s + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

// check adds the rules CUE cannot express and resolves secrets.
func (l *loader) check(c *Config) {
	if c.Timezone == "" {
		c.Timezone = "UTC"
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		l.errorf("timezone", "timezone", "unknown time zone %q", c.Timezone)
		loc = time.UTC
	}
	c.Location = loc

	names := map[string]int{}
	owners := map[string]int{}
	for i := range c.Sources {
		s := &c.Sources[i]
		p := fmt.Sprintf("sources[%d]", i)
		if s.Name == "" {
			continue // invalid, already reported
		}
		if j, dup := names[s.Name]; dup {
			l.errorf(p+".name", "duplicate", "source name %q is also used by sources[%d]", s.Name, j)
		}
		names[s.Name] = i
		if j, dup := owners[s.OwnerName()]; dup && c.Sources[j].Name != s.Name {
			l.errorf(p+".name", "duplicate", "owner %q is also used by sources[%d]; each source needs its own owner", s.OwnerName(), j)
		}
		owners[s.OwnerName()] = i
		if _, err := schedule.ParseSpec(s.Schedule, loc); s.Schedule != "" && err != nil {
			l.errorf(p+".schedule", "schedule", "invalid schedule %q: %v", s.Schedule, err)
		}
		if urlHasCredentials(s.URL) {
			// The URL is not repeated: it holds the credential.
			l.errorf(p+".url", "url-credentials", "source %q: the URL holds credentials (user or password before @); remove them and set auth (auth.token or auth.basic) with a secret reference instead", s.Name)
		}
		if s.Auth != nil {
			l.auth(p+".auth", s)
		}
	}
	l.protect("prune.protect")
	// Read from the file: a source the schema refused is not decoded.
	if items, err := l.user.LookupPath(cue.ParsePath("sources")).List(); err == nil {
		for i := 0; items.Next(); i++ {
			l.protect(fmt.Sprintf("sources[%d].prune.protect", i))
		}
	}
	for i, w := range c.FreezeWindows {
		p := fmt.Sprintf("freezeWindows[%d]", i)
		if _, err := schedule.ParseSpec(w.Start, loc); err != nil {
			l.errorf(p+".start", "schedule", "invalid start %q: %v", w.Start, err)
		}
		if w.Duration <= 0 && w.Start != "" {
			l.errorf(p+".duration", "duration", "duration must be positive")
		}
	}

	l.secret(UseTreasure, "treasure.apiKey", c.Treasure.APIKey, true)

	d := &c.Databricks
	switch {
	case l.bad["databricks"]:
		l.secret(UseWarehouse, "databricks.token", d.Token, false)
	case d.Token != nil && d.OAuth != nil:
		l.errorf("databricks.oauth", "auth", "set either token or oauth, not both")
	case d.Token == nil && d.OAuth == nil:
		l.errorf("databricks", "auth", "set token or oauth")
	case d.Token != nil:
		l.secret(UseWarehouse, "databricks.token", d.Token, true)
	default:
		l.secret(UseWarehouse, "databricks.oauth.clientSecret", d.OAuth.ClientSecret, true)
	}
	if d.Insecure && !loopback(d.Host) {
		l.errorf("databricks.insecure", "insecure", "plain HTTP is allowed only for loopback hosts, not %q", d.Host)
	}

	l.secret(UseServer, "apiToken", c.APIToken, false)
	l.secret(UseServer, "webhooks.github", c.Webhooks.GitHub, false)
	l.secret(UseServer, "webhooks.gitlab", c.Webhooks.GitLab, false)
	l.secret(UseServer, "webhooks.generic", c.Webhooks.Generic, false)

	le := c.LeaderElection
	if le.Enabled && le.RetryPeriod > 0 {
		if le.LeaseDuration <= le.RenewDeadline {
			l.errorf("leaderElection.leaseDuration", "leader", "leaseDuration (%s) must exceed renewDeadline (%s)", le.LeaseDuration.D(), le.RenewDeadline.D())
		}
		if float64(le.RenewDeadline) <= 1.2*float64(le.RetryPeriod) {
			l.errorf("leaderElection.renewDeadline", "leader", "renewDeadline (%s) must exceed 1.2 × retryPeriod (%s)", le.RenewDeadline.D(), le.RetryPeriod.D())
		}
	}
}

// protect checks that each protected object at path names exactly the
// fields of its kind, so that it matches the object it means (an entry that
// matches nothing would protect nothing, silently). Entries are read one by
// one, so that those the schema accepted are checked even when another
// entry was refused.
func (l *loader) protect(path string) {
	// The entries are read from the file's own value: once unified with
	// the schema, a list (or a source) holding a refused entry cannot be
	// read at all. Protected objects have no defaults.
	items, err := l.user.LookupPath(cue.ParsePath(path)).List()
	if err != nil {
		return // absent, or not a list (reported by the schema)
	}
	for i := 0; items.Next(); i++ {
		p := fmt.Sprintf("%s[%d]", path, i)
		var o Protected
		if err := items.Value().Decode(&o); err != nil {
			continue // refused by the schema
		}
		var need, refuse []string
		switch o.Kind {
		case KindParent:
			need, refuse = []string{"name"}, []string{"parent", "path"}
		case KindFolder:
			need, refuse = []string{"parent", "path"}, []string{"name"}
		case KindSegment:
			need, refuse = []string{"parent", "name"}, []string{"path", "segment"}
		case KindActivation:
			need, refuse = []string{"parent", "segment", "name"}, []string{"path"}
		default:
			continue // refused by the schema
		}
		fields := map[string]string{"parent": o.Parent, "name": o.Name, "path": o.Path, "segment": o.Segment}
		for _, f := range need {
			if fields[f] == "" {
				l.errorf(p, "protect", "a protected %s needs %s", o.Kind, strings.Join(need, " and "))
				break
			}
		}
		for _, f := range refuse {
			if fields[f] != "" {
				l.errorf(p+"."+f, "protect", "a protected %s is identified by %s, not %s", o.Kind, strings.Join(need, " and "), f)
			}
		}
		if o.Kind == KindFolder && o.Path != "" && !validFolderPath(o.Path) {
			l.errorf(p+".path", "protect", "folder path %q must be names separated by single slashes, without a leading or trailing slash (e.g. \"Marketing/VIP\")", o.Path)
		}
	}
}

func validFolderPath(p string) bool {
	for _, e := range strings.Split(p, "/") {
		if e == "" {
			return false
		}
	}
	return true
}

func (l *loader) auth(p string, s *Source) {
	a := s.Auth
	n := 0
	if a.Token != nil {
		n++
		l.secret(UseGit, p+".token", a.Token, true)
	}
	if a.Basic != nil {
		n++
		l.secret(UseGit, p+".basic.password", a.Basic.Password, true)
	}
	if a.SSH != nil {
		n++
		if !strings.HasPrefix(s.URL, "ssh://") && !strings.HasPrefix(s.URL, "git@") {
			l.errorf(p+".ssh", "auth", "ssh authentication needs an ssh:// or git@ URL")
		}
		if l.opts.Skip&UseGit == 0 {
			a.SSH.Key = l.readFile(p+".ssh.keyFile", a.SSH.KeyFile)
			a.SSH.KnownHosts = l.readFile(p+".ssh.knownHostsFile", a.SSH.KnownHostsFile)
		}
		if a.SSH.Passphrase != nil {
			l.secret(UseGit, p+".ssh.passphrase", a.SSH.Passphrase, true)
		}
	}
	if n > 1 {
		l.errorf(p, "auth", "set only one of token, basic and ssh")
	}
}

func (l *loader) readFile(path, name string) []byte {
	shown := name
	if !filepath.IsAbs(name) && l.opts.Dir != "" {
		name = filepath.Join(l.opts.Dir, name)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		l.errorf(path, "file", "cannot read %s: %v", shown, unwrapPath(err))
		return nil
	}
	return b
}

// secret resolves s, a secret of part, in place; when part is skipped only
// its shape is checked. A literal is refused without repeating it.
func (l *loader) secret(part Uses, path string, s *Secret, required bool) {
	if s == nil {
		top, _, _ := strings.Cut(path, ".")
		if l.bad[top] {
			// Not decoded because of a schema error; a literal is
			// still worth reporting.
			if v := l.user.LookupPath(cue.ParsePath(path)); v.Exists() && v.IncompleteKind() == cue.StringKind {
				l.errorf(path, "secret-literal", "secrets may not be written in the configuration; use {env: \"NAME\"} or {file: \"PATH\"}")
			}
			return
		}
		if required {
			l.errorf(path, "secret", "secret is required")
		}
		return
	}
	switch {
	case s.literal:
		l.errorf(path, "secret-literal", "secrets may not be written in the configuration; use {env: \"NAME\"} or {file: \"PATH\"}")
	case l.opts.Skip&part != 0:
		// Checked for shape only (by the schema): not read.
	case s.Env != "":
		v, ok := l.opts.LookupEnv(s.Env)
		if !ok || v == "" {
			l.errorf(path, "secret", "environment variable %s is not set", s.Env)
			return
		}
		s.value = v
	case s.File != "":
		b := l.readFile(path, s.File)
		if b == nil {
			return
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			l.errorf(path, "secret", "file %s is empty", s.File)
			return
		}
		s.value = v
	}
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func loopback(host string) bool {
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1" || host == "[::1]"
}
