package treasure

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Reason classifies an APIError. The set is closed.
type Reason string

// Reasons.
const (
	// ReasonAuth: the API key is missing or invalid (401).
	ReasonAuth Reason = "auth"
	// ReasonForbidden: the key may not do this (403).
	ReasonForbidden Reason = "forbidden"
	// ReasonNotFound: the object does not exist (404).
	ReasonNotFound Reason = "not_found"
	// ReasonConflict: the name is already taken, or the object is still
	// referenced or not empty (409, or 400 "has already been taken").
	ReasonConflict Reason = "conflict"
	// ReasonValidation: the request was refused as invalid (400, 422, other
	// 4xx), or the client refused to send it.
	ReasonValidation Reason = "validation"
	// ReasonRateLimited: the API answered 429 and retries ran out.
	ReasonRateLimited Reason = "rate_limited"
	// ReasonServer: the API answered 5xx and retries ran out.
	ReasonServer Reason = "server"
	// ReasonNetwork: no answer (connection refused or dropped, timeout).
	ReasonNetwork Reason = "network"
	// ReasonCanceled: the caller's context ended.
	ReasonCanceled Reason = "canceled"
)

// Reasons lists every Reason, for pre-initialising metric label values.
var Reasons = []Reason{ReasonAuth, ReasonForbidden, ReasonNotFound, ReasonConflict, ReasonValidation,
	ReasonRateLimited, ReasonServer, ReasonNetwork, ReasonCanceled}

// Temporary reports whether retrying later may succeed.
func (r Reason) Temporary() bool {
	return r == ReasonRateLimited || r == ReasonServer || r == ReasonNetwork
}

// APIError is the error of every Client method.
type APIError struct {
	// Status is the HTTP status; 0 when no answer arrived or the client
	// refused to send the request.
	Status int
	Reason Reason
	// RequestID is the server's request id header, when sent.
	RequestID string
	Method    string
	// Endpoint is the bounded endpoint name ("segments", "folders", ...).
	Endpoint string
	// Message is the main error text parsed from the body.
	Message string
	// Details are further messages (field errors, referencing ids, ...).
	Details []string
	// Code is the machine code of the body, when one was sent
	// ("validation-error", "CONNECTION_NOT_FOUND", ...).
	Code string
	// ReferencedBy lists the ids of segments that still reference the
	// object, from a 409 answer.
	ReferencedBy []string
	// RetryAfter is the server's Retry-After, when sent.
	RetryAfter time.Duration

	cause error // context error, for errors.Is
}

// Error renders "treasure: <method> <endpoint>: <status> <reason>: <message>".
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("treasure: ")
	if e.Method != "" {
		b.WriteString(e.Method + " " + e.Endpoint + ": ")
	}
	if e.Status != 0 {
		b.WriteString(strconv.Itoa(e.Status) + " ")
	}
	b.WriteString(string(e.Reason))
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if len(e.Details) > 0 {
		b.WriteString(" (" + strings.Join(e.Details, "; ") + ")")
	}
	if e.RequestID != "" {
		b.WriteString(" [request id " + e.RequestID + "]")
	}
	return b.String()
}

// Unauthorized reports whether Treasure refused the API key itself (401:
// missing, wrong, expired or revoked). Retrying cannot help until someone
// replaces the key.
func (e *APIError) Unauthorized() bool { return e.Reason == ReasonAuth }

// Forbidden reports whether Treasure refused the request for the key's
// permissions (403: a valid key whose user may not do this, or a write-only
// key). Retrying cannot help until someone grants the permission or uses
// another key.
func (e *APIError) Forbidden() bool { return e.Reason == ReasonForbidden }

// NotFound reports whether Treasure answered that the object does not
// exist (404).
func (e *APIError) NotFound() bool { return e.Reason == ReasonNotFound }

// Unwrap returns the context error of a canceled request.
func (e *APIError) Unwrap() error { return e.cause }

