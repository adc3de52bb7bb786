package warehouse

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	dbsql "github.com/databricks/databricks-sql-go"

	"github.com/cas-reconciler/reconciler/pkg/catalog"
)

// Query kinds passed to Options.Observe and counted by Client.Queries.
const (
	KindColumns    = "columns"    // one information_schema query per catalog
	KindFreshness  = "freshness"  // the cheap last_altered check of a cached catalog
	KindPrivileges = "privileges" // privilege relations, and current_user()
	KindProbe      = "probe"      // SELECT * ... LIMIT 0 per table
	KindUniqueness = "uniqueness" // COUNT(*) vs COUNT(DISTINCT key)
	KindMissing    = "missing"    // SHOW TABLES IN c.s for a schema with a table not found
	KindPopulation = "population" // the profile counts of segment rules
)

// PrivilegeCheck selects how Snapshot checks the principal's access.
type PrivilegeCheck int

const (
	// ProbeTables runs `SELECT * FROM t LIMIT 0` per table. It is exact:
	// the warehouse itself applies ownership, groups and inheritance. It is
	// the default.
	ProbeTables PrivilegeCheck = iota
	// ReadGrants reads catalog_privileges, schema_privileges and
	// table_privileges in one query per catalog and computes access from
	// the rows whose grantee is the principal, direct and inherited. It
	// misses grants held through groups and ownership.
	ReadGrants
	// SkipPrivileges does not check privileges.
	SkipPrivileges
)

// Options configure a Client. Host and HTTPPath are required, and exactly
// one of Token and ClientID/ClientSecret.
type Options struct {
	// Host is the workspace host name, without scheme ("dbc-1234.cloud.databricks.com").
	Host string
	// Port defaults to 443.
	Port int
	// HTTPPath is the warehouse path, /sql/1.0/warehouses/<id>.
	HTTPPath string
	// Catalog is the session's default catalog (its initial namespace).
	// Snapshot always names catalogs explicitly; this only matters to
	// statements the warehouse logs or to session-level policies.
	Catalog string
	// Insecure uses plain HTTP instead of HTTPS (loopback stand-ins only).
	Insecure bool

	// Token is a personal access token.
	Token string
	// ClientID and ClientSecret authenticate a service principal by OAuth
	// machine-to-machine: they are exchanged for an access token at
	// TokenURL (default https://<host>[:<port>]/oidc/v1/token), cached until shortly
	// before it expires.
	ClientID     string
	ClientSecret string
	TokenURL     string

	// ConnectTimeout bounds opening a session and the token exchange
	// (default 30s). QueryTimeout bounds each statement, client-side and
	// as the warehouse's query timeout (default 60s).
	ConnectTimeout time.Duration
	QueryTimeout   time.Duration
	// Retries is the driver's retry count for HTTP 429 and 503 (default
	// 4; negative disables); RetryWaitMin/Max bound its backoff (defaults
	// 1s and 30s). The driver honours Retry-After.
	Retries      int
	RetryWaitMin time.Duration
	RetryWaitMax time.Duration

	// StartTimeout is the start budget: how long a statement keeps being
	// retried while the warehouse answers HTTP 503 because it is starting
	// (default 10m; negative gives up at the first 503 the driver could
	// not retry away). Each wait is logged at info level with the time
	// waited so far; after the budget the statement fails with class
	// StartTimeout.
	StartTimeout time.Duration
	// Sleep waits d or until ctx ends (default a timer); replaced in tests.
	Sleep func(ctx context.Context, d time.Duration) error

	// Privileges selects the privilege check (default ProbeTables).
	Privileges PrivilegeCheck
	// PrivilegeTTL keeps privilege results for this long; zero checks on
	// every Snapshot.
	PrivilegeTTL time.Duration

	// Transport is the base HTTP transport (default a clone of
	// http.DefaultTransport). Instrumentation wraps it.
	Transport http.RoundTripper
	// Observe, if set, is called after every statement with its kind, its
	// duration and its error (nil on success).
	Observe func(kind string, d time.Duration, err error)
	// Now is the clock (default time.Now); used for token expiry and
	// PrivilegeTTL.
	Now func() time.Time
	// Logger receives the driver's own log records, at debug level and
	// with secrets masked; nil discards them. The driver logs for the
	// whole process: the records go to the logger of the client opened
	// last. Failures reach the caller as errors in any case.
	Logger *slog.Logger
}

