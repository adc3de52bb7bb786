package tdstandin

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure a Server.
type Options struct {
	// MasterKeys are the API keys allowed to read and write.
	MasterKeys []string
	// WriteOnlyKeys are recognised but refused (403) on every CDP endpoint.
	WriteOnlyKeys []string
	// Connections maps Integration Hub connection names to their ids, as
	// answered by /v3/connections/lookup, for example
	// {"databricks-retail": "341079"}.
	Connections map[string]string
	// User is the display name recorded as createdBy/updatedBy for changes
	// made through the API; default "api-user".
	User string
	// KeyUsers names the owner of some of the MasterKeys: Treasure records
	// the user an API key belongs to as createdBy/updatedBy of its changes.
	// Keys not listed are User's.
	KeyUsers map[string]string
	// StatePath, when set, is a JSON file holding the whole state: loaded by
	// New when it exists and rewritten after every change.
	StatePath string
	// Now is the clock for createdAt/updatedAt; default time.Now.
	Now func() time.Time
	// SegmentTypes are the JSON:API types accepted for segments; default
	// {"composable-segment"}. Responses use the type the segment was
	// created with.
	SegmentTypes []string
	// DocumentedOnly answers parent segments with exactly the fields the
	// published ComposableAudience schema lists: no rootFolderId, no
	// masterName, and no catalog or groupingName on attributes and
	// behaviors. The root folder is then known only from the parentSegment
	// resource (/entities/parent_segments/{id}). Segments are answered as
	// ComposableSegmentJsonApiResource (no audienceId, no kind).
	DocumentedOnly bool
	// RateLimit, when above zero, makes the stand-in enforce a token
	// bucket of RateLimit requests per second holding at most Burst
	// (default 1), full at start, on arrival times (Now): a request that
	// finds no token is answered 429 with the REST error body and
	// Retry-After in whole seconds until the next token, and does not
	// spend one. Treasure publishes no rate limit; this is the behaviour
	// the client is built for (throttling with 429, Retry-After honoured).
	RateLimit float64
	Burst     int
}

// Request is one entry of the request log.
type Request struct {
	Method string
	// Path is the URL path, RawQuery the query string.
	Path     string
	RawQuery string
	Status   int
	Time     time.Time
	// User is the owner of the request's API key (Options.KeyUsers or
	// Options.User); empty when the key was not a master key.
	User string
}

// Fault is an injected failure. It applies to the next Times requests that
// match Method and Path.
type Fault struct {
	// Method matches the request method; empty matches any.
	Method string
	// Path is a path.Match pattern ("/entities/segments/*"); empty matches
	// any path.
	Path string
	// Times is how many matching requests the fault applies to; default 1.
	Times int
	// Status answers the request with this status (429, 500, 502, 503, ...)
	// instead of handling it.
	Status int
	// RetryAfter is sent as the Retry-After header with Status.
	RetryAfter string
	// Delay waits this long before doing anything else (or until the client
	// gives up).
	Delay time.Duration
	// Drop closes the connection without an answer.
	Drop bool
	// Process handles the request (changing state) before a Drop, so the
	// change happens but the client never learns of it.
	Process bool
}

// Server is the stand-in. It is an http.Handler; Start serves it on a
// loopback port.
type Server struct {
	opts   Options
	master map[string]bool
	wonly  map[string]bool
	mux    *http.ServeMux

	mu     sync.Mutex
	st     *state
	names  *nameIndex // of st
	faults []*Fault
	log    []Request

	srv *http.Server
	url string

	rateMu     sync.Mutex
	rateTokens float64
	rateLast   time.Time
}

