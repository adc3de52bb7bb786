//go:build cgo

package dbxstandin

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/cas-reconciler/reconciler/internal/standin/dbxstandin/tcli"
	"github.com/duckdb/duckdb-go/v2"
)

// DefaultWarehouseID is the warehouse id used in the HTTP path when no
// WithWarehouseID option is given.
const DefaultWarehouseID = "standin0000000001"

// Server is an in-process Databricks SQL warehouse stand-in. It serves
// TCLIService over Thrift binary protocol in HTTP POST bodies, executes
// statements on DuckDB against a fake Unity Catalog built from a Fixture and
// records every RPC for assertions. All methods are safe for concurrent use.
type Server struct {
	warehouseID string
	clock       func() time.Time
	logger      *slog.Logger
	maxBody     int64

	connector *duckdb.Connector
	db        *sql.DB
	admin     *sql.Conn // loader and DDL connection; guarded by mu
	thrift    http.HandlerFunc

	mu           sync.Mutex
	uc           Fixture
	sessions     map[handleID]*session
	ops          map[handleID]*operation
	calls        []Call
	faults       []fault
	runningPolls int
	closed       bool

	// Cold start and auto-stop (WithColdStart, WithAutoStop), on clock.
	coldFor    time.Duration
	autoStop   time.Duration
	running    bool
	readyAt    time.Time // zero: stopped, not starting
	lastActive time.Time
	starts     int

	// OAuth machine-to-machine (WithOAuthClient): clients by id, issued
	// access tokens.
	oauth         map[string]oauthClient
	issued        map[string]issuedToken
	tokenRequests int

	httpSrv *httptest.Server
}

// Option configures a Server.
type Option func(*Server)

// WithWarehouseID sets the warehouse id shown in the HTTP path.
func WithWarehouseID(id string) Option { return func(s *Server) { s.warehouseID = id } }

// WithClock sets the clock used for last_altered when the catalog is
// changed at runtime.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.clock = now } }

// WithLogger sets a logger for server-side events (statement failures).
// Tokens are never logged.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.logger = l } }

// WithRunningPolls makes every statement answer RUNNING to its first n
// GetOperationStatus polls instead of returning direct results; see
// SetRunningPolls.
func WithRunningPolls(n int) Option { return func(s *Server) { s.runningPolls = n } }

// WithColdStart makes the warehouse start stopped: the first request starts
// it, and every request answers HTTP 503 with Retry-After until d has
// passed on the server's clock, as a stopped SQL warehouse does while it
// starts. A warehouse stopped by WithAutoStop starts the same way.
func WithColdStart(d time.Duration) Option { return func(s *Server) { s.coldFor = d } }

// WithAutoStop stops a running warehouse once no request came for idle on
// the server's clock; the next request starts it again (see WithColdStart).
func WithAutoStop(idle time.Duration) Option { return func(s *Server) { s.autoStop = idle } }

// New validates the fixture, builds the DuckDB database and returns a
// server ready to serve HTTP through Handler or Start. Close releases it.
func New(fixture Fixture, opts ...Option) (*Server, error) {
	if err := fixture.Validate(); err != nil {
		return nil, fmt.Errorf("invalid fixture: %w", err)
	}
	s := &Server{
		warehouseID: DefaultWarehouseID,
		clock:       time.Now,
		logger:      slog.New(slog.DiscardHandler),
		maxBody:     64 << 20,
		uc:          fixture.clone(),
		sessions:    map[handleID]*session{},
		ops:         map[handleID]*operation{},
	}
	for _, o := range opts {
		o(s)
	}
	s.running = s.coldFor <= 0
	if s.running {
		s.lastActive = s.clock()
	}
	if err := s.openEngine(context.Background()); err != nil {
		s.closeEngine()
		return nil, err
	}
	pf := thrift.NewTBinaryProtocolFactoryConf(nil)
	s.thrift = thrift.NewThriftHandlerFunc(tcli.NewTCLIServiceProcessor(&service{s: s}), pf, pf)
	return s, nil
}

// HTTPPath is the warehouse HTTP path, /sql/1.0/warehouses/<id>.
func (s *Server) HTTPPath() string { return "/sql/1.0/warehouses/" + s.warehouseID }

// Handler returns the HTTP handler; it is the server itself.
func (s *Server) Handler() http.Handler { return s }

