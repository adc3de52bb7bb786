package treasure

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/standin/tdstandin"
	"github.com/cas-reconciler/reconciler/pkg/segment"
)

func noLimit(o *Options) { o.RateLimit = -1 }

func TestRetryHonoursRetryAfter(t *testing.T) {
	e := newEnv(t, noLimit)
	e.mustParent(t, "Retail")
	e.srv.Inject(tdstandin.Fault{Method: "GET", Path: "/audiences", Status: 429, RetryAfter: "7", Times: 2})
	date := e.clock.Now().Add(30 * time.Second).Format(http.TimeFormat)
	e.srv.Inject(tdstandin.Fault{Method: "GET", Path: "/audiences/*", Status: 429, RetryAfter: date})
	before := len(e.clock.Sleeps())
	st, err := e.c.Observe(context.Background(), []string{"Retail"})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Parents) != 1 {
		t.Fatalf("parents = %d", len(st.Parents))
	}
	got := e.clock.Sleeps()[before:]
	// The HTTP date is 30s after the start; 14s went by in the 7s waits.
	want := []time.Duration{7 * time.Second, 7 * time.Second, 16 * time.Second}
	if !slices.Equal(got, want) {
		t.Errorf("sleeps = %v, want %v", got, want)
	}
}

func TestRetryBackoffOn5xx(t *testing.T) {
	e := newEnv(t, func(o *Options) { noLimit(o); o.Jitter = func() float64 { return 0.5 } })
	p := e.mustParent(t, "Retail")
	for _, st := range []int{500, 502, 503} {
		e.srv.Inject(tdstandin.Fault{Method: "GET", Path: "/audiences/" + p.Meta.ID, Status: st})
	}
	before := len(e.clock.Sleeps())
	if _, err := e.c.GetParent(context.Background(), p.Meta.ID); err != nil {
		t.Fatal(err)
	}
	// Equal jitter with Jitter()=0.5: 3/4 of 1s, 2s, 4s.
	want := []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second}
	if got := e.clock.Sleeps()[before:]; !slices.Equal(got, want) {
		t.Errorf("sleeps = %v, want %v", got, want)
	}
}

func TestBackoffBoundsAndCap(t *testing.T) {
	for _, j := range []float64{0, 0.999} {
		c, err := New(Options{APIKey: "k", Owner: "o", MinBackoff: time.Second, MaxBackoff: 10 * time.Second, Jitter: func() float64 { return j }})
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < 10; n++ {
			full := min(time.Second<<n, 10*time.Second)
			if d := c.backoff(n); d < full/2 || d > full {
				t.Errorf("jitter %v: backoff(%d) = %s, want within [%s, %s]", j, n, d, full/2, full)
			}
		}
	}
}

