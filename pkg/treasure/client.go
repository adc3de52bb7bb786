package treasure

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/cas-reconciler/reconciler/pkg/segment"
)

// JSONAPIMediaType is the media type of the /entities endpoints.
const JSONAPIMediaType = "application/vnd.treasuredata.v1+json"

// maxErrorBody bounds how much of an error body is read.
const maxErrorBody = 64 << 10

// Client talks to Treasure Data. It is safe for concurrent use.
type Client struct {
	o     Options
	red   redactor
	limit *bucket
	sem   chan struct{}

	mu sync.Mutex
	// rules caches decoded segment rules (wire form: references by id) by
	// segment id, valid while updatedAt matches. Observe hands out copies
	// of their condition lists (segment.Rule.CopyConditions): decoding every
	// rule of a large parent segment again on each run cost most of its
	// time, and deep copies were most of the rest.
	rules map[string]cachedRule
	// rulesVersion counts changes of rules; savedRules is the count the
	// saved file (Options.RuleCacheFile) holds.
	rulesVersion, savedRules uint64
	// changed holds the ids whose rule was remembered or removed since
	// the last save; ruleFile what the saved file holds. saveMu keeps saves
	// one at a time.
	changed  map[string]bool
	ruleFile ruleFile
	saveMu   sync.Mutex
	// rulesLoaded is closed once the saved rule cache is loaded: New
	// starts the load and returns (a large file takes seconds to decode,
	// which would keep a daemon from answering its health checks); Observe
	// and saving wait for it.
	rulesLoaded chan struct{}
	// connNames maps connection ids to the names they were resolved from;
	// connIDs the names to their ids and when they were resolved
	// (Options.ConnectionTTL).
	connNames map[string]string
	connIDs   map[string]resolvedConn
	// parents caches parent segments as read with GET /audiences/{id}, by
	// id, valid while the updatedAt of the listing matches
	// (Options.DisableParentCache).
	parents map[string]cachedParent
	// roots maps parent segment ids to their root folder ids, when they
	// came from the parentSegment resource.
	roots map[string]string
}

type resolvedConn struct {
	id string
	at time.Time
}

type cachedParent struct {
	updatedAt string
	p         segment.Parent
}

type cachedRule struct {
	updatedAt string
	rule      segment.Rule
}

// New returns a Client.
func New(opts Options) (*Client, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Client{o: o, red: newRedactor(o.APIKey), sem: make(chan struct{}, o.MaxConcurrent),
		rules: map[string]cachedRule{}, changed: map[string]bool{}, connNames: map[string]string{}, connIDs: map[string]resolvedConn{}, parents: map[string]cachedParent{}, roots: map[string]string{}}
	if o.RateLimit > 0 {
		c.limit = newBucket(o.RateLimit, o.Burst, o.RateMargin, o.Now, o.Sleep)
	}
	c.rulesLoaded = make(chan struct{})
	go func() {
		defer close(c.rulesLoaded)
		c.loadRuleCache()
	}()
	return c, nil
}

// Owner returns the owner name written in ownership markers.
func (c *Client) Owner() string { return c.o.Owner }

// call is one API request.
type call struct {
	// endpoint is the bounded name for errors and the Observer.
	endpoint string
	method   string
	url      string
	jsonAPI  bool
	body     any
	out      any
	// safe marks requests that may be repeated after an ambiguous failure
	// (no answer, or 5xx): reads, PUT, PATCH and DELETE. POST creates are
	// not repeated blindly; see create.
	safe bool
	// goneOK makes a 404 a success when an earlier attempt of the same
	// call got no answer or a 5xx (a DELETE that went through).
	goneOK bool
}

