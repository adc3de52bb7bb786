package warehouse

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// tokenSource implements OAuth machine-to-machine authentication for a
// service principal: the client credentials grant at a token URL, scope
// all-apis. The access token is cached until 30 seconds before it expires.
type tokenSource struct {
	url, id, secret string
	client          *http.Client
	now             func() time.Time

	mu        sync.Mutex
	token     string
	expires   time.Time
	exchanges int
}

// Authenticate sets the bearer token on a driver request.
func (s *tokenSource) Authenticate(r *http.Request) error {
	tok, err := s.get(r.Context())
	if err != nil {
		return err
	}
	r.Header.Set("Authorization", "Bearer "+tok)
	return nil
}

func (s *tokenSource) current() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// Exchanges returns how many token requests were made.
func (s *tokenSource) Exchanges() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exchanges
}

func (s *tokenSource) get(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && s.now().Add(30*time.Second).Before(s.expires) {
		return s.token, nil
	}
	s.exchanges++
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"all-apis"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, strings.NewReader(form.Encode()))
	if err != nil {
		return "", &tokenError{msg: "bad token url"}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(s.id), url.QueryEscape(s.secret))
	resp, err := s.client.Do(req)
	if err != nil {
		return "", &tokenError{msg: "token exchange: " + err.Error(), cause: err}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		// The body of a refusal names the error code, never the secret;
		// still, only the OAuth error code is kept.
		var oe struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(body, &oe)
		msg := fmt.Sprintf("token exchange: http %d", resp.StatusCode)
		if oe.Error != "" {
			msg += " " + oe.Error
		}
		return "", &tokenError{msg: msg, status: resp.StatusCode}
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return "", &tokenError{msg: "token exchange: response has no access_token"}
	}
	if tr.ExpiresIn <= 0 {
		tr.ExpiresIn = 3600
	}
	s.token = tr.AccessToken
	s.expires = s.now().Add(time.Duration(tr.ExpiresIn) * time.Second)
	return s.token, nil
}

// tokenError is a failed token exchange; its status tells refusal (4xx)
// from an unreachable token endpoint.
type tokenError struct {
	msg    string
	status int
	cause  error
}

func (e *tokenError) Error() string { return e.msg }

// refused reports whether the token URL refused the client id or secret
// (400 invalid_client or invalid_grant, 401, 403), as opposed to being
// unreachable, throttling or failing.
func (e *tokenError) refused() bool {
	return e.status == http.StatusBadRequest || e.status == http.StatusUnauthorized || e.status == http.StatusForbidden
}
func (e *tokenError) Unwrap() error { return e.cause }