// New returns a Server. It loads Options.StatePath when that file exists.
func New(opts Options) (*Server, error) {
	if len(opts.MasterKeys) == 0 {
		return nil, errors.New("tdstandin: Options.MasterKeys is required")
	}
	if opts.User == "" {
		opts.User = "api-user"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if len(opts.SegmentTypes) == 0 {
		opts.SegmentTypes = []string{"composable-segment"}
	}
	if opts.RateLimit > 0 && opts.Burst <= 0 {
		opts.Burst = 1
	}
	s := &Server{opts: opts, master: map[string]bool{}, wonly: map[string]bool{}, st: newState(), rateTokens: float64(opts.Burst)}
	for _, k := range opts.MasterKeys {
		s.master[k] = true
	}
	for _, k := range opts.WriteOnlyKeys {
		s.wonly[k] = true
	}
	if opts.StatePath != "" {
		st, err := loadState(opts.StatePath)
		if err != nil {
			return nil, fmt.Errorf("tdstandin: %w", err)
		}
		s.st = st
	}
	s.names = newNameIndex(s.st)
	s.routes()
	return s, nil
}

// Start serves s on a loopback port until Close.
func (s *Server) Start() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("tdstandin: listen: %v", err))
	}
	s.StartOn(l)
}

// StartOn serves s on the given listener until Close.
func (s *Server) StartOn(l net.Listener) {
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.url = "http://" + l.Addr().String()
	go func() { _ = s.srv.Serve(l) }()
}

// URL is the base URL of a started server; every host (CDP, CAS upload,
// classic API) is served on it.
func (s *Server) URL() string { return s.url }

// Close stops a started server and drops its connections.
func (s *Server) Close() {
	if s.srv != nil {
		s.srv.Close()
	}
}

// Inject queues a fault.
func (s *Server) Inject(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// RevokeKey makes key unknown, as Treasure does with a revoked key: every
// later request made with it is answered 401.
func (s *Server) RevokeKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.master, key)
	delete(s.wonly, key)
}

// AddWriteOnlyKey makes key a write-only key, as an account administrator
// issuing one: every CDP request made with it is answered 403.
func (s *Server) AddWriteOnlyKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.master, key)
	s.wonly[key] = true
}

// ClearFaults drops every queued fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Requests returns a copy of the request log.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// ResetLog empties the request log.
func (s *Server) ResetLog() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = nil
}

func (s *Server) takeFault(r *http.Request) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Method != "" && !strings.EqualFold(f.Method, r.Method) {
			continue
		}
		if f.Path != "" {
			if ok, _ := path.Match(f.Path, r.URL.Path); !ok {
				continue
			}
		}
		f.Times--
		if f.Times <= 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		c := *f
		return &c
	}
	return nil
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// ServeHTTP applies faults, authenticates and dispatches the request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	entry := Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Time: s.opts.Now(), User: s.userOf(r)}
	sw := &statusWriter{ResponseWriter: w}
	var once sync.Once
	record := func() {
		once.Do(func() {
			entry.Status = sw.status
			s.mu.Lock()
			s.log = append(s.log, entry)
			s.mu.Unlock()
		})
	}
	defer record()
	if wait, ok := s.takeToken(entry.Time); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		writeServerError(sw, http.StatusTooManyRequests)
		return
	}
	if f := s.takeFault(r); f != nil {
		if f.Delay > 0 {
			t := time.NewTimer(f.Delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		switch {
		case f.Drop:
			if f.Process {
				s.handle(discard{header: http.Header{}}, r)
			}
			// Logged before the close: the client sees the close at once
			// and may read the log next.
			record()
			hijackClose(w)
			return
		case f.Status != 0:
			if f.RetryAfter != "" {
				w.Header().Set("Retry-After", f.RetryAfter)
			}
			writeServerError(sw, f.Status)
			return
		}
	}
	s.handle(sw, r)
}

// takeToken spends a token of the rate limit at now, or reports how long
// until the next one.
func (s *Server) takeToken(now time.Time) (time.Duration, bool) {
	if s.opts.RateLimit <= 0 {
		return 0, true
	}
	s.rateMu.Lock()
	defer s.rateMu.Unlock()
	if s.rateLast.IsZero() {
		s.rateLast = now
	}
	if el := now.Sub(s.rateLast); el > 0 {
		s.rateTokens = min(s.rateTokens+el.Seconds()*s.opts.RateLimit, float64(s.opts.Burst))
		s.rateLast = now
	}
	if s.rateTokens >= 1 {
		s.rateTokens--
		return 0, true
	}
	return time.Duration((1 - s.rateTokens) / s.opts.RateLimit * float64(time.Second)), false
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Request-Id", fmt.Sprintf("req-%d", s.opts.Now().UnixNano()))
	auth := r.Header.Get("Authorization")
	key, ok := strings.CutPrefix(auth, "TD1 ")
	s.mu.Lock()
	master, wonly := s.master[key], s.wonly[key]
	s.mu.Unlock()
	switch {
	case !ok || (!master && !wonly):
		writeRESTError(w, http.StatusUnauthorized, "unauthorized",
			"Unauthorized; You don't provide valid credentials. Maybe you didn't specify valid TD's Master API Key as 'TD1 {Your TD Master API Key}'.")
		return
	case wonly:
		if isEntities(r) {
			writeJSONAPIErrors(w, http.StatusForbidden, apiError{Code: "permission-error", Status: "403",
				Detail: "write-only API keys cannot access the CDP API", Meta: map[string]any{"permissionCode": "MASTER_API_KEY_REQUIRED"}})
		} else {
			writeRESTError(w, http.StatusForbidden, "forbidden", "write-only API keys cannot access the CDP API")
		}
		return
	}
	s.mux.ServeHTTP(w, r)
}

// userOf returns the owner of the request's master key, or "".
func (s *Server) userOf(r *http.Request) string {
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "TD1 ")
	if !ok || !s.master[key] {
		return ""
	}
	if u, ok := s.opts.KeyUsers[key]; ok {
		return u
	}
	return s.opts.User
}

