package warehouse

import (
	"context"
	"errors"
	"net"
	"regexp"
	"strings"

	dbsqlerr "github.com/databricks/databricks-sql-go/errors"

	"github.com/cas-reconciler/reconciler/pkg/catalog"
)

// Class is the cause class of an Error.
type Class string

// Error classes.
const (
	// Unreachable: the host could not be reached (DNS, refused, reset, TLS).
	Unreachable Class = "unreachable"
	// AuthRefused: the warehouse or the token URL refused the credentials.
	AuthRefused Class = "auth refused"
	// Permission: the principal lacks a privilege for a statement.
	Permission Class = "permission"
	// NotFound: a table or relation does not exist.
	NotFound Class = "not found"
	// Timeout: the context deadline or the connect/query timeout expired.
	Timeout Class = "timeout"
	// Query: the statement failed for another reason.
	Query Class = "query"
	// Starting: the warehouse answered HTTP 503 or said it is starting (a
	// stopped warehouse starts on the first request and answers 503 until
	// it runs).
	Starting Class = "starting"
	// StartTimeout: the warehouse was still starting when the start budget
	// (Options.StartTimeout) ran out.
	StartTimeout Class = "start timeout"
)

// Error is the one error type of the client. It names the warehouse host
// and the cause class, never a token or secret. Callers branch on Class
// with errors.As.
type Error struct {
	Host  string
	Class Class
	// Op says what the client was doing ("columns query", "token exchange").
	Op string
	// SQLState is the warehouse's SQLSTATE for failed statements, and
	// ErrorClass its error class (TABLE_OR_VIEW_NOT_FOUND,
	// NO_SUCH_CATALOG_EXCEPTION, ...), the bracketed code Databricks puts
	// first in the message.
	SQLState   string
	ErrorClass string
	msg        string
	err        error
}

// Error renders "warehouse <host>: <op>: <class>: <cause>".
func (e *Error) Error() string {
	s := "warehouse " + e.Host + ": "
	if e.Op != "" {
		s += e.Op + ": "
	}
	s += string(e.Class)
	if e.msg != "" {
		s += ": " + e.msg
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.err }

// redactor removes secrets from text.
type redactor []string

func (r redactor) redact(s string) string {
	for _, sec := range r {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// classify wraps err into an *Error. Secrets are removed from the message
// and from the kept cause's text.
func (c *Client) classify(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	var we *Error
	if errors.As(err, &we) {
		return err
	}
	e := &Error{Host: c.opts.Host, Op: op, Class: Query}
	msg := err.Error()
	var exec dbsqlerr.DBExecutionError
	var netErr net.Error
	var tokErr *tokenError
	lower := strings.ToLower(msg)
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (ctx != nil && errors.Is(ctx.Err(), context.DeadlineExceeded)):
		e.Class = Timeout
	case errors.Is(err, context.Canceled):
		e.Class = Timeout
		msg = "canceled"
	case errors.As(err, &exec):
		e.SQLState = exec.SqlState()
		if m := errorClass.FindStringSubmatch(msg); m != nil {
			e.ErrorClass = m[1]
		}
		switch e.SQLState {
		case "42501":
			e.Class = Permission
		case "42P01", "42704":
			// 42P01 undefined table; 42704 undefined object (a catalog
			// or schema).
			e.Class = NotFound
		}
		switch e.ErrorClass {
		case "INSUFFICIENT_PERMISSIONS":
			e.Class = Permission
		case classTableNotFound, classNoSuchCatalog, classSchemaNotFound:
			e.Class = NotFound
		}
	case starting.MatchString(msg):
		e.Class = Starting
	case errors.As(err, &tokErr) && tokErr.refused():
		e.Class = AuthRefused
	case authRefused.MatchString(msg):
		e.Class = AuthRefused
	case errors.As(err, &netErr) && netErr.Timeout():
		e.Class = Timeout
	case isUnreachable(err, lower):
		e.Class = Unreachable
	}
	e.msg = c.redact(firstLine(msg))
	e.err = redactedError{msg: e.msg, cause: err}
	return e
}

// Error classes of Databricks that the client tells apart.
const (
	classTableNotFound  = "TABLE_OR_VIEW_NOT_FOUND"
	classNoSuchCatalog  = "NO_SUCH_CATALOG_EXCEPTION"
	classSchemaNotFound = "SCHEMA_NOT_FOUND"
)

// errorClass matches the error class Databricks puts in brackets at the
// start of a statement error ("[SCHEMA_NOT_FOUND] The schema ...").
var errorClass = regexp.MustCompile(`\[([A-Z][A-Z0-9_]*)(?:\.[A-Z0-9_]+)?\]`)

// missing returns which part of a name the warehouse said does not exist.
func (e *Error) missing() catalog.Missing {
	switch {
	case e.Class != NotFound:
		return ""
	case e.ErrorClass == classNoSuchCatalog:
		return catalog.MissingCatalog
	case e.ErrorClass == classSchemaNotFound:
		return catalog.MissingSchema
	}
	return ""
}

// authRefused matches the driver's and the token exchange's texts for HTTP
// 401 and 403.
var authRefused = regexp.MustCompile(`(?i)\b(status|http) 40[13]\b|invalid access token|\bunauthorized\b|\bforbidden\b`)

// starting matches the driver's text for a request that still got HTTP 503
// after its own retries, and the warehouse's words for a start in progress.
var starting = regexp.MustCompile(`(?i)\b(status|http) 503\b|503 service unavailable|temporarily_unavailable|warehouse (is )?starting`)

func isUnreachable(err error, lower string) bool {
	var opErr *net.OpError
	var dnsErr *net.DNSError
	if errors.As(err, &opErr) || errors.As(err, &dnsErr) {
		return true
	}
	for _, s := range []string{"connection refused", "no such host", "connection reset", "eof", "tls:", "x509:", "i/o timeout", "dial tcp"} {
		if strings.Contains(lower, s) {
			return true
		}
	}
	return false
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	const max = 400
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}

// redactedError keeps the cause chain for errors.Is/As while its own text
// is the redacted message.
type redactedError struct {
	msg   string
	cause error
}

func (r redactedError) Error() string { return r.msg }
func (r redactedError) Unwrap() error { return r.cause }

// Temporary reports whether retrying later may succeed without anyone
// changing anything: the warehouse was unreachable, too slow, starting or
// did not finish starting within the budget. Refused credentials, missing
// privileges or tables and failed statements need a human.
func (e *Error) Temporary() bool {
	switch e.Class {
	case Unreachable, Timeout, Starting, StartTimeout:
		return true
	}
	return false
}

// IsStarting reports whether the warehouse was starting (HTTP 503) when
// the statement was given up, within the start budget.
func (e *Error) IsStarting() bool { return e.Class == Starting }

// StartTimedOut reports whether the warehouse was still starting when the
// start budget ran out.
func (e *Error) StartTimedOut() bool { return e.Class == StartTimeout }

// Unauthorized reports whether the warehouse or its token URL refused the
// credentials (a wrong, expired or revoked token or client secret, or a
// principal that may not use the warehouse). Retrying cannot help until
// someone replaces them.
func (e *Error) Unauthorized() bool { return e.Class == AuthRefused }
