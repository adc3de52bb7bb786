package treasure

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/cas-reconciler/reconciler/internal/standin/tdstandin"
)

// TestNoRateLimitedAgainstEnforcingServer runs a client at the rate and
// burst the stand-in enforces, on real time: two clients one after the
// other (a restart: the second starts while the server's bucket is empty),
// each sending requests (GET /audiences) from MaxConcurrent goroutines. The server must
// refuse none of them (a 429 would be retried, so only the server's log
// shows it).
func TestNoRateLimitedAgainstEnforcingServer(t *testing.T) {
	if testing.Short() {
		t.Skip("about 20 s of real time")
	}
	const rate, burst, perClient, workers = 10, 2, 100, 4
	srv, err := tdstandin.New(tdstandin.Options{MasterKeys: []string{testKey},
		Connections: map[string]string{connName: connID}, RateLimit: rate, Burst: burst})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	for run := range 2 {
		c, err := New(Options{APIKey: testKey, Owner: testOwner, CDPURL: srv.URL(), CASURL: srv.URL(), ClassicURL: srv.URL(),
			RateLimit: rate, Burst: burst, MaxConcurrent: workers, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		work := make(chan struct{})
		for range workers {
			wg.Go(func() {
				for range work {
					if _, err := c.ParentNames(context.Background()); err != nil {
						t.Error(err)
					}
				}
			})
		}
		for range perClient {
			work <- struct{}{}
		}
		close(work)
		wg.Wait()
		n429 := 0
		reqs := srv.Requests()
		for _, r := range reqs {
			if r.Status == http.StatusTooManyRequests {
				n429++
			}
		}
		if n429 != 0 {
			t.Errorf("after client %d: %d of %d requests answered 429", run+1, n429, len(reqs))
		}
	}
}

// TestStandinEnforcesRate checks the stand-in's bucket itself on fake
// time: burst requests pass, the next is refused with Retry-After, and one
// passes again after 1/rate.
func TestStandinEnforcesRate(t *testing.T) {
	clock := newFakeClock()
	srv, err := tdstandin.New(tdstandin.Options{MasterKeys: []string{testKey},
		Connections: map[string]string{connName: connID}, RateLimit: 2, Burst: 2, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	get := func() *http.Response {
		req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/v3/connections/lookup?name="+connName, nil)
		req.Header.Set("Authorization", "TD1 "+testKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for i := range 2 {
		if r := get(); r.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %d", i, r.StatusCode)
		}
	}
	r := get()
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "1" {
		t.Fatalf("third request: %d Retry-After %q, want 429 and 1", r.StatusCode, r.Header.Get("Retry-After"))
	}
	clock.Advance(500 * time.Millisecond)
	if r := get(); r.StatusCode != http.StatusOK {
		t.Fatalf("after 1/rate: %d", r.StatusCode)
	}
}

// TestRateShape checks the margin's cost: a share of the burst, or the
// rate when less than a token would be left.
func TestRateShape(t *testing.T) {
	for _, c := range []struct {
		rate            float64
		burst           int
		margin          time.Duration
		wantRate, wantC float64
	}{
		{2, 2, 100 * time.Millisecond, 2, 1.8},
		{10, 2, 100 * time.Millisecond, 10, 1},
		{2, 1, 0, 2, 1},
		{2, 1, 100 * time.Millisecond, 1 / 0.6, 1},
		{10, 2, 200 * time.Millisecond, 5, 1},
	} {
		r, capacity := bucketShape(c.rate, c.burst, c.margin)
		if abs(r-c.wantRate) > 1e-9 || abs(capacity-c.wantC) > 1e-9 {
			t.Errorf("bucketShape(%v, %d, %s) = %v, %v; want %v, %v", c.rate, c.burst, c.margin, r, capacity, c.wantRate, c.wantC)
		}
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestWritesGoFirst queues reads, then a write, on fake time: the write
// gets the first token that comes free.
func TestWritesGoFirst(t *testing.T) {
	clock := newFakeClock()
	gate := make(chan struct{})
	var order []string
	var mu sync.Mutex
	// Sleep blocks until the test lets the sleepers go, one at a time.
	sleep := func(ctx context.Context, d time.Duration) error {
		<-gate
		return clock.Sleep(ctx, d)
	}
	b := newBucket(2, 1, 0, clock.Now, sleep)
	var wg sync.WaitGroup
	start := func(name string, write bool) {
		wg.Go(func() {
			if err := b.wait(context.Background(), write); err != nil {
				t.Error(err)
			}
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
		})
	}
	queued := func(n int) {
		for {
			b.mu.Lock()
			l := len(b.queue)
			b.mu.Unlock()
			if l == n {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	start("read1", false)
	queued(1)
	start("read2", false)
	queued(2)
	start("write", true)
	queued(3)
	for range 8 {
		select {
		case gate <- struct{}{}:
		case <-time.After(time.Second):
		}
		mu.Lock()
		n := len(order)
		mu.Unlock()
		if n == 3 {
			break
		}
	}
	close(gate)
	wg.Wait()
	// read1 was the head and sleeping when the write came; the write is
	// served before read2 either way.
	if len(order) != 3 || order[2] != "read2" {
		t.Errorf("order %v, want the write before read2", order)
	}
}