// Endpoint tells a client where a started server listens.
type Endpoint struct {
	URL      string // http://127.0.0.1:<port>
	Host     string // 127.0.0.1
	Port     int
	HTTPPath string // /sql/1.0/warehouses/<id>
}

// DSN returns a databricks-sql-go DSN for token with telemetry and
// CloudFetch off. Extra parameters (e.g. "catalog=retail_prod",
// "maxRows=100") are appended as given.
func (e Endpoint) DSN(token string, params ...string) string {
	q := append([]string{"enableTelemetry=false", "useCloudFetch=false"}, params...)
	return fmt.Sprintf("http://token:%s@%s:%d%s?%s", token, e.Host, e.Port, e.HTTPPath, strings.Join(q, "&"))
}

// Start serves the stand-in on 127.0.0.1 with a random port until Close.
func (s *Server) Start() (Endpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.httpSrv != nil {
		return Endpoint{}, fmt.Errorf("server already started")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Endpoint{}, fmt.Errorf("listen: %w", err)
	}
	hs := httptest.NewUnstartedServer(s)
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	s.httpSrv = hs
	addr := ln.Addr().(*net.TCPAddr)
	return Endpoint{URL: hs.URL, Host: "127.0.0.1", Port: addr.Port, HTTPPath: s.HTTPPath()}, nil
}

// Close stops the HTTP listener (if started), closes all sessions and the
// DuckDB database.
func (s *Server) Close() error {
	s.mu.Lock()
	hs := s.httpSrv
	s.httpSrv = nil
	s.closed = true
	sessions := s.sessions
	s.sessions = map[handleID]*session{}
	s.ops = map[handleID]*operation{}
	s.mu.Unlock()
	if hs != nil {
		hs.CloseClientConnections()
		hs.Close()
	}
	for _, se := range sessions {
		se.close()
	}
	return s.closeEngine()
}

func (s *Server) closeEngine() error {
	var first error
	if s.admin != nil {
		if err := s.admin.Close(); err != nil && first == nil {
			first = err
		}
	}
	if s.db != nil {
		if err := s.db.Close(); err != nil && first == nil {
			first = err
		}
	}
	if s.connector != nil {
		if err := s.connector.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Call is one entry of the RPC log.
type Call struct {
	Method     string  // Thrift method, e.g. ExecuteStatement
	HTTPStatus int     // 200, or the injected/auth failure status
	Principal  string  // authenticated principal ("" when rejected)
	UserAgent  string  // the client's User-Agent
	Statement  string  // ExecuteStatement only: the statement text
	Params     []Param // ExecuteStatement only
	MaxRows    int64   // ExecuteStatement direct-results size, FetchResults page size
	// StartRowOffset is the offset of the rows a FetchResults answered.
	StartRowOffset int64
	// SQLState is set when the statement failed.
	SQLState string
}

// Param is a statement parameter as the driver sent it.
type Param struct {
	Name  string // "" for positional parameters
	Type  string // e.g. STRING, BIGINT, DECIMAL(10,2), VOID
	Value *string
}

// Calls returns a copy of the RPC log.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// ResetCalls clears the RPC log.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	s.calls = nil
	s.mu.Unlock()
}

// Statements returns the statement texts of the ExecuteStatement calls in
// the RPC log, in order.
func (s *Server) Statements() []string {
	var out []string
	for _, c := range s.Calls() {
		if c.Method == "ExecuteStatement" && c.HTTPStatus == http.StatusOK {
			out = append(out, c.Statement)
		}
	}
	return out
}

func (s *Server) record(c Call) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
	return len(s.calls) - 1
}

func (s *Server) update(i int, fn func(*Call)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i >= 0 && i < len(s.calls) {
		fn(&s.calls[i])
	}
}

type fault struct {
	status     int
	retryAfter int
}

// InjectFaults makes the next n requests (whatever their method) fail with
// HTTP status (e.g. 429 or 503) and, when retryAfter > 0, a Retry-After
// header of that many seconds. Faults queue up behind earlier ones.
func (s *Server) InjectFaults(n, status, retryAfter int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, fault{status: status, retryAfter: retryAfter})
	}
}

