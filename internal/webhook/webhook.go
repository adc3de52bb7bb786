package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
)

// DefaultMaxBodyBytes limits a delivery's body when Options.MaxBodyBytes is
// zero.
const DefaultMaxBodyBytes = 1 << 20

// Result classifies a delivery. The set is closed, so it can label a metric.
type Result string

// Delivery results.
const (
	Accepted     Result = "accepted"
	Ignored      Result = "ignored"
	Unauthorized Result = "unauthorized"
	BadRequest   Result = "bad_request"
	TooLarge     Result = "too_large"
)

// Results lists every Result, for pre-creating metric series.
var Results = []Result{Accepted, Ignored, Unauthorized, BadRequest, TooLarge}

// Providers.
const (
	GitHub  = "github"
	GitLab  = "gitlab"
	Generic = "generic"
)

// Source is a watched repository branch.
type Source struct {
	// Name is passed to the trigger function (the scheduler's job name).
	Name string
	// URL is the repository URL in any form git accepts.
	URL string
	// Branch is the watched branch; "main" when empty.
	Branch string
}

// Delivery describes one handled request, for the observer.
type Delivery struct {
	// Provider is github, gitlab, generic, or "" when unknown.
	Provider string
	// Event is the provider's event name (e.g. push, ping, Push Hook).
	Event string
	// Result classifies the delivery.
	Result Result
	// Reason explains an ignored or refused delivery.
	Reason string
	// Triggered names the sources that were triggered.
	Triggered []string
}

// Options configure a Handler. A provider is enabled only when its secret
// is set; deliveries from a disabled provider are refused as unauthorized.
type Options struct {
	// Sources are the watched branches.
	Sources []Source
	// GitHubSecret verifies X-Hub-Signature-256.
	GitHubSecret []byte
	// GitLabToken is compared with X-Gitlab-Token.
	GitLabToken []byte
	// GenericSecret verifies X-Signature-256.
	GenericSecret []byte
	// MaxBodyBytes limits request bodies; DefaultMaxBodyBytes when zero.
	MaxBodyBytes int64
	// Trigger requests a run of the named source. Required.
	Trigger func(name string) error
	// Observe, if set, is called once per request.
	Observe func(Delivery)
	// Logger receives one line per refused delivery; nothing when nil.
	Logger *slog.Logger
}

// Handler receives push webhooks. Create it with New.
type Handler struct {
	opts    Options
	log     *slog.Logger
	sources []source
}

type source struct {
	Source
	key string // normalised URL
}

