package source

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// Kind classifies a source error so callers can decide what to do next.
type Kind int

const (
	// KindOther is any error not covered by another kind.
	KindOther Kind = iota
	// KindAuth means the server refused our credentials, or we refused the
	// server's SSH host key. Retrying will not help until someone fixes the
	// configuration.
	KindAuth
	// KindNotFound means the repository, the branch or the path within the
	// repository does not exist.
	KindNotFound
	// KindNetwork means the server could not be reached in time, the
	// connection broke, or the server answered with a 5xx status. It is
	// usually transient.
	KindNetwork
)

// String names the kind, for logs and metric labels.
func (k Kind) String() string {
	switch k {
	case KindAuth:
		return "auth"
	case KindNotFound:
		return "not_found"
	case KindNetwork:
		return "network"
	default:
		return "other"
	}
}

// Sentinel errors, one per Kind, matched with errors.Is.
var (
	ErrAuth     = errors.New("git authentication failed")
	ErrNotFound = errors.New("git repository, branch or path not found")
	ErrNetwork  = errors.New("git server unreachable")
)

// Error is the error returned by every operation of this package. Its text
// never contains credentials: URLs are redacted and configured secrets are
// replaced. For the same reason it does not unwrap to the underlying
// library error (whose text may carry a URL with credentials), only to the
// sentinel of its Kind and, when the cause was a context, to
// context.Canceled or context.DeadlineExceeded.
type Error struct {
	// Kind classifies the failure.
	Kind Kind
	// Op is the operation: "list", "fetch", "clone", "open" or "read".
	Op string
	// URL is the repository URL, redacted.
	URL string
	// Branch is the configured branch.
	Branch string

	msg    string  // cause text, redacted
	causes []error // safe errors for errors.Is
}

// Error renders "<op> <url> (branch <b>): <cause>".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.URL != "" {
		b.WriteString(" " + e.URL)
	}
	if e.Branch != "" {
		b.WriteString(" (branch " + e.Branch + ")")
	}
	if e.msg != "" {
		b.WriteString(": " + e.msg)
	}
	return b.String()
}

// Unwrap returns the Kind's sentinel error and a context error, if any.
func (e *Error) Unwrap() []error { return e.causes }

// Temporary reports whether the error is usually transient: the server
// could not be reached (KindNetwork).
func (e *Error) Temporary() bool { return e.Kind == KindNetwork }

// newError classifies err and builds a redacted *Error.
func (r *Repo) newError(op string, kind Kind, err error) *Error {
	if kind == KindOther {
		kind = classify(err)
	}
	e := &Error{Kind: kind, Op: op, URL: r.safeURL, Branch: r.opts.Branch}
	if err != nil {
		e.msg = r.red.String(err.Error())
	}
	switch kind {
	case KindAuth:
		e.causes = append(e.causes, ErrAuth)
	case KindNotFound:
		e.causes = append(e.causes, ErrNotFound)
	case KindNetwork:
		e.causes = append(e.causes, ErrNetwork)
	}
	for _, c := range []error{context.DeadlineExceeded, context.Canceled} {
		if errors.Is(err, c) {
			e.causes = append(e.causes, c)
		}
	}
	return e
}

// errorf builds an *Error of the given kind from a message.
func (r *Repo) errorf(op string, kind Kind, format string, args ...any) *Error {
	return r.newError(op, kind, fmt.Errorf(format, args...))
}

// classify maps a go-git, network or SSH error to a Kind.
func classify(err error) Kind {
	if err == nil {
		return KindOther
	}
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired),
		errors.Is(err, transport.ErrAuthorizationFailed),
		errors.Is(err, transport.ErrInvalidAuthMethod):
		return KindAuth
	case errors.Is(err, transport.ErrRepositoryNotFound),
		errors.Is(err, transport.ErrEmptyRemoteRepository):
		return KindNotFound
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return KindNetwork
	}
	var herr *githttp.Err
	var uerr *plumbing.UnexpectedError
	if errors.As(err, &uerr) { // it does not implement Unwrap
		errors.As(uerr.Err, &herr)
	} else {
		errors.As(err, &herr)
	}
	if herr != nil && herr.Response != nil {
		switch c := herr.Response.StatusCode; {
		case c == http.StatusUnauthorized || c == http.StatusForbidden:
			return KindAuth
		case c == http.StatusNotFound:
			return KindNotFound
		case c >= 500 || c == http.StatusTooManyRequests:
			return KindNetwork
		}
	}
	var nerr net.Error
	if errors.As(err, &nerr) {
		return KindNetwork
	}
	var operr *net.OpError
	if errors.As(err, &operr) {
		return KindNetwork
	}
	// SSH errors are plain strings in golang.org/x/crypto/ssh.
	msg := err.Error()
	switch {
	case strings.Contains(msg, "knownhosts:"),
		strings.Contains(msg, "unable to authenticate"),
		strings.Contains(msg, "host key"):
		return KindAuth
	case strings.Contains(msg, "connection refused"),
		strings.Contains(msg, "connection reset"),
		strings.Contains(msg, "i/o timeout"),
		strings.Contains(msg, "no such host"),
		strings.Contains(msg, "EOF"):
		return KindNetwork
	}
	return KindOther
}