func TestRetriesRunOut(t *testing.T) {
	e := newEnv(t, func(o *Options) { noLimit(o); o.MaxRetries = 2 })
	p := e.mustParent(t, "Retail")
	e.srv.ResetLog()
	e.srv.Inject(tdstandin.Fault{Method: "GET", Status: 503, Times: 10})
	_, err := e.c.GetParent(context.Background(), p.Meta.ID)
	if ReasonOf(err) != ReasonServer {
		t.Fatalf("err = %v, want server", err)
	}
	if n := len(e.srv.Requests()); n != 3 {
		t.Errorf("%d requests, want 3 (one try, two retries)", n)
	}
	// A Retry-After beyond MaxRetryAfter is not waited for.
	e.srv.ClearFaults()
	e.srv.ResetLog()
	e.srv.Inject(tdstandin.Fault{Method: "GET", Status: 429, RetryAfter: "3600"})
	_, err = e.c.GetParent(context.Background(), p.Meta.ID)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Reason != ReasonRateLimited || ae.RetryAfter != time.Hour {
		t.Fatalf("err = %v, want rate_limited with RetryAfter 1h", err)
	}
	if n := len(e.srv.Requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestClientErrorsAreNotRetried(t *testing.T) {
	e := newEnv(t, noLimit)
	e.srv.ResetLog()
	_, err := e.c.GetParent(context.Background(), "424242")
	if ReasonOf(err) != ReasonNotFound || len(e.srv.Requests()) != 1 {
		t.Fatalf("err = %v after %d requests", err, len(e.srv.Requests()))
	}
}

// TestIdempotentCreate drops the connection after the server processed the
// create: the client must find the object by name instead of creating a
// second one.
func TestIdempotentCreate(t *testing.T) {
	for _, process := range []bool{true, false} {
		name := map[bool]string{true: "processed", false: "not processed"}[process]
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, noLimit)
			ctx := context.Background()
			e.srv.Inject(tdstandin.Fault{Method: "POST", Path: "/composable_audiences", Drop: true, Process: process})
			p := e.mustParent(t, "Retail")
			e.srv.Inject(tdstandin.Fault{Method: "POST", Path: "/entities/folders", Drop: true, Process: process})
			f, err := e.c.CreateFolder(ctx, p.Meta.ID, p.RootFolderID, &segment.Folder{Parent: "Retail", Path: "Marketing"})
			if err != nil {
				t.Fatal(err)
			}
			e.srv.Inject(tdstandin.Fault{Method: "POST", Path: "/entities/segments", Status: 502, Times: 1})
			e.srv.Inject(tdstandin.Fault{Method: "POST", Path: "/entities/segments", Drop: true, Process: process})
			s, err := e.c.CreateSegment(ctx, p.Meta.ID, f.Meta.ID, &segment.Segment{Name: "Gold", Parent: "Retail", Folder: "Marketing", Rule: valueRule("country", "JP")})
			if err != nil {
				t.Fatal(err)
			}
			if len(e.srv.Parents()) != 1 || len(e.srv.Folders()) != 2 || len(e.srv.Segments()) != 1 {
				t.Errorf("stored %d parents, %d folders, %d segments; want 1, 2 (root + Marketing), 1",
					len(e.srv.Parents()), len(e.srv.Folders()), len(e.srv.Segments()))
			}
			if f.Path != "Marketing" || f.Meta.ID == "" || s.Meta.ID != e.srv.Segments()[0].ID || s.Folder != "Marketing" {
				t.Errorf("results: folder %+v segment %+v", f, s.Meta)
			}
			if s.Rule.Conditions[0].Conditions[0].LeftValue.Name != "country" {
				t.Errorf("rule not returned: %+v", s.Rule)
			}
		})
	}
}

// TestCreateTakenByOwnObject: a create that finds its own object (from an
// earlier lost answer) returns it instead of failing.
func TestCreateTakenByOwnObject(t *testing.T) {
	e := newEnv(t, noLimit)
	ctx := context.Background()
	p := e.mustParent(t, "Retail")
	again, err := e.c.CreateParent(ctx, &segment.Parent{Name: "Retail", Timezone: "UTC", ConnectionID: connID,
		Customers: p.Customers, Attributes: p.Attributes})
	if err != nil || again.Meta.ID != p.Meta.ID {
		t.Fatalf("second create: %v, id %v want %s", err, again, p.Meta.ID)
	}
	f1, err := e.c.CreateFolder(ctx, p.Meta.ID, p.RootFolderID, &segment.Folder{Parent: "Retail", Path: "M"})
	if err != nil {
		t.Fatal(err)
	}
	f2, err := e.c.CreateFolder(ctx, p.Meta.ID, p.RootFolderID, &segment.Folder{Parent: "Retail", Path: "M"})
	if err != nil || f2.Meta.ID != f1.Meta.ID {
		t.Fatalf("second folder create: %v %v", err, f2)
	}
	if len(e.srv.Parents()) != 1 || len(e.srv.Folders()) != 2 {
		t.Errorf("duplicates stored: %d parents %d folders", len(e.srv.Parents()), len(e.srv.Folders()))
	}
}

