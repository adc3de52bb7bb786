// Package leadertest is an in-memory Kubernetes API server for tests of
// leader election. It serves the coordination.k8s.io/v1 Lease endpoints
// package leader uses (get, create, update) with the API server's rules:
// bearer tokens, resourceVersion checks answered with 409 Conflict, 404 for
// a missing lease, and metav1.Status bodies for errors. Outages and network
// partitions are simulated per token.
//
// It decodes requests on its own rather than with package leader's types,
// so that tests check the wire format and not merely a round trip.
package leadertest

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Failure is how the API answers a request.
type Failure int

const (
	// Healthy serves the request.
	Healthy Failure = iota
	// Unavailable answers 503 Service Unavailable.
	Unavailable
	// Hang blocks until the request's context ends, as an unreachable
	// server does.
	Hang
)

// Lease is the state of a stored lease.
type Lease struct {
	ResourceVersion      string
	HolderIdentity       string
	LeaseDurationSeconds int
	AcquireTime          string
	RenewTime            string
	LeaseTransitions     int
}

// API is the fake API server; use it as an http.Handler (with httptest) or
// through HTTPClient, which needs no network.
type API struct {
	mu        sync.Mutex
	tokens    map[string]Failure // accepted tokens and how their requests fail
	outage    Failure            // applied to every request
	leases    map[string]map[string]any
	rv        int
	conflicts int
	requests  int
}

// New returns an API accepting the given bearer tokens.
func New(tokens ...string) *API {
	a := &API{tokens: map[string]Failure{}, leases: map[string]map[string]any{}}
	for _, t := range tokens {
		a.tokens[t] = Healthy
	}
	return a
}

// HTTPClient returns a client whose requests are served in memory by a, so
// that it can be used inside a testing/synctest bubble.
func (a *API) HTTPClient() *http.Client {
	return &http.Client{Transport: transport{a}}
}

type transport struct{ h http.Handler }

func (t transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, req)
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

// SetOutage makes every request fail as f (Healthy ends the outage).
func (a *API) SetOutage(f Failure) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.outage = f
}

// Partition makes the requests that carry token fail as f, as when that
// client loses its network (Healthy heals it).
func (a *API) Partition(token string, f Failure) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.tokens[token]; !ok {
		panic("leadertest: unknown token")
	}
	a.tokens[token] = f
}

// Lease returns the stored lease namespace/name.
func (a *API) Lease(namespace, name string) (Lease, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	obj, ok := a.leases[namespace+"/"+name]
	if !ok {
		return Lease{}, false
	}
	meta, _ := obj["metadata"].(map[string]any)
	spec, _ := obj["spec"].(map[string]any)
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	num := func(k string) int { f, _ := spec[k].(float64); return int(f) }
	return Lease{
		ResourceVersion:      str(meta, "resourceVersion"),
		HolderIdentity:       str(spec, "holderIdentity"),
		LeaseDurationSeconds: num("leaseDurationSeconds"),
		AcquireTime:          str(spec, "acquireTime"),
		RenewTime:            str(spec, "renewTime"),
		LeaseTransitions:     num("leaseTransitions"),
	}, true
}

// Object returns the stored lease namespace/name as JSON.
func (a *API) Object(namespace, name string) ([]byte, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	obj, ok := a.leases[namespace+"/"+name]
	if !ok {
		return nil, false
	}
	b, err := json.Marshal(obj)
	if err != nil {
		panic(err)
	}
	return b, true
}

// SetHolder writes the lease namespace/name as another client would: it
// names holder, renewed now, creating the lease if needed.
func (a *API) SetHolder(namespace, name, holder string, leaseDurationSeconds int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	key := namespace + "/" + name
	obj, ok := a.leases[key]
	if !ok {
		obj = map[string]any{"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
			"metadata": map[string]any{"name": name, "namespace": namespace}, "spec": map[string]any{}}
	}
	spec := maps.Clone(obj["spec"].(map[string]any))
	spec["holderIdentity"] = holder
	spec["leaseDurationSeconds"] = float64(leaseDurationSeconds)
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00")
	spec["acquireTime"], spec["renewTime"] = now, now
	obj = maps.Clone(obj)
	obj["spec"] = spec
	a.store(key, obj)
}

// Conflicts counts updates refused because of a stale resourceVersion.
func (a *API) Conflicts() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.conflicts
}

// Requests counts the requests served or refused.
func (a *API) Requests() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.requests
}

const group = "coordination.k8s.io"