// Client reads Unity Catalog metadata from a Databricks SQL warehouse. It is
// safe for concurrent use.
type Client struct {
	opts    Options
	db      *sql.DB
	secrets redactor
	tokens  *tokenSource

	queries [len(kinds)]atomic.Int64

	mu        sync.Mutex
	principal string
	tables    map[string]*catalog.Table // column cache, by Key
	access    map[string]cachedAccess
}

type cachedAccess struct {
	access catalog.Access
	at     time.Time
}

// Open returns a client. It does not contact the warehouse; the first
// statement does.
func Open(opts Options) (*Client, error) {
	if opts.Host == "" {
		return nil, errors.New("warehouse: host is required")
	}
	if opts.HTTPPath == "" {
		return nil, fmt.Errorf("warehouse %s: http path is required", opts.Host)
	}
	pat, m2m := opts.Token != "", opts.ClientID != "" || opts.ClientSecret != ""
	switch {
	case pat && m2m:
		return nil, fmt.Errorf("warehouse %s: set a token or a client id and secret, not both", opts.Host)
	case !pat && !m2m:
		return nil, fmt.Errorf("warehouse %s: no credentials: set a token or a client id and secret", opts.Host)
	case m2m && (opts.ClientID == "" || opts.ClientSecret == ""):
		return nil, fmt.Errorf("warehouse %s: oauth needs both a client id and a client secret", opts.Host)
	}
	if opts.Port == 0 {
		opts.Port = 443
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 30 * time.Second
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = 60 * time.Second
	}
	if opts.Retries == 0 {
		opts.Retries = 4
	}
	if opts.RetryWaitMin <= 0 {
		opts.RetryWaitMin = time.Second
	}
	if opts.RetryWaitMax <= 0 {
		opts.RetryWaitMax = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	if opts.Transport == nil {
		opts.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	scheme := "https://"
	if opts.Insecure {
		scheme = "http://"
	}
	c := &Client{opts: opts, secrets: redactor{opts.Token, opts.ClientSecret},
		tables: map[string]*catalog.Table{}, access: map[string]cachedAccess{}}
	routeDriverLog(opts.Logger, c.secrets)

	base := &noTelemetry{next: opts.Transport}
	conn := []dbsql.ConnOption{
		dbsql.WithServerHostname(scheme + opts.Host),
		dbsql.WithPort(opts.Port),
		dbsql.WithHTTPPath(opts.HTTPPath),
		dbsql.WithTransport(base),
		dbsql.WithTimeout(opts.QueryTimeout),
		dbsql.WithRetries(opts.Retries, opts.RetryWaitMin, opts.RetryWaitMax),
		dbsql.WithCloudFetch(false),
		dbsql.WithUserAgentEntry("cas-reconciler"),
	}
	if opts.Catalog != "" {
		conn = append(conn, dbsql.WithInitialNamespace(opts.Catalog, ""))
	}
	if pat {
		conn = append(conn, dbsql.WithAccessToken(opts.Token))
	} else {
		tokenURL := opts.TokenURL
		if tokenURL == "" {
			host := opts.Host
			if opts.Port != 443 {
				host = net.JoinHostPort(opts.Host, strconv.Itoa(opts.Port))
			}
			tokenURL = scheme + host + "/oidc/v1/token"
		}
		c.tokens = &tokenSource{url: tokenURL, id: opts.ClientID, secret: opts.ClientSecret,
			client: &http.Client{Transport: opts.Transport, Timeout: opts.ConnectTimeout}, now: opts.Now}
		conn = append(conn, dbsql.WithAuthenticator(c.tokens))
	}
	connector, err := dbsql.NewConnector(conn...)
	if err != nil {
		return nil, fmt.Errorf("warehouse %s: %s", opts.Host, c.redact(err.Error()))
	}
	c.db = sql.OpenDB(connector)
	c.db.SetMaxOpenConns(4)
	c.db.SetMaxIdleConns(2)
	c.db.SetConnMaxIdleTime(5 * time.Minute)
	return c, nil
}

// Close closes the warehouse sessions.
func (c *Client) Close() error { return c.db.Close() }

// Host returns the warehouse host.
func (c *Client) Host() string { return c.opts.Host }

// Queries returns the number of statements issued so far, by kind.
func (c *Client) Queries() map[string]int64 {
	out := map[string]int64{}
	for i, k := range kinds {
		out[k] = c.queries[i].Load()
	}
	return out
}

var kinds = [7]string{KindColumns, KindFreshness, KindPrivileges, KindProbe, KindUniqueness, KindMissing, KindPopulation}

func (c *Client) count(kind string, start time.Time, err error) {
	for i, k := range kinds {
		if k == kind {
			c.queries[i].Add(1)
		}
	}
	if c.opts.Observe != nil {
		c.opts.Observe(kind, c.opts.Now().Sub(start), err)
	}
}

// DefaultStartTimeout is the default start budget of a stopped warehouse.
const DefaultStartTimeout = 10 * time.Minute

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// query runs one statement with the query timeout, counts it, and hands
// each row to scan. While the warehouse is starting (HTTP 503) the
// statement is retried with backoff within the start budget. Errors come
// back classified.
func (c *Client) query(ctx context.Context, kind, op, stmt string, args []any, scan func(*sql.Rows) error) error {
	start := c.opts.Now()
	wait := c.opts.RetryWaitMin
	for {
		err := c.attempt(ctx, kind, op, stmt, args, scan)
		var we *Error
		if !errors.As(err, &we) || we.Class != Starting {
			c.count(kind, start, err)
			return err
		}
		waited := c.opts.Now().Sub(start)
		budget := c.opts.StartTimeout
		if budget < 0 || waited >= budget {
			if budget > 0 {
				we.Class = StartTimeout
				we.msg = fmt.Sprintf("still starting after %s (start budget %s): %s", waited.Round(time.Second), budget, we.msg)
			}
			c.count(kind, start, err)
			return err
		}
		d := min(wait, budget-waited)
		if c.opts.Logger != nil {
			c.opts.Logger.Info("warehouse starting; statement retried", "host", c.opts.Host, "op", op,
				"waited", waited.Round(time.Second).String(), "budget", budget.String(), "next_in", d.String())
		}
		if serr := c.opts.Sleep(ctx, d); serr != nil {
			c.count(kind, start, err)
			return err
		}
		wait = min(2*wait, c.opts.RetryWaitMax)
	}
}

// attempt runs one statement once.
func (c *Client) attempt(ctx context.Context, kind, op, stmt string, args []any, scan func(*sql.Rows) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.ConnectTimeout+c.opts.QueryTimeout)
	defer cancel()
	if c.tokens != nil {
		// The OAuth token is exchanged before the driver sees the
		// statement: the driver retries a failed authentication like a
		// lost connection, and a refused secret stays refused.
		if _, err := c.tokens.get(ctx); err != nil {
			return c.classify(ctx, "token exchange", err)
		}
	}
	err := func() error {
		rows, err := c.db.QueryContext(ctx, stmt, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}()
	return c.classify(ctx, op, err)
}

// noTelemetry answers the driver's telemetry feature-flag lookup locally
// with "off" and drops telemetry uploads, so no usage data leaves the
// process and no request goes to port 443 of a loopback stand-in.
type noTelemetry struct{ next http.RoundTripper }

const telemetryFlag = `{"flags":[{"name":"databricks.partnerplatform.clientConfigsFeatureFlags.enableTelemetryForGoDriver","value":"false"}],"ttl_seconds":86400}`

func (t *noTelemetry) RoundTrip(r *http.Request) (*http.Response, error) {
	switch {
	case strings.Contains(r.URL.Path, "/connector-service/feature-flags/"):
		return localResponse(r, http.StatusOK, telemetryFlag), nil
	case strings.HasSuffix(r.URL.Path, "/telemetry-ext"):
		if r.Body != nil {
			r.Body.Close()
		}
		return localResponse(r, http.StatusOK, `{}`), nil
	}
	return t.next.RoundTrip(r)
}

func localResponse(r *http.Request, code int, body string) *http.Response {
	return &http.Response{StatusCode: code, Status: http.StatusText(code), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(bytes.NewReader([]byte(body))),
		ContentLength: int64(len(body)), Request: r}
}

// redact removes the configured secrets and the current OAuth access token
// from s.
func (c *Client) redact(s string) string {
	s = c.secrets.redact(s)
	if c.tokens != nil {
		s = redactor{c.tokens.current()}.redact(s)
	}
	return s
}

// CloseIdle closes idle warehouse sessions; the next statement opens a new
// one (and, with OAuth, authenticates afresh).
func (c *Client) CloseIdle() {
	c.db.SetMaxIdleConns(0)
	c.db.SetMaxIdleConns(2)
}