func (c *Client) cdp(path string, q url.Values) string {
	u := c.o.CDPURL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// do sends the call, retrying 429 always and 5xx and network failures when
// the call is safe. It returns *APIError on failure.
func (c *Client) do(ctx context.Context, cl call) error {
	var body []byte
	if cl.body != nil {
		var err error
		body, err = json.Marshal(cl.body)
		if err != nil {
			return localError(cl.method, cl.endpoint, "encode request: %v", err)
		}
	}
	var last *APIError
	ambiguous := false
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			d := c.backoff(attempt - 1)
			if last.RetryAfter > 0 {
				d = last.RetryAfter
			}
			c.o.Logger.Debug("retrying treasure request", "endpoint", cl.endpoint, "method", cl.method,
				"attempt", attempt, "reason", string(last.Reason), "status", last.Status, "wait", d)
			if err := c.o.Sleep(ctx, d); err != nil {
				return canceled(cl.method, cl.endpoint, err)
			}
		}
		err := c.once(ctx, cl, body)
		if err == nil {
			return nil
		}
		if cl.goneOK && ambiguous && err.Reason == ReasonNotFound {
			return nil
		}
		if err.Reason == ReasonNetwork || err.Reason == ReasonServer {
			ambiguous = true
		}
		last = err
		if !c.retryable(cl, err) || attempt >= c.o.MaxRetries {
			return err
		}
		if err.RetryAfter > c.o.MaxRetryAfter {
			return err
		}
	}
}

func (c *Client) retryable(cl call, e *APIError) bool {
	switch e.Reason {
	case ReasonRateLimited:
		return true
	case ReasonServer, ReasonNetwork:
		return cl.safe
	}
	return false
}

// backoff returns the wait before retry n+1: exponential from MinBackoff,
// capped at MaxBackoff, with "equal jitter" (half fixed, half random).
func (c *Client) backoff(n int) time.Duration {
	d := float64(c.o.MinBackoff) * math.Pow(2, float64(n))
	if d > float64(c.o.MaxBackoff) {
		d = float64(c.o.MaxBackoff)
	}
	return time.Duration(d/2 + c.o.Jitter()*d/2)
}

// once sends one attempt.
func (c *Client) once(ctx context.Context, cl call, body []byte) *APIError {
	// The slot first, then the token: a token taken while waiting for a
	// slot would be spent late, together with others.
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return canceled(cl.method, cl.endpoint, ctx.Err())
	}
	defer func() { <-c.sem }()
	if err := c.limit.wait(ctx, cl.method != http.MethodGet); err != nil {
		return canceled(cl.method, cl.endpoint, err)
	}

	actx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, cl.method, cl.url, rd)
	if err != nil {
		return localError(cl.method, cl.endpoint, "build request: %s", c.red.String(err.Error()))
	}
	req.Header.Set("Authorization", "TD1 "+c.o.APIKey)
	req.Header.Set("User-Agent", c.o.UserAgent)
	mt := "application/json"
	if cl.jsonAPI {
		mt = c.o.MediaType
	}
	req.Header.Set("Accept", mt)
	if body != nil {
		req.Header.Set("Content-Type", mt)
	}
	start := c.o.Now()
	resp, err := c.o.HTTPClient.Do(req)
	if err != nil {
		c.observe(cl, 0, start)
		if ctx.Err() != nil {
			return canceled(cl.method, cl.endpoint, ctx.Err())
		}
		return c.networkError(cl, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		b, err := readBody(resp, c.o.MaxResponseBytes)
		c.observe(cl, resp.StatusCode, start)
		if err != nil {
			if ctx.Err() != nil {
				return canceled(cl.method, cl.endpoint, ctx.Err())
			}
			return c.networkError(cl, err)
		}
		if int64(len(b)) > c.o.MaxResponseBytes {
			return &APIError{Status: resp.StatusCode, Reason: ReasonServer, Method: cl.method, Endpoint: cl.endpoint,
				Message: fmt.Sprintf("response larger than %d bytes (raise treasure.maxResponseBytes)", c.o.MaxResponseBytes)}
		}
		if cl.out != nil && len(bytes.TrimSpace(b)) > 0 {
			if err := json.Unmarshal(b, cl.out); err != nil {
				e := &APIError{Status: resp.StatusCode, Reason: ReasonServer, Method: cl.method, Endpoint: cl.endpoint,
					Message: "decode response: " + err.Error(), RequestID: requestID(resp)}
				c.red.apply(e)
				return e
			}
		}
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	c.observe(cl, resp.StatusCode, start)
	e := &APIError{Status: resp.StatusCode, Method: cl.method, Endpoint: cl.endpoint, RequestID: requestID(resp),
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), c.o.Now())}
	e.parseBody(b)
	e.classify()
	c.red.apply(e)
	if e.Reason == ReasonRateLimited {
		c.limit.drain()
	}
	return e
}