// New validates opts and returns a Handler.
func New(opts Options) (*Handler, error) {
	if opts.Trigger == nil {
		return nil, errors.New("webhook: Options.Trigger is required")
	}
	if len(opts.GitHubSecret) == 0 && len(opts.GitLabToken) == 0 && len(opts.GenericSecret) == 0 {
		return nil, errors.New("webhook: no provider secret configured")
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	h := &Handler{opts: opts, log: opts.Logger}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	for _, s := range opts.Sources {
		key := NormalizeRepoURL(s.URL)
		if s.Name == "" || key == "" {
			return nil, fmt.Errorf("webhook: source %q: name and a valid URL are required", s.Name)
		}
		if s.Branch == "" {
			s.Branch = "main"
		}
		h.sources = append(h.sources, source{Source: s, key: key})
	}
	return h, nil
}

// response is the JSON body of every answer.
type response struct {
	Result    Result   `json:"result"`
	Reason    string   `json:"reason,omitempty"`
	Triggered []string `json:"triggered,omitempty"`
}

// ServeHTTP handles one delivery.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d := h.handle(r)
	status := http.StatusAccepted
	switch d.Result {
	case Unauthorized:
		status = http.StatusUnauthorized
	case BadRequest:
		status = http.StatusBadRequest
		if r.Method != http.MethodPost {
			status = http.StatusMethodNotAllowed
			w.Header().Set("Allow", http.MethodPost)
		}
	case TooLarge:
		status = http.StatusRequestEntityTooLarge
	case Ignored:
		if d.Event == "ping" {
			status = http.StatusOK
		}
	}
	if d.Result != Accepted && d.Result != Ignored {
		h.log.Warn("webhook delivery refused", "provider", d.Provider, "event", d.Event, "result", string(d.Result), "reason", d.Reason)
	}
	if h.opts.Observe != nil {
		h.opts.Observe(d)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(response{Result: d.Result, Reason: d.Reason, Triggered: d.Triggered})
}

func (h *Handler) handle(r *http.Request) Delivery {
	var d Delivery
	if r.Method != http.MethodPost {
		d.Result, d.Reason = BadRequest, "method not allowed"
		return d
	}
	switch {
	case r.Header.Get("X-GitHub-Event") != "":
		d.Provider, d.Event = GitHub, r.Header.Get("X-GitHub-Event")
	case r.Header.Get("X-Gitlab-Event") != "":
		d.Provider, d.Event = GitLab, r.Header.Get("X-Gitlab-Event")
	case r.Header.Get("X-Signature-256") != "":
		d.Provider, d.Event = Generic, "push"
	default:
		d.Result, d.Reason = BadRequest, "unknown provider: no X-GitHub-Event, X-Gitlab-Event or X-Signature-256 header"
		return d
	}

	if r.ContentLength > h.opts.MaxBodyBytes {
		d.Result, d.Reason = TooLarge, fmt.Sprintf("body exceeds %d bytes", h.opts.MaxBodyBytes)
		return d
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, h.opts.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			d.Result, d.Reason = TooLarge, fmt.Sprintf("body exceeds %d bytes", h.opts.MaxBodyBytes)
		} else {
			d.Result, d.Reason = BadRequest, "reading body failed"
		}
		return d
	}

	if reason, ok := h.verify(d.Provider, r.Header, body); !ok {
		d.Result, d.Reason = Unauthorized, reason
		return d
	}

	switch {
	case d.Provider == GitHub && d.Event == "ping":
		d.Result, d.Reason = Ignored, "ping"
		return d
	case d.Provider == GitHub && d.Event != "push",
		d.Provider == GitLab && d.Event != "Push Hook":
		d.Result, d.Reason = Ignored, "event not handled"
		return d
	}

	var p payload
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&p); err != nil {
		d.Result, d.Reason = BadRequest, "invalid JSON payload"
		return d
	}
	if p.Ref == "" {
		d.Result, d.Reason = BadRequest, "payload has no ref"
		return d
	}
	urls, err := p.urls()
	if err != nil || len(urls) == 0 {
		d.Result, d.Reason = BadRequest, "payload has no repository URL"
		return d
	}
	branch, ok := strings.CutPrefix(p.Ref, "refs/heads/")
	if !ok {
		d.Result, d.Reason = Ignored, "not a branch push"
		return d
	}
	if p.Deleted || (p.After != "" && strings.Trim(p.After, "0") == "") {
		d.Result, d.Reason = Ignored, "branch deleted"
		return d
	}

	keys := map[string]bool{}
	for _, u := range urls {
		if k := NormalizeRepoURL(u); k != "" {
			keys[k] = true
		}
	}
	var errs []string
	matched := false
	for _, s := range h.sources {
		if !keys[s.key] || s.Branch != branch {
			continue
		}
		matched = true
		if err := h.opts.Trigger(s.Name); err != nil {
			errs = append(errs, s.Name+": "+err.Error())
			continue
		}
		d.Triggered = append(d.Triggered, s.Name)
	}
	switch {
	case !matched:
		d.Result, d.Reason = Ignored, "no source watches this repository and branch"
	case len(d.Triggered) == 0:
		d.Result, d.Reason = Ignored, "trigger refused: "+strings.Join(errs, "; ")
	default:
		d.Result = Accepted
		if len(errs) > 0 {
			d.Reason = "some triggers refused: " + strings.Join(errs, "; ")
		}
	}
	return d
}

// verify checks the provider's signature or token against the body.
func (h *Handler) verify(provider string, hdr http.Header, body []byte) (string, bool) {
	switch provider {
	case GitHub:
		if len(h.opts.GitHubSecret) == 0 {
			return "github deliveries are not enabled", false
		}
		return verifyHMAC(h.opts.GitHubSecret, hdr.Get("X-Hub-Signature-256"), body)
	case GitLab:
		if len(h.opts.GitLabToken) == 0 {
			return "gitlab deliveries are not enabled", false
		}
		got := hdr.Get("X-Gitlab-Token")
		if got == "" {
			return "missing X-Gitlab-Token", false
		}
		// Compare digests so the comparison takes the same time whatever
		// the lengths.
		a, b := sha256.Sum256([]byte(got)), sha256.Sum256(h.opts.GitLabToken)
		if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
			return "invalid X-Gitlab-Token", false
		}
		return "", true
	default:
		if len(h.opts.GenericSecret) == 0 {
			return "generic deliveries are not enabled", false
		}
		return verifyHMAC(h.opts.GenericSecret, hdr.Get("X-Signature-256"), body)
	}
}