// SetRunningPolls makes statements executed from now on answer without
// direct results and report RUNNING to their first n GetOperationStatus
// polls (the driver polls once a second). Zero restores direct results.
func (s *Server) SetRunningPolls(n int) {
	s.mu.Lock()
	s.runningPolls = n
	s.mu.Unlock()
}

// ServeHTTP serves the token endpoint (WithOAuthClient) and otherwise
// checks the path (only HTTPPath is served; anything else is 404),
// applies injected faults, authenticates the bearer token, records the call
// and hands the Thrift body to the TCLIService processor.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == TokenPath && s.oauth != nil {
		s.serveToken(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, s.maxBody))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	call := Call{Method: thriftMethod(body), UserAgent: r.UserAgent()}
	if strings.TrimSuffix(r.URL.Path, "/") != s.HTTPPath() {
		// Wrong warehouse id or path: fail as a workspace does, so a
		// misconfigured HTTP path does not go unnoticed in tests.
		call.HTTPStatus = http.StatusNotFound
		s.record(call)
		w.Header().Set("X-Databricks-Reason-Phrase", "No such warehouse at "+r.URL.Path)
		http.Error(w, "not found", http.StatusNotFound)
		return
	}

	if wait, ok := s.warm(); !ok {
		call.HTTPStatus = http.StatusServiceUnavailable
		s.record(call)
		w.Header().Set("Retry-After", strconv.Itoa(wait))
		w.Header().Set("X-Databricks-Reason-Phrase", "Service Unavailable")
		http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
		return
	}

	s.mu.Lock()
	var f *fault
	if len(s.faults) > 0 {
		f = &s.faults[0]
		s.faults = s.faults[1:]
	}
	s.mu.Unlock()
	if f != nil {
		call.HTTPStatus = f.status
		s.record(call)
		if f.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(f.retryAfter))
		}
		w.Header().Set("X-Databricks-Reason-Phrase", http.StatusText(f.status))
		http.Error(w, http.StatusText(f.status), f.status)
		return
	}

	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	principal, ok := catalogModel{&s.uc}.principalFor(token)
	if !ok {
		principal, ok = s.oauthPrincipal(token)
	}
	s.mu.Unlock()
	if !ok {
		call.HTTPStatus = http.StatusUnauthorized
		s.record(call)
		w.Header().Set("X-Databricks-Reason-Phrase", "Invalid access token.")
		http.Error(w, "Invalid access token.", http.StatusUnauthorized)
		return
	}
	call.Principal = principal
	call.HTTPStatus = http.StatusOK
	idx := s.record(call)
	ctx := context.WithValue(r.Context(), callKey{}, callInfo{principal: principal, index: idx})
	r2 := r.Clone(ctx)
	r2.Body = io.NopCloser(bytes.NewReader(body))
	s.thrift(w, r2)
}

// warm applies auto-stop and cold start to a request arriving now. It
// reports whether the warehouse runs, and otherwise the Retry-After seconds
// until it should.
func (s *Server) warm() (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	if s.running && s.autoStop > 0 && now.Sub(s.lastActive) >= s.autoStop {
		s.running = false
	}
	if !s.running {
		if s.readyAt.IsZero() {
			s.readyAt = now.Add(s.coldFor)
			s.starts++
		}
		if now.Before(s.readyAt) {
			// Come back in a second: the driver honours Retry-After
			// without a cap.
			return 1, false
		}
		s.running, s.readyAt = true, time.Time{}
	}
	s.lastActive = now
	return 0, true
}

// Running reports whether the warehouse runs (it has not been stopped by
// WithAutoStop, or has finished starting).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running
}

// Starts returns how many times the warehouse was started by a request.
func (s *Server) Starts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.starts
}

type callKey struct{}

type callInfo struct {
	principal string
	index     int
}

func callFrom(ctx context.Context) callInfo {
	ci, ok := ctx.Value(callKey{}).(callInfo)
	if !ok {
		return callInfo{index: -1}
	}
	return ci
}

// thriftMethod reads the method name from a strict binary-protocol message
// header without consuming the body.
func thriftMethod(body []byte) string {
	if len(body) < 8 {
		return ""
	}
	n := int(binary.BigEndian.Uint32(body[4:8]))
	if n < 0 || 8+n > len(body) || n > 256 {
		return ""
	}
	return string(body[8 : 8+n])
}