// readBody reads resp's body up to one byte more than max (so that a
// longer body shows), into a buffer of the announced Content-Length when
// there is one (a listing of a large parent segment is megabytes; growing a
// buffer to it copies it several times).
func readBody(resp *http.Response, max int64) ([]byte, error) {
	limit := max
	if limit < math.MaxInt64 {
		limit++
	}
	r := io.LimitReader(resp.Body, limit)
	if n := resp.ContentLength; n > 0 && n < limit {
		var buf bytes.Buffer
		// A wrong Content-Length costs at most this much memory up front.
		buf.Grow(int(min(n, 64<<20)) + bytes.MinRead)
		_, err := buf.ReadFrom(r)
		return buf.Bytes(), err
	}
	return io.ReadAll(r)
}

func requestID(resp *http.Response) string {
	for _, h := range []string{"X-Request-Id", "X-Td-Request-Id", "X-Amzn-Requestid"} {
		if v := resp.Header.Get(h); v != "" {
			if len(v) > 100 {
				v = v[:100]
			}
			return v
		}
	}
	return ""
}

// networkError classifies a transport failure. The URL is dropped from
// *url.Error text (it can carry query parameters), and the key redacted.
func (c *Client) networkError(cl call, err error) *APIError {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	if errors.Is(err, context.DeadlineExceeded) {
		msg = fmt.Sprintf("no answer within %s", c.o.Timeout)
	}
	return &APIError{Reason: ReasonNetwork, Method: cl.method, Endpoint: cl.endpoint, Message: c.red.String(msg)}
}

func (c *Client) observe(cl call, code int, start time.Time) {
	if c.o.Observer != nil {
		c.o.Observer(cl.endpoint, cl.method, code, c.o.Now().Sub(start))
	}
}

// create sends a POST that creates an object. A 429 is retried as usual.
// After an ambiguous failure (no answer, 5xx) and after a 400 "has already
// been taken", lookup searches for the object by name: when found and owned
// by this client's Owner, it is the result (lookup fills it); when found but
// not owned, the conflict is returned; when not found after an ambiguous
// failure, the POST is sent again after a backoff.
func (c *Client) create(ctx context.Context, cl call, lookup func(ctx context.Context) (found, owned bool, err error)) error {
	var last error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := c.o.Sleep(ctx, c.backoff(attempt-1)); err != nil {
				return canceled(cl.method, cl.endpoint, err)
			}
		}
		err := c.do(ctx, cl)
		if err == nil {
			return nil
		}
		var ae *APIError
		if !errors.As(err, &ae) {
			return err
		}
		ambiguous := ae.Reason == ReasonNetwork || ae.Reason == ReasonServer
		if !ambiguous && !isTaken(err) {
			return err
		}
		if last == nil || !isTaken(err) {
			last = err
		}
		found, owned, lerr := lookup(ctx)
		switch {
		case lerr != nil && ReasonOf(lerr) == ReasonCanceled:
			return lerr
		case lerr == nil && found && owned:
			return nil
		case lerr == nil && found:
			if isTaken(err) {
				return err
			}
			return &APIError{Status: http.StatusBadRequest, Reason: ReasonConflict, Method: cl.method, Endpoint: cl.endpoint,
				Message: "an object of the same name exists and is not owned by " + c.o.Owner}
		case isTaken(err):
			// Taken, but not found by name: report the refusal.
			return err
		}
		if attempt >= c.o.MaxRetries {
			return last
		}
	}
}
