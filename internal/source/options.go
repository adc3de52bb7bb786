package source

import (
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"
)

// Defaults for Options.
const (
	DefaultBranch       = "main"
	DefaultTimeout      = 2 * time.Minute
	DefaultDialTimeout  = 30 * time.Second
	DefaultRebuildAfter = 100
)

// Options configure a Repo.
type Options struct {
	// URL is the repository: https://host/org/repo.git, ssh://git@host/org/repo.git
	// or git@host:org/repo.git. Credentials belong in Auth, not in the URL;
	// if the URL does carry them they are still redacted from errors.
	URL string
	// Branch to follow; DefaultBranch when empty.
	Branch string
	// Path is the slash-separated directory within the repository that
	// snapshots are rooted at; the repository root when empty or ".".
	Path string
	// Auth holds credentials; the zero value means anonymous access.
	Auth Auth
	// CacheDir keeps a bare repository on disk across fetches and restarts.
	// When empty the repository is kept in memory.
	CacheDir string
	// Timeout bounds each LatestRevision and Fetch call when the caller's
	// context has no earlier deadline; DefaultTimeout when zero.
	Timeout time.Duration
	// DialTimeout bounds the SSH connection and handshake, which go-git does
	// not tie to the context; DefaultDialTimeout when zero.
	DialTimeout time.Duration
	// RebuildAfter is the number of incremental fetches after which the
	// cache is replaced by a fresh shallow clone, so that memory and disk use
	// stay bounded; DefaultRebuildAfter when zero.
	RebuildAfter int
	// CABundle adds PEM certificates to the system pool for HTTPS.
	CABundle []byte
}

// Auth holds credentials for the repository. Set at most one of the HTTPS
// methods (Username/Password, Token, BearerToken) or SSHKey.
type Auth struct {
	// Username and Password are HTTPS basic-auth credentials.
	Username string
	Password string
	// Token is an HTTPS access token sent as the basic-auth password, which
	// GitHub and GitLab accept. Username is used with it when set, "git"
	// otherwise.
	Token string
	// BearerToken is an HTTPS token sent as "Authorization: Bearer <token>".
	BearerToken string

	// SSHKey is a PEM-encoded private key for ssh URLs.
	SSHKey []byte
	// SSHKeyPassphrase decrypts SSHKey when it is encrypted.
	SSHKeyPassphrase string
	// SSHUser is the SSH user; the URL's user, or "git", when empty.
	SSHUser string
	// KnownHosts is the content of a known_hosts file used to verify the SSH
	// server's host key. It is required for ssh URLs unless
	// InsecureIgnoreHostKey is set.
	KnownHosts []byte
	// InsecureIgnoreHostKey disables SSH host key verification. Never set it
	// outside tests: anyone on the network path can impersonate the server.
	InsecureIgnoreHostKey bool
}

// secrets lists the values that must never appear in errors or logs.
func (a Auth) secrets() []string {
	return []string{a.Password, a.Token, a.BearerToken, a.SSHKeyPassphrase}
}

// transportKind is the protocol family of a repository URL.
type transportKind int

const (
	transportHTTP transportKind = iota
	transportSSH
	transportFile
)

// withDefaults validates o and fills in defaults.
func (o Options) withDefaults() (Options, transportKind, error) {
	if o.URL == "" {
		return o, 0, fmt.Errorf("source: URL is required")
	}
	if o.Branch == "" {
		o.Branch = DefaultBranch
	}
	if strings.HasPrefix(o.Branch, "refs/") || strings.ContainsAny(o.Branch, " ~^:?*[\\") {
		return o, 0, fmt.Errorf("source: invalid branch name %q (give the short name, such as main)", o.Branch)
	}
	p := strings.Trim(o.Path, "/")
	if p == "" {
		p = "."
	}
	p = path.Clean(p)
	if p == ".." || strings.HasPrefix(p, "../") {
		return o, 0, fmt.Errorf("source: path %q leaves the repository", o.Path)
	}
	o.Path = p
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.RebuildAfter <= 0 {
		o.RebuildAfter = DefaultRebuildAfter
	}

	var kind transportKind
	switch {
	case isSCPLike(o.URL):
		kind = transportSSH
	default:
		u, err := url.Parse(o.URL)
		if err != nil {
			return o, 0, fmt.Errorf("source: invalid URL %s", RedactURL(o.URL))
		}
		switch u.Scheme {
		case "https", "http":
			kind = transportHTTP
		case "ssh":
			kind = transportSSH
		case "file":
			kind = transportFile
		default:
			return o, 0, fmt.Errorf("source: unsupported URL scheme %q (use https, ssh or file)", u.Scheme)
		}
	}

	a := o.Auth
	httpSet := 0
	for _, set := range []bool{a.Username != "" || a.Password != "", a.Token != "", a.BearerToken != ""} {
		if set {
			httpSet++
		}
	}
	if a.Token != "" && a.Password != "" {
		return o, 0, fmt.Errorf("source: set either Auth.Token or Auth.Password, not both")
	}
	if a.BearerToken != "" && (a.Token != "" || a.Username != "" || a.Password != "") {
		return o, 0, fmt.Errorf("source: Auth.BearerToken cannot be combined with other HTTPS credentials")
	}
	switch kind {
	case transportSSH:
		if httpSet > 0 {
			return o, 0, fmt.Errorf("source: HTTPS credentials given for an ssh URL")
		}
		if len(a.SSHKey) == 0 {
			return o, 0, fmt.Errorf("source: Auth.SSHKey is required for an ssh URL")
		}
		if len(a.KnownHosts) == 0 && !a.InsecureIgnoreHostKey {
			return o, 0, fmt.Errorf("source: Auth.KnownHosts is required for an ssh URL (host key checking can only be disabled explicitly)")
		}
	default:
		if len(a.SSHKey) > 0 {
			return o, 0, fmt.Errorf("source: Auth.SSHKey given for a non-ssh URL")
		}
	}
	return o, kind, nil
}