// ReasonOf returns the Reason of err when it is an *APIError, and "" otherwise.
func ReasonOf(err error) Reason {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Reason
	}
	return ""
}

// reasonFor maps an HTTP status to a Reason.
func reasonFor(status int) Reason {
	switch {
	case status == http.StatusUnauthorized:
		return ReasonAuth
	case status == http.StatusForbidden:
		return ReasonForbidden
	case status == http.StatusNotFound:
		return ReasonNotFound
	case status == http.StatusConflict:
		return ReasonConflict
	case status == http.StatusTooManyRequests:
		return ReasonRateLimited
	case status >= 500:
		return ReasonServer
	}
	return ReasonValidation
}

var takenRE = regexp.MustCompile(`(?i)(has already been taken|already taken|not unique)`)

// parseBody fills e's Message, Details, Code and ReferencedBy from an error
// body of any documented shape: REST {code, message}; 5xx {status, error,
// details}; classic {error, text}; JSON:API {errors: [...]}; errors as an
// object {errors: {field: [...]}}; {base: [...]}; {errors: "text"}; and
// plain text or HTML.
func (e *APIError) parseBody(body []byte) {
	body = bytes.TrimSpace(body)
	var m map[string]json.RawMessage
	if len(body) == 0 || body[0] != '{' || json.Unmarshal(body, &m) != nil {
		e.Message = plainText(body)
		return
	}
	str := func(k string) string {
		var s string
		if json.Unmarshal(m[k], &s) == nil {
			return s
		}
		return ""
	}
	if raw, ok := m["errors"]; ok {
		e.parseErrors(raw)
	}
	if base, ok := m["base"]; ok {
		var msgs []string
		if json.Unmarshal(base, &msgs) == nil && len(msgs) > 0 {
			e.Message = strings.Join(msgs, "; ")
		}
	}
	if e.Message == "" {
		switch {
		case str("message") != "":
			e.Message, e.Code = str("message"), str("code")
		case str("error") != "":
			e.Message = str("error")
			for _, k := range []string{"details", "text"} {
				if d := str(k); d != "" && d != e.Message {
					e.Details = append(e.Details, d)
				}
			}
		}
	}
	if e.Code == "" {
		e.Code = str("code")
	}
	if refs, ok := m["referencedBySegments"]; ok {
		e.addRefs(refs)
	}
	if e.Message == "" {
		e.Message = plainText(body)
	}
}

func (e *APIError) parseErrors(raw json.RawMessage) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return
	}
	switch raw[0] {
	case '"':
		_ = json.Unmarshal(raw, &e.Message)
	case '[':
		e.parseErrorList(raw)
	case '{':
		e.parseFieldErrors(raw)
	}
}

// parseErrorList reads a JSON:API list of error objects: the first gives
// the message and the code (a validation, permission or unprocessable
// entity code of its meta wins), the others and the source pointers the
// details.
func (e *APIError) parseErrorList(raw json.RawMessage) {
	var items []struct {
		Code   string `json:"code"`
		Title  string `json:"title"`
		Detail string `json:"detail"`
		Source struct {
			Pointer string `json:"pointer"`
		} `json:"source"`
		Meta map[string]json.RawMessage `json:"meta"`
	}
	if json.Unmarshal(raw, &items) != nil {
		return
	}
	for i, it := range items {
		msg := it.Detail
		if msg == "" {
			msg = it.Title
		}
		if msg == "" {
			msg = it.Code
		}
		var vcode string
		for _, k := range []string{"validationCode", "permissionCode", "unprocessableEntityCode"} {
			if v, ok := it.Meta[k]; ok {
				_ = json.Unmarshal(v, &vcode)
			}
		}
		if refs, ok := it.Meta["referencedBySegments"]; ok {
			e.addRefs(refs)
		}
		if i == 0 {
			e.Message, e.Code = msg, it.Code
			if vcode != "" {
				e.Code = vcode
			}
		} else {
			e.Details = append(e.Details, msg)
		}
		if it.Source.Pointer != "" {
			e.Details = append(e.Details, "at "+it.Source.Pointer)
		}
	}
}

