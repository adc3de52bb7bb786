package leader

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/cas-reconciler/reconciler/internal/version"
)

// LeaseClient reads and writes coordination.k8s.io/v1 Leases. *Client
// implements it over the Kubernetes REST API.
//
// Errors for a missing lease match ErrNotFound with errors.Is; an update
// whose resourceVersion is stale matches ErrConflict, and a create of an
// existing lease matches ErrAlreadyExists.
type LeaseClient interface {
	Get(ctx context.Context, namespace, name string) (*Lease, error)
	Create(ctx context.Context, l *Lease) (*Lease, error)
	// Update replaces the lease; l.Metadata.ResourceVersion must be the
	// version the caller read.
	Update(ctx context.Context, l *Lease) (*Lease, error)
}

var _ LeaseClient = (*Client)(nil)

// Errors matched by *APIError with errors.Is.
var (
	ErrNotFound      = errors.New("not found")
	ErrConflict      = errors.New("conflict")
	ErrAlreadyExists = errors.New("already exists")
)

// APIError is a request the Kubernetes API server answered with a failure
// status. Reason and Message come from the metav1.Status in the body; when
// the body was not a Status, Reason is empty and Message holds the start of
// the body.
type APIError struct {
	Op      string // "get", "create" or "update"
	Lease   string // namespace/name
	Code    int    // HTTP status code
	Reason  string // metav1.Status reason, such as "Conflict" or "NotFound"
	Message string
}

func (e *APIError) Error() string {
	reason := e.Reason
	if reason == "" {
		reason = http.StatusText(e.Code)
	}
	s := fmt.Sprintf("leader: %s lease %s: %s (%d)", e.Op, e.Lease, reason, e.Code)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is matches ErrNotFound, ErrConflict and ErrAlreadyExists.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Code == http.StatusNotFound
	case ErrConflict:
		return e.Code == http.StatusConflict && e.Reason != "AlreadyExists"
	case ErrAlreadyExists:
		return e.Code == http.StatusConflict && e.Reason == "AlreadyExists"
	}
	return false
}

// Client is a LeaseClient speaking the Kubernetes REST API.
type Client struct {
	base  string
	http  *http.Client
	token func() (string, error)
}

// NewClient returns a client for the API server at baseURL (such as
// "https://10.0.0.1:443"). httpClient carries the requests (TLS settings,
// timeouts); nil means http.DefaultClient. token, when not nil, is called
// for every request and its result sent as a bearer token; it should cache
// the token itself. Requests are bounded only by their contexts and
// httpClient's timeout.
func NewClient(baseURL string, httpClient *http.Client, token func() (string, error)) *Client {
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), http: httpClient, token: token}
}

// maxResponseBytes bounds a response body; a Lease is well below 4 KiB.
const maxResponseBytes = 1 << 20

const (
	leaseAPIVersion = "coordination.k8s.io/v1"
	leaseKind       = "Lease"
)

// Get reads the lease namespace/name.
func (c *Client) Get(ctx context.Context, namespace, name string) (*Lease, error) {
	if namespace == "" || name == "" {
		return nil, fmt.Errorf("leader: get lease %s/%s: namespace and name are required", namespace, name)
	}
	return c.do(ctx, http.MethodGet, "get", namespace, name, leasePath(namespace, name), nil)
}

// Create creates l, which must carry its namespace and name.
func (c *Client) Create(ctx context.Context, l *Lease) (*Lease, error) {
	ns, name := l.Metadata.Namespace, l.Metadata.Name
	if ns == "" || name == "" {
		return nil, fmt.Errorf("leader: create lease %s/%s: namespace and name are required", ns, name)
	}
	body := *l
	body.Metadata.ResourceVersion = ""
	return c.do(ctx, http.MethodPost, "create", ns, name, leasesPath(ns), &body)
}

// Update replaces l on the server if its resourceVersion is still current.
func (c *Client) Update(ctx context.Context, l *Lease) (*Lease, error) {
	ns, name := l.Metadata.Namespace, l.Metadata.Name
	if ns == "" || name == "" {
		return nil, fmt.Errorf("leader: update lease %s/%s: namespace and name are required", ns, name)
	}
	if l.Metadata.ResourceVersion == "" {
		return nil, fmt.Errorf("leader: update lease %s/%s: no resourceVersion (the update would not be conditional)", ns, name)
	}
	return c.do(ctx, http.MethodPut, "update", ns, name, leasePath(ns, name), l)
}

func leasesPath(namespace string) string {
	return "/apis/coordination.k8s.io/v1/namespaces/" + url.PathEscape(namespace) + "/leases"
}

func leasePath(namespace, name string) string {
	return leasesPath(namespace) + "/" + url.PathEscape(name)
}

func (c *Client) do(ctx context.Context, method, op, namespace, name, path string, in *Lease) (*Lease, error) {
	key := namespace + "/" + name
	fail := func(format string, args ...any) error {
		return fmt.Errorf("leader: %s lease %s: "+format, append([]any{op, key}, args...)...)
	}
	var body io.Reader
	if in != nil {
		out := *in
		out.APIVersion, out.Kind = leaseAPIVersion, leaseKind
		b, err := json.Marshal(&out)
		if err != nil {
			return nil, fail("encode: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fail("%w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", version.UserAgent())
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	var token string
	if c.token != nil {
		if token, err = c.token(); err != nil {
			return nil, fail("bearer token: %w", err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fail("%w", redact(err, token))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, fail("read response: %w", redact(err, token))
	}
	if len(b) > maxResponseBytes {
		return nil, fail("response larger than %d bytes", maxResponseBytes)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, statusError(op, key, resp.StatusCode, b, token)
	}
	var l Lease
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fail("decode response: %w", err)
	}
	if l.Kind != leaseKind || l.Metadata.Name != name {
		return nil, fail("response is a %q named %q, not the lease", l.Kind, l.Metadata.Name)
	}
	if l.Metadata.Namespace == "" {
		l.Metadata.Namespace = namespace
	}
	return &l, nil
}

// status is the part of a metav1.Status an error reports.
type status struct {
	Kind    string `json:"kind"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// maxMessage bounds the server's message in an error.
const maxMessage = 512

func statusError(op, key string, code int, body []byte, token string) *APIError {
	e := &APIError{Op: op, Lease: key, Code: code}
	var st status
	if json.Unmarshal(body, &st) == nil && st.Kind == "Status" {
		e.Reason, e.Message = st.Reason, st.Message
	} else {
		e.Message = strings.TrimSpace(string(body))
	}
	e.Message = redactString(e.Message, token)
	if len(e.Message) > maxMessage {
		e.Message = strings.ToValidUTF8(e.Message[:maxMessage], "") + "…"
	}
	return e
}

// redact keeps the token out of an error, should a transport or a server
// ever echo it.
func redact(err error, token string) error {
	if token == "" || !strings.Contains(err.Error(), token) {
		return err
	}
	return errors.New(redactString(err.Error(), token))
}

func redactString(s, token string) string {
	if token == "" {
		return s
	}
	return strings.ReplaceAll(s, token, "[redacted]")
}