// verifyHMAC checks a "sha256=<hex>" signature of body.
func verifyHMAC(secret []byte, header string, body []byte) (string, bool) {
	if header == "" {
		return "missing signature", false
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return "signature is not sha256=<hex>", false
	}
	sig, err := hex.DecodeString(hexSig)
	if err != nil {
		return "signature is not sha256=<hex>", false
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	if !hmac.Equal(sig, m.Sum(nil)) {
		return "signature mismatch", false
	}
	return "", true
}

// Sign returns the "sha256=<hex>" signature of body with secret, as GitHub
// and generic senders put in their signature header.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// payload holds the fields read from GitHub, GitLab and generic bodies.
type payload struct {
	Ref           string          `json:"ref"`
	After         string          `json:"after"`
	Deleted       bool            `json:"deleted"`
	Repository    json.RawMessage `json:"repository"`
	Project       *repoURLs       `json:"project"`
	RepositoryURL string          `json:"repository_url"`
}

type repoURLs struct {
	URL        string `json:"url"`
	CloneURL   string `json:"clone_url"`
	SSHURL     string `json:"ssh_url"`
	GitURL     string `json:"git_url"`
	HTMLURL    string `json:"html_url"`
	GitHTTPURL string `json:"git_http_url"`
	GitSSHURL  string `json:"git_ssh_url"`
	HTTPURL    string `json:"http_url"`
	WebURL     string `json:"web_url"`
	Homepage   string `json:"homepage"`
}

func (u *repoURLs) all() []string {
	if u == nil {
		return nil
	}
	return []string{u.URL, u.CloneURL, u.SSHURL, u.GitURL, u.HTMLURL, u.GitHTTPURL, u.GitSSHURL, u.HTTPURL, u.WebURL, u.Homepage}
}

// urls returns every repository URL in the payload.
func (p *payload) urls() ([]string, error) {
	var out []string
	if p.RepositoryURL != "" {
		out = append(out, p.RepositoryURL)
	}
	out = append(out, p.Project.all()...)
	if len(p.Repository) > 0 && string(p.Repository) != "null" {
		var s string
		if err := json.Unmarshal(p.Repository, &s); err == nil {
			out = append(out, s)
		} else {
			var u repoURLs
			if err := json.Unmarshal(p.Repository, &u); err != nil {
				return nil, err
			}
			out = append(out, u.all()...)
		}
	}
	var nonEmpty []string
	for _, s := range out {
		if s != "" {
			nonEmpty = append(nonEmpty, s)
		}
	}
	return nonEmpty, nil
}

// NormalizeRepoURL reduces a repository URL to "host/path" so that the
// forms of one repository compare equal: https://host/org/repo,
// https://user@host:443/org/repo.git, ssh://git@host:22/org/repo.git,
// git@host:org/repo.git and git://host/org/repo all become
// "host/org/repo". Scheme, user, port, a trailing slash and the .git suffix
// are dropped, and the result is lower-case (hosts are case-insensitive, and
// GitHub and GitLab treat repository paths case-insensitively too). It
// returns "" for a string that is not a repository URL.
func NormalizeRepoURL(raw string) string {
	raw = strings.TrimSpace(raw)
	var host, path string
	if !strings.Contains(raw, "://") {
		// SCP-like: [user@]host:path
		rest := raw
		if at := strings.Index(rest, "@"); at >= 0 {
			rest = rest[at+1:]
		}
		h, p, ok := strings.Cut(rest, ":")
		if !ok || h == "" || strings.Contains(h, "/") {
			return ""
		}
		host, path = h, p
	} else {
		u, err := url.Parse(raw)
		if err != nil || u.Hostname() == "" {
			return ""
		}
		host, path = u.Hostname(), u.Path
	}
	path = strings.Trim(path, "/")
	path = strings.TrimSuffix(path, ".git")
	path = strings.Trim(path, "/")
	if path == "" {
		return ""
	}
	return strings.ToLower(host + "/" + path)
}