// parseFieldErrors reads messages by field ({name: ["has already been
// taken"]}, or one string per field), in field order; "base" messages are
// not prefixed with their field.
func (e *APIError) parseFieldErrors(raw json.RawMessage) {
	var fields map[string][]string
	if json.Unmarshal(raw, &fields) != nil {
		var one map[string]string
		if json.Unmarshal(raw, &one) != nil {
			return
		}
		fields = map[string][]string{}
		for k, v := range one {
			fields[k] = []string{v}
		}
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var msgs []string
	for _, k := range keys {
		for _, v := range fields[k] {
			if k == "base" {
				msgs = append(msgs, v)
			} else {
				msgs = append(msgs, k+" "+v)
			}
		}
	}
	if len(msgs) > 0 {
		e.Message, e.Details = msgs[0], append(e.Details, msgs[1:]...)
	}
}

func (e *APIError) addRefs(raw json.RawMessage) {
	var refs []struct {
		ID wireID `json:"id"`
	}
	if json.Unmarshal(raw, &refs) != nil {
		return
	}
	for _, r := range refs {
		if !slices.Contains(e.ReferencedBy, string(r.ID)) {
			e.ReferencedBy = append(e.ReferencedBy, string(r.ID))
		}
	}
	if len(e.ReferencedBy) > 0 && !slices.ContainsFunc(e.Details, func(d string) bool { return strings.HasPrefix(d, "referenced by") }) {
		e.Details = append(e.Details, "referenced by segments "+strings.Join(e.ReferencedBy, ", "))
	}
}

var (
	tagRE   = regexp.MustCompile(`<[^>]*>`)
	spaceRE = regexp.MustCompile(`\s+`)
)

// plainText reduces a text or HTML body to one short line.
func plainText(b []byte) string {
	s := tagRE.ReplaceAllString(string(b), " ")
	s = strings.TrimSpace(spaceRE.ReplaceAllString(s, " "))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

// classify finishes e: the Reason from the status, refined for uniqueness
// failures sent as 400.
func (e *APIError) classify() {
	e.Reason = reasonFor(e.Status)
	if e.Status == http.StatusBadRequest {
		if e.Code == "VIOLATES_UNIQUENESS_CONSTRAINT" || takenRE.MatchString(e.Message) {
			e.Reason = ReasonConflict
		}
	}
}

// isTaken reports whether err is a duplicate-name refusal.
func isTaken(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Reason == ReasonConflict && ae.Status == http.StatusBadRequest
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// canceled builds the error of a request whose context ended.
func canceled(method, endpoint string, err error) *APIError {
	return &APIError{Reason: ReasonCanceled, Method: method, Endpoint: endpoint, Message: err.Error(), cause: err}
}

// localError is an error the client raises before sending anything.
func localError(method, endpoint, format string, args ...any) *APIError {
	return &APIError{Reason: ReasonValidation, Method: method, Endpoint: endpoint, Message: fmt.Sprintf(format, args...)}
}

// redactor replaces secrets in text.
type redactor []string

func newRedactor(key string) redactor {
	var r redactor
	if key != "" {
		r = append(r, key)
		if _, secret, ok := strings.Cut(key, "/"); ok && len(secret) >= 8 {
			r = append(r, secret)
		}
	}
	return r
}

func (r redactor) String(s string) string {
	for _, k := range r {
		s = strings.ReplaceAll(s, k, "[redacted]")
	}
	return s
}

func (r redactor) apply(e *APIError) {
	e.Message = r.String(e.Message)
	e.RequestID = r.String(e.RequestID)
	for i := range e.Details {
		e.Details[i] = r.String(e.Details[i])
	}
}
