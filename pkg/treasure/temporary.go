package treasure

import "time"

// Temporary reports whether the failure is expected to pass by itself: a
// rate limit, a server error or a network failure. Callers wait and retry
// these instead of asking a human.
func (e *APIError) Temporary() bool {
	switch e.Reason {
	case ReasonRateLimited, ReasonServer, ReasonNetwork:
		return true
	}
	return false
}

// RetryDelay returns the server's Retry-After, zero when none was sent.
func (e *APIError) RetryDelay() time.Duration { return e.RetryAfter }
