//go:build cgo

package dbxstandin

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestTokenEndpointClientCredentials(t *testing.T) {
	fx, err := LoadFixture("../../../examples/retail-warehouse.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, ep := ownServer(t, fx, WithOAuthClient("sp-id", "s3cr/et+", "treasure-sp"))
	post := func(form url.Values, basicID, basicSecret string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, TokenURL(ep.URL), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basicID != "" {
			req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	grant := url.Values{"grant_type": {"client_credentials"}, "scope": {"all-apis"}}
	inForm := url.Values{"grant_type": {"client_credentials"}, "scope": {"all-apis"}, "client_id": {"sp-id"}, "client_secret": {"s3cr/et+"}}

	for name, tc := range map[string]struct {
		form       url.Values
		id, secret string
		code       int
		err        string
	}{
		"basic":        {grant, "sp-id", "s3cr/et+", http.StatusOK, ""},
		"form":         {inForm, "", "", http.StatusOK, ""},
		"wrong secret": {grant, "sp-id", "wrong", http.StatusUnauthorized, "invalid_client"},
		"unknown id":   {grant, "someone", "s3cr/et+", http.StatusUnauthorized, "invalid_client"},
		"no scope":     {url.Values{"grant_type": {"client_credentials"}}, "sp-id", "s3cr/et+", http.StatusBadRequest, "invalid_scope"},
		"password":     {url.Values{"grant_type": {"password"}, "scope": {"all-apis"}}, "sp-id", "s3cr/et+", http.StatusBadRequest, "unsupported_grant_type"},
	} {
		code, body := post(tc.form, tc.id, tc.secret)
		if code != tc.code {
			t.Errorf("%s: status %d, want %d (%v)", name, code, tc.code, body)
			continue
		}
		if tc.err != "" {
			if body["error"] != tc.err || body["error_description"] == "" {
				t.Errorf("%s: body %v, want error %s with a description", name, body, tc.err)
			}
			continue
		}
		tok, _ := body["access_token"].(string)
		if tok == "" || body["token_type"] != "Bearer" || body["expires_in"] != float64(3600) {
			t.Fatalf("%s: body %v", name, body)
		}
		// The issued token opens a session as the principal.
		db := openDB(t, ep.DSN(tok))
		var user string
		if err := db.QueryRowContext(ctxT(t), "SELECT current_user()").Scan(&user); err != nil || user != "treasure-sp" {
			t.Errorf("%s: current_user() = %q, %v", name, user, err)
		}
	}
}
