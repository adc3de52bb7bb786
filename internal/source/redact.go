package source

import (
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// redacted replaces secrets in URLs and error text.
const redacted = "redacted"

// RedactURL returns raw with credentials removed: the user information of
// URLs with a scheme other than ssh is replaced (an ssh user name such as
// "git" is kept, its password is not), every query value is replaced, and the
// fragment is dropped. SCP-like addresses (git@host:org/repo.git) carry no
// secret and are returned unchanged. A string that does not parse as a URL is
// replaced entirely, since it cannot be shown safely.
func RedactURL(raw string) string {
	if raw == "" {
		return ""
	}
	if isSCPLike(raw) {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "<invalid url>"
	}
	if u.User != nil {
		name := u.User.Username()
		_, hasPassword := u.User.Password()
		switch {
		case u.Scheme == "ssh" && !hasPassword:
			// Keep the user name: it is an account, not a credential.
		case u.Scheme == "ssh":
			u.User = url.User(name)
		default:
			u.User = url.User(redacted)
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if k != "service" { // git's protocol parameter, never a secret
				q[k] = []string{redacted}
			}
		}
		u.RawQuery = q.Encode()
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}

// isSCPLike reports whether s is an SCP-like git address: user@host:path,
// with no scheme.
func isSCPLike(s string) bool {
	if strings.Contains(s, "://") {
		return false
	}
	at := strings.Index(s, "@")
	colon := strings.Index(s, ":")
	return at > 0 && colon > at && !strings.ContainsAny(s[:at], "/:")
}

// urlPattern finds URLs with a scheme inside free text such as error
// messages.
var urlPattern = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.\-]*://[^\s"'<>]+`)

// redactor removes configured secrets and URL credentials from text.
type redactor struct {
	secrets []string // longest first, so overlapping secrets are fully removed
}

func newRedactor(secrets ...string) *redactor {
	var out []string
	seen := map[string]bool{}
	for _, s := range secrets {
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, s)
		// Secrets also appear URL-escaped inside URLs.
		if e := url.QueryEscape(s); e != s && !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return &redactor{secrets: out}
}

// String returns s with URL credentials and every known secret replaced.
func (r *redactor) String(s string) string {
	s = urlPattern.ReplaceAllStringFunc(s, func(m string) string {
		// Trailing punctuation is usually not part of the URL.
		trimmed := strings.TrimRight(m, ".,;)]}")
		return RedactURL(trimmed) + m[len(trimmed):]
	})
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, redacted)
	}
	return s
}

// urlSecrets returns the credentials embedded in a URL, if any.
func urlSecrets(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return nil
	}
	out := []string{}
	if p, ok := u.User.Password(); ok {
		out = append(out, p)
	}
	if u.Scheme != "ssh" {
		out = append(out, u.User.Username())
	}
	for _, vs := range u.Query() {
		out = append(out, vs...)
	}
	return out
}
