//go:build cgo

package dbxstandin

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// TokenPath is the workspace's OAuth token endpoint.
const TokenPath = "/oidc/v1/token"

// tokenLifetime is the expires_in of issued access tokens.
const tokenLifetime = time.Hour

// oauthClient is a service principal's OAuth client (WithOAuthClient).
type oauthClient struct{ secret, principal string }

// issuedToken is an access token handed out by the token endpoint.
type issuedToken struct {
	principal string
	expires   time.Time
}

// WithOAuthClient registers an OAuth machine-to-machine client of the
// fixture principal: POST /oidc/v1/token with grant_type=client_credentials,
// scope all-apis and this client id and secret (HTTP Basic, or client_id
// and client_secret in the form) issues a bearer token that the warehouse
// accepts as principal for an hour on the server's clock.
func WithOAuthClient(clientID, secret, principal string) Option {
	return func(s *Server) {
		if s.oauth == nil {
			s.oauth = map[string]oauthClient{}
		}
		s.oauth[clientID] = oauthClient{secret: secret, principal: principal}
	}
}

// TokenURL returns the URL of the token endpoint below base (an
// Endpoint's URL).
func TokenURL(base string) string { return strings.TrimSuffix(base, "/") + TokenPath }

// oauthError writes an RFC 6749 error response.
func oauthError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": description})
}

// serveToken is the client credentials grant of the token endpoint.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.tokenRequests++
	s.mu.Unlock()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "Only POST is supported.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "The request body is not a valid form.")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "Grant type is not supported.")
		return
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 2.3.1: the Basic credentials are form-encoded.
		if v, err := url.QueryUnescape(id); err == nil {
			id = v
		}
		if v, err := url.QueryUnescape(secret); err == nil {
			secret = v
		}
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	s.mu.Lock()
	client, known := s.oauth[id]
	s.mu.Unlock()
	if id == "" || !known || secret != client.secret {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed")
		return
	}
	if !slices.Contains(strings.Fields(r.PostForm.Get("scope")), "all-apis") {
		oauthError(w, http.StatusBadRequest, "invalid_scope", "The requested scope is invalid, unknown, or malformed.")
		return
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	token := "dbxoauth" + hex.EncodeToString(b[:])
	s.mu.Lock()
	if s.issued == nil {
		s.issued = map[string]issuedToken{}
	}
	s.issued[token] = issuedToken{principal: client.principal, expires: s.clock().Add(tokenLifetime)}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": token, "token_type": "Bearer", "expires_in": int(tokenLifetime / time.Second), "scope": "all-apis",
	})
}

// oauthPrincipal maps an issued, unexpired access token to its principal.
// Callers hold s.mu.
func (s *Server) oauthPrincipal(token string) (string, bool) {
	it, ok := s.issued[token]
	if !ok || !s.clock().Before(it.expires) {
		return "", false
	}
	return it.principal, true
}

// TokenRequests returns how many requests reached the token endpoint.
func (s *Server) TokenRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenRequests
}