func hijackClose(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	conn, _, err := rc.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}

func isEntities(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/entities/") }

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("POST /composable_audiences", s.createParent)
	m.HandleFunc("GET /entities/parent_segments/{id}", s.getParentSegment)
	m.HandleFunc("GET /audiences", s.listParents)
	m.HandleFunc("GET /audiences/{id}", s.getParent)
	m.HandleFunc("PUT /audiences/{id}", s.updateParent)
	m.HandleFunc("DELETE /audiences/{id}", s.deleteParent)
	m.HandleFunc("GET /v3/connections/lookup", s.lookupConnection)
	m.HandleFunc("POST /entities/folders", s.createFolder)
	m.HandleFunc("GET /entities/folders/{id}", s.getFolder)
	m.HandleFunc("PATCH /entities/folders/{id}", s.patchFolder)
	m.HandleFunc("DELETE /entities/folders/{id}", s.deleteFolder)
	m.HandleFunc("GET /entities/by-folder/{id}", s.byFolder)
	m.HandleFunc("POST /entities/segments", s.createSegment)
	m.HandleFunc("GET /entities/segments/{id}", s.getSegment)
	m.HandleFunc("PATCH /entities/segments/{id}", s.patchSegment)
	m.HandleFunc("DELETE /entities/segments/{id}", s.deleteSegment)
	m.HandleFunc("GET /entities/segments/{sid}/syndications", s.listSyndications)
	m.HandleFunc("POST /entities/segments/{sid}/syndications", s.createSyndication)
	m.HandleFunc("GET /entities/segments/{sid}/syndications/{id}", s.getSyndication)
	m.HandleFunc("PATCH /entities/segments/{sid}/syndications/{id}", s.patchSyndication)
	m.HandleFunc("DELETE /entities/segments/{sid}/syndications/{id}", s.deleteSyndication)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if isEntities(r) {
			writeJSONAPIErrors(w, http.StatusNotFound, apiError{Code: "record-not-found-error", Status: "404", Detail: "no route " + r.Method + " " + r.URL.Path})
			return
		}
		writeRESTError(w, http.StatusNotFound, "not_found", "no route "+r.Method+" "+r.URL.Path)
	})
	s.mux = m
}

// commit persists the state after a change; the caller holds s.mu.
func (s *Server) commit() error {
	if s.opts.StatePath == "" {
		return nil
	}
	return saveState(s.opts.StatePath, s.st)
}

// discard is a ResponseWriter that throws the answer away.
type discard struct{ header http.Header }

func (d discard) Header() http.Header         { return d.header }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}