func TestDeleteAfterLostAnswer(t *testing.T) {
	e := newEnv(t, noLimit)
	ctx := context.Background()
	p := e.mustParent(t, "Retail")
	s, err := e.c.CreateSegment(ctx, p.Meta.ID, p.RootFolderID, &segment.Segment{Name: "X", Rule: segment.Rule{}})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Inject(tdstandin.Fault{Method: "DELETE", Drop: true, Process: true})
	if err := e.c.DeleteSegment(ctx, s.Meta.ID); err != nil {
		t.Fatalf("delete whose answer was lost: %v", err)
	}
	if err := e.c.DeleteSegment(ctx, s.Meta.ID); ReasonOf(err) != ReasonNotFound {
		t.Fatalf("second delete: %v, want not_found", err)
	}
}

func TestRateLimiterOnFakeTime(t *testing.T) {
	clock := newFakeClock()
	b := newBucket(2, 3, 0, clock.Now, clock.Sleep)
	start := clock.Now()
	for i := 0; i < 13; i++ {
		if err := b.wait(context.Background(), false); err != nil {
			t.Fatal(err)
		}
	}
	// The bucket starts empty: 13 at 2/s.
	if el := clock.Now().Sub(start); el != 6500*time.Millisecond {
		t.Errorf("13 requests took %s of fake time, want 6.5s", el)
	}
	clock.Advance(time.Hour) // refills to the burst only
	start = clock.Now()
	for i := 0; i < 4; i++ {
		_ = b.wait(context.Background(), false)
	}
	if el := clock.Now().Sub(start); el != 500*time.Millisecond {
		t.Errorf("4 requests after a long pause took %s, want 500ms", el)
	}
	// A 429 empties the bucket.
	clock.Advance(time.Hour)
	b.drain()
	start = clock.Now()
	_ = b.wait(context.Background(), true)
	if el := clock.Now().Sub(start); el != 500*time.Millisecond {
		t.Errorf("a request after a drain took %s, want 500ms", el)
	}
}

func TestClientIsRateLimited(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.RateLimit = 2; o.Burst = 1; o.RateMargin = -1 })
	p := e.mustParent(t, "Retail")
	start := e.clock.Now()
	for i := 0; i < 6; i++ {
		if _, err := e.c.GetParent(context.Background(), p.Meta.ID); err != nil {
			t.Fatal(err)
		}
	}
	if el := e.clock.Now().Sub(start); el < 2500*time.Millisecond || el > 3*time.Second {
		t.Errorf("6 requests at 2/s took %s of fake time", el)
	}
}

// countingTransport records the peak number of requests in flight.
type countingTransport struct {
	inner      http.RoundTripper
	cur, peak  atomic.Int64
	mu         sync.Mutex
	userAgents map[string]bool
	media      map[string]string
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	n := c.cur.Add(1)
	defer c.cur.Add(-1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			break
		}
	}
	c.mu.Lock()
	c.userAgents[r.Header.Get("User-Agent")] = true
	c.media[r.Method+" "+r.URL.Path] = r.Header.Get("Accept") + "|" + r.Header.Get("Content-Type") + "|" + r.Header.Get("Authorization")
	c.mu.Unlock()
	return c.inner.RoundTrip(r)
}