var (
	leasesPath = regexp.MustCompile(`^/apis/coordination\.k8s\.io/v1/namespaces/([^/]+)/leases(?:/([^/]+))?$`)
	microTime  = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`)
)

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.requests++
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	fail, known := a.tokens[token]
	if a.outage != Healthy {
		fail = a.outage
	}
	a.mu.Unlock()

	switch {
	case fail == Hang:
		<-r.Context().Done()
		return
	case fail == Unavailable:
		writeStatus(w, http.StatusServiceUnavailable, "ServiceUnavailable", "the server is currently unable to handle the request", "")
		return
	case !known:
		writeStatus(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized", "")
		return
	}

	m := leasesPath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		writeStatus(w, http.StatusNotFound, "NotFound", "the server could not find the requested resource", "")
		return
	}
	ns, name := m[1], m[2]
	switch {
	case r.Method == http.MethodGet && name != "":
		a.get(w, ns, name)
	case r.Method == http.MethodPost && name == "":
		a.create(w, r, ns)
	case r.Method == http.MethodPut && name != "":
		a.update(w, r, ns, name)
	default:
		writeStatus(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "the server does not allow this method on the requested resource", "")
	}
}

func (a *API) get(w http.ResponseWriter, ns, name string) {
	a.mu.Lock()
	obj, ok := a.leases[ns+"/"+name]
	a.mu.Unlock()
	if !ok {
		writeStatus(w, http.StatusNotFound, "NotFound", notFound(name), name)
		return
	}
	writeJSON(w, http.StatusOK, obj)
}

func (a *API) create(w http.ResponseWriter, r *http.Request, ns string) {
	obj, name, ok := decode(w, r, ns, "")
	if !ok {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	key := ns + "/" + name
	if _, exists := a.leases[key]; exists {
		writeStatus(w, http.StatusConflict, "AlreadyExists",
			fmt.Sprintf("leases.%s %q already exists", group, name), name)
		return
	}
	meta := obj["metadata"].(map[string]any)
	if rv, _ := meta["resourceVersion"].(string); rv != "" {
		writeStatus(w, http.StatusBadRequest, "BadRequest", "resourceVersion should not be set on objects to be created", name)
		return
	}
	meta["namespace"] = ns
	meta["uid"] = fmt.Sprintf("uid-%s", name)
	meta["creationTimestamp"] = time.Now().UTC().Format(time.RFC3339)
	writeJSON(w, http.StatusCreated, a.store(key, obj))
}

func (a *API) update(w http.ResponseWriter, r *http.Request, ns, name string) {
	obj, _, ok := decode(w, r, ns, name)
	if !ok {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	key := ns + "/" + name
	old, exists := a.leases[key]
	if !exists {
		writeStatus(w, http.StatusNotFound, "NotFound", notFound(name), name)
		return
	}
	meta := obj["metadata"].(map[string]any)
	rv, _ := meta["resourceVersion"].(string)
	if rv == "" {
		writeStatus(w, http.StatusUnprocessableEntity, "Invalid",
			fmt.Sprintf("Lease.%s %q is invalid: metadata.resourceVersion: Invalid value: 0: must be specified for an update", group, name), name)
		return
	}
	oldMeta := old["metadata"].(map[string]any)
	if rv != oldMeta["resourceVersion"] {
		a.conflicts++
		writeStatus(w, http.StatusConflict, "Conflict", fmt.Sprintf(
			"Operation cannot be fulfilled on leases.%s %q: the object has been modified; please apply your changes to the latest version and try again",
			group, name), name)
		return
	}
	meta["namespace"] = ns
	meta["uid"], meta["creationTimestamp"] = oldMeta["uid"], oldMeta["creationTimestamp"]
	writeJSON(w, http.StatusOK, a.store(key, obj))
}

// store saves obj under a new resourceVersion and returns it; a.mu is held.
func (a *API) store(key string, obj map[string]any) map[string]any {
	a.rv++
	meta := maps.Clone(obj["metadata"].(map[string]any))
	meta["resourceVersion"] = strconv.Itoa(a.rv)
	obj["metadata"] = meta
	a.leases[key] = obj
	return obj
}

// decode reads a Lease from the request body and checks it as the API
// server would; on failure it has answered the request.
func decode(w http.ResponseWriter, r *http.Request, ns, name string) (obj map[string]any, objName string, ok bool) {
	bad := func(format string, args ...any) (map[string]any, string, bool) {
		writeStatus(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf(format, args...), name)
		return nil, "", false
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		writeStatus(w, http.StatusUnsupportedMediaType, "UnsupportedMediaType",
			fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: application/json (got %q)", ct), name)
		return nil, "", false
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return bad("read body: %v", err)
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return bad("decode body: %v", err)
	}
	if obj["apiVersion"] != group+"/v1" || obj["kind"] != "Lease" {
		return bad("body is %v %v, want %s/v1 Lease", obj["apiVersion"], obj["kind"], group)
	}
	meta, _ := obj["metadata"].(map[string]any)
	if meta == nil {
		return bad("metadata missing")
	}
	objName, _ = meta["name"].(string)
	if objName == "" || (name != "" && objName != name) {
		return bad("the name of the object (%s) does not match the name on the URL (%s)", objName, name)
	}
	if n, _ := meta["namespace"].(string); n != "" && n != ns {
		return bad("the namespace of the provided object does not match the namespace sent on the request")
	}
	spec, _ := obj["spec"].(map[string]any)
	if spec == nil {
		return bad("spec missing")
	}
	for _, k := range []string{"acquireTime", "renewTime"} {
		if v, present := spec[k]; present && v != nil {
			if s, _ := v.(string); !microTime.MatchString(s) {
				return bad("spec.%s: %v is not a MicroTime (RFC 3339, UTC, microseconds)", k, v)
			}
		}
	}
	return obj, objName, true
}

func notFound(name string) string { return fmt.Sprintf("leases.%s %q not found", group, name) }

func writeStatus(w http.ResponseWriter, code int, reason, message, name string) {
	st := map[string]any{"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
		"status": "Failure", "message": message, "reason": reason, "code": code}
	if name != "" {
		st["details"] = map[string]any{"name": name, "group": group, "kind": "leases"}
	}
	writeJSON(w, code, st)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}