func TestConcurrencyCapAndHeaders(t *testing.T) {
	ct := &countingTransport{inner: http.DefaultTransport, userAgents: map[string]bool{}, media: map[string]string{}}
	e := newEnv(t, func(o *Options) {
		noLimit(o)
		o.MaxConcurrent = 2
		o.HTTPClient = &http.Client{Transport: ct}
		o.UserAgent = "cas-reconciler/test"
	})
	ctx := context.Background()
	p := e.mustParent(t, "Retail")
	for i := range 12 {
		if _, err := e.c.CreateSegment(ctx, p.Meta.ID, p.RootFolderID, &segment.Segment{Name: string(rune('a' + i)), Rule: valueRule("country", "JP")}); err != nil {
			t.Fatal(err)
		}
	}
	e.srv.Inject(tdstandin.Fault{Method: "GET", Path: "/entities/segments/*", Delay: 20 * time.Millisecond, Times: 12})
	fresh := e.client(t, func(o *Options) {})
	if _, err := fresh.Observe(ctx, []string{"Retail"}); err != nil {
		t.Fatal(err)
	}
	if pk := ct.peak.Load(); pk != 2 {
		t.Errorf("peak concurrency %d, want 2", pk)
	}
	if len(ct.userAgents) != 1 || !ct.userAgents["cas-reconciler/test"] {
		t.Errorf("user agents %v", ct.userAgents)
	}
	for req, want := range map[string]string{
		"POST /entities/segments":                   JSONAPIMediaType + "|" + JSONAPIMediaType + "|TD1 " + testKey,
		"GET /entities/by-folder/" + p.RootFolderID: JSONAPIMediaType + "||TD1 " + testKey,
		"POST /composable_audiences":                "application/json|application/json|TD1 " + testKey,
		"GET /audiences/" + p.Meta.ID:               "application/json||TD1 " + testKey,
	} {
		if got := ct.media[req]; got != want {
			t.Errorf("%s: accept|content-type|auth = %q, want %q", req, got, want)
		}
	}
}

func TestCanceled(t *testing.T) {
	e := newEnv(t, noLimit)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.c.Observe(ctx, []string{"Retail"})
	if ReasonOf(err) != ReasonCanceled || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want canceled wrapping context.Canceled", err)
	}
	// A slow server and a short deadline: canceled, not retried.
	e.srv.Inject(tdstandin.Fault{Delay: 2 * time.Second})
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	e.srv.ResetLog()
	_, err = e.c.Observe(ctx, []string{"Retail"})
	if ReasonOf(err) != ReasonCanceled || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want canceled wrapping DeadlineExceeded", err)
	}
}

func TestAttemptTimeoutIsRetried(t *testing.T) {
	e := newEnv(t, func(o *Options) { noLimit(o); o.Timeout = 50 * time.Millisecond })
	p := e.mustParent(t, "Retail")
	e.srv.Inject(tdstandin.Fault{Method: "GET", Delay: time.Second})
	if _, err := e.c.GetParent(context.Background(), p.Meta.ID); err != nil {
		t.Fatalf("a slow first attempt should be retried: %v", err)
	}
}

func TestObserverSeesEveryExchange(t *testing.T) {
	type obs struct {
		endpoint, method string
		code             int
	}
	var mu sync.Mutex
	var got []obs
	e := newEnv(t, func(o *Options) {
		noLimit(o)
		o.Observer = func(endpoint, method string, code int, d time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, obs{endpoint, method, code})
		}
	})
	ctx := context.Background()
	p := e.mustParent(t, "Retail")
	f, _ := e.c.CreateFolder(ctx, p.Meta.ID, p.RootFolderID, &segment.Folder{Path: "F"})
	e.srv.Inject(tdstandin.Fault{Method: "POST", Path: "/entities/segments", Status: 429, RetryAfter: "1"})
	s, _ := e.c.CreateSegment(ctx, p.Meta.ID, f.Meta.ID, &segment.Segment{Name: "S", Rule: segment.Rule{}})
	_ = e.c.DeleteSegment(ctx, s.Meta.ID)
	e.srv.Inject(tdstandin.Fault{Method: "GET", Status: 500})
	fresh := e.client(t, func(o *Options) {})
	_, _ = fresh.Observe(ctx, []string{"Retail"})
	want := []obs{
		{"connections", "GET", 200}, {"cas_upload", "POST", 200}, {"audiences", "GET", 200},
		{"folders", "POST", 200}, {"segments", "POST", 429}, {"segments", "POST", 200}, {"segments", "DELETE", 200},
		{"audiences", "GET", 500}, {"audiences", "GET", 200}, {"audiences", "GET", 200}, {"by_folder", "GET", 200},
	}
	if !slices.Equal(got, want) {
		t.Errorf("observed\n %v\nwant\n %v", got, want)
	}
}
