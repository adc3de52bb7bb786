package webhook

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

var (
	ghSecret  = []byte("gh-Secret-abc")
	glToken   = []byte("gl-Token-xyz")
	genSecret = []byte("gen-Secret-123")
)

const githubPush = `{
  "ref": "refs/heads/main",
  "before": "1111111111111111111111111111111111111111",
  "after": "2222222222222222222222222222222222222222",
  "deleted": false,
  "repository": {
    "full_name": "Acme/Segments",
    "html_url": "https://github.com/Acme/Segments",
    "url": "https://github.com/Acme/Segments",
    "git_url": "git://github.com/Acme/Segments.git",
    "ssh_url": "git@github.com:Acme/Segments.git",
    "clone_url": "https://github.com/Acme/Segments.git"
  },
  "head_commit": {"id": "2222222222222222222222222222222222222222", "message": "edit"}
}`

const gitlabPush = `{
  "object_kind": "push",
  "ref": "refs/heads/main",
  "after": "2222222222222222222222222222222222222222",
  "project": {
    "web_url": "https://gitlab.example.com/data/segments",
    "git_ssh_url": "ssh://git@gitlab.example.com:2222/data/segments.git",
    "git_http_url": "https://gitlab.example.com/data/segments.git"
  },
  "repository": {
    "name": "segments",
    "url": "ssh://git@gitlab.example.com:2222/data/segments.git",
    "homepage": "https://gitlab.example.com/data/segments"
  }
}`

type harness struct {
	h          *Handler
	mu         sync.Mutex
	triggered  []string
	deliveries []Delivery
	refuse     map[string]error
}

func newHarness(t *testing.T, mod func(*Options)) *harness {
	t.Helper()
	hs := &harness{refuse: map[string]error{}}
	o := Options{
		Sources: []Source{
			{Name: "gh-main", URL: "git@github.com:acme/segments.git"},
			{Name: "gh-main-https", URL: "https://GitHub.com/acme/segments", Branch: "main"},
			{Name: "gh-prod", URL: "https://github.com/acme/segments.git", Branch: "prod"},
			{Name: "gl", URL: "https://gitlab.example.com/data/segments", Branch: "main"},
			{Name: "other", URL: "https://github.com/acme/other.git"},
		},
		GitHubSecret:  ghSecret,
		GitLabToken:   glToken,
		GenericSecret: genSecret,
		Trigger: func(name string) error {
			hs.mu.Lock()
			defer hs.mu.Unlock()
			if err := hs.refuse[name]; err != nil {
				return err
			}
			hs.triggered = append(hs.triggered, name)
			return nil
		},
		Observe: func(d Delivery) {
			hs.mu.Lock()
			defer hs.mu.Unlock()
			hs.deliveries = append(hs.deliveries, d)
		},
	}
	if mod != nil {
		mod(&o)
	}
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	hs.h = h
	return hs
}

func (hs *harness) do(t *testing.T, method string, hdr map[string]string, body string) (*http.Response, response, Delivery) {
	t.Helper()
	srv := httptest.NewServer(hs.h)
	defer srv.Close()
	req, _ := http.NewRequest(method, srv.URL+"/hook", strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r response
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("response %q: %v", b, err)
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if len(hs.deliveries) == 0 {
		t.Fatal("observer not called")
	}
	return resp, r, hs.deliveries[len(hs.deliveries)-1]
}

func (hs *harness) got() []string {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return append([]string(nil), hs.triggered...)
}

func ghHeaders(event, body string, secret []byte) map[string]string {
	return map[string]string{
		"X-GitHub-Event":      event,
		"X-Hub-Signature-256": Sign(secret, []byte(body)),
		"Content-Type":        "application/json",
	}
}

func TestGitHubPushTriggersMatchingSources(t *testing.T) {
	hs := newHarness(t, nil)
	resp, r, d := hs.do(t, "POST", ghHeaders("push", githubPush, ghSecret), githubPush)
	if resp.StatusCode != http.StatusAccepted || r.Result != Accepted {
		t.Fatalf("status %d, %+v", resp.StatusCode, r)
	}
	got := hs.got()
	if strings.Join(got, ",") != "gh-main,gh-main-https" {
		t.Fatalf("triggered %v, want gh-main and gh-main-https (not the prod branch nor other repos)", got)
	}
	if d.Provider != GitHub || d.Event != "push" || d.Result != Accepted || len(d.Triggered) != 2 {
		t.Fatalf("delivery = %+v", d)
	}
}

func TestGitLabPush(t *testing.T) {
	hs := newHarness(t, nil)
	hdr := map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": string(glToken)}
	resp, r, _ := hs.do(t, "POST", hdr, gitlabPush)
	if resp.StatusCode != http.StatusAccepted || r.Result != Accepted || strings.Join(hs.got(), ",") != "gl" {
		t.Fatalf("status %d, %+v, triggered %v", resp.StatusCode, r, hs.got())
	}
	hdr["X-Gitlab-Token"] = "gl-Token-xyZ"
	resp, r, d := hs.do(t, "POST", hdr, gitlabPush)
	if resp.StatusCode != http.StatusUnauthorized || d.Result != Unauthorized || r.Result != Unauthorized {
		t.Fatalf("wrong token: status %d, %+v", resp.StatusCode, r)
	}
}

func TestGenericHMAC(t *testing.T) {
	hs := newHarness(t, nil)
	body := `{"ref":"refs/heads/prod","repository":"ssh://git@github.com/acme/segments"}`
	hdr := map[string]string{"X-Signature-256": Sign(genSecret, []byte(body))}
	resp, r, _ := hs.do(t, "POST", hdr, body)
	if resp.StatusCode != http.StatusAccepted || r.Result != Accepted || strings.Join(hs.got(), ",") != "gh-prod" {
		t.Fatalf("status %d, %+v, triggered %v", resp.StatusCode, r, hs.got())
	}
}

func TestRefusedAndIgnoredDeliveries(t *testing.T) {
	tampered := strings.Replace(githubPush, "refs/heads/main", "refs/heads/prod", 1)
	tagPush := strings.Replace(githubPush, "refs/heads/main", "refs/tags/v1", 1)
	deleted := strings.Replace(githubPush, `"deleted": false`, `"deleted": true`, 1)
	devPush := strings.Replace(githubPush, "refs/heads/main", "refs/heads/dev", 1)
	unknownRepo := strings.ReplaceAll(githubPush, "Segments", "Unknown")
	genericBody := `{"ref":"refs/heads/main","repository":{"url":"https://github.com/acme/segments"}}`
	cases := []struct {
		name   string
		method string
		hdr    map[string]string
		body   string
		status int
		result Result
	}{
		{"GET", "GET", nil, "", http.StatusMethodNotAllowed, BadRequest},
		{"no provider headers", "POST", nil, githubPush, http.StatusBadRequest, BadRequest},
		{"github unsigned", "POST", map[string]string{"X-GitHub-Event": "push"}, githubPush, http.StatusUnauthorized, Unauthorized},
		{"github wrong secret", "POST", ghHeaders("push", githubPush, []byte("nope")), githubPush, http.StatusUnauthorized, Unauthorized},
		{"github body tampered", "POST", ghHeaders("push", githubPush, ghSecret), tampered, http.StatusUnauthorized, Unauthorized},
		{"github sha1 signature", "POST", map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha1=abcd"}, githubPush, http.StatusUnauthorized, Unauthorized},
		{"github bad hex", "POST", map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=zz"}, githubPush, http.StatusUnauthorized, Unauthorized},
		{"gitlab no token", "POST", map[string]string{"X-Gitlab-Event": "Push Hook"}, gitlabPush, http.StatusUnauthorized, Unauthorized},
		{"generic wrong secret", "POST", map[string]string{"X-Signature-256": Sign([]byte("x"), []byte(genericBody))}, genericBody, http.StatusUnauthorized, Unauthorized},
		{"ping", "POST", ghHeaders("ping", `{"zen":"hi"}`, ghSecret), `{"zen":"hi"}`, http.StatusOK, Ignored},
		{"other event", "POST", ghHeaders("issues", `{}`, ghSecret), `{}`, http.StatusAccepted, Ignored},
		{"gitlab tag push", "POST", map[string]string{"X-Gitlab-Event": "Tag Push Hook", "X-Gitlab-Token": string(glToken)}, gitlabPush, http.StatusAccepted, Ignored},
		{"tag", "POST", ghHeaders("push", tagPush, ghSecret), tagPush, http.StatusAccepted, Ignored},
		{"deleted branch", "POST", ghHeaders("push", deleted, ghSecret), deleted, http.StatusAccepted, Ignored},
		{"unwatched branch", "POST", ghHeaders("push", devPush, ghSecret), devPush, http.StatusAccepted, Ignored},
		{"unknown repository", "POST", ghHeaders("push", unknownRepo, ghSecret), unknownRepo, http.StatusAccepted, Ignored},
		{"invalid JSON", "POST", ghHeaders("push", `{"ref":`, ghSecret), `{"ref":`, http.StatusBadRequest, BadRequest},
		{"no ref", "POST", ghHeaders("push", `{"repository":"x"}`, ghSecret), `{"repository":"x"}`, http.StatusBadRequest, BadRequest},
		{"no repository", "POST", ghHeaders("push", `{"ref":"refs/heads/main"}`, ghSecret), `{"ref":"refs/heads/main"}`, http.StatusBadRequest, BadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hs := newHarness(t, nil)
			resp, r, d := hs.do(t, c.method, c.hdr, c.body)
			if resp.StatusCode != c.status || r.Result != c.result || d.Result != c.result {
				t.Fatalf("status %d result %q (observed %q), want %d %q; reason %q", resp.StatusCode, r.Result, d.Result, c.status, c.result, r.Reason)
			}
			if got := hs.got(); len(got) != 0 {
				t.Fatalf("triggered %v", got)
			}
			for _, s := range [][]byte{ghSecret, glToken, genSecret} {
				if strings.Contains(r.Reason, string(s)) || strings.Contains(d.Reason, string(s)) {
					t.Fatalf("secret in reason %q", r.Reason)
				}
			}
		})
	}
}

func TestDisabledProvider(t *testing.T) {
	hs := newHarness(t, func(o *Options) { o.GitHubSecret = nil })
	resp, _, _ := hs.do(t, "POST", ghHeaders("push", githubPush, nil), githubPush)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d: an unconfigured provider must not be accepted (even with an empty-key HMAC)", resp.StatusCode)
	}
}

func TestBodyLimit(t *testing.T) {
	hs := newHarness(t, func(o *Options) { o.MaxBodyBytes = 512 })
	big := `{"ref":"refs/heads/main","pad":"` + strings.Repeat("x", 600) + `"}`
	resp, r, d := hs.do(t, "POST", ghHeaders("push", big, ghSecret), big)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || r.Result != TooLarge || d.Result != TooLarge {
		t.Fatalf("status %d, %+v", resp.StatusCode, r)
	}

	// Without a Content-Length the limit applies while reading.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/hook", io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	for k, v := range ghHeaders("push", big, ghSecret) {
		req.Header.Set(k, v)
	}
	hs.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked body: status %d", rec.Code)
	}

	// The default limit is 1 MiB.
	h, err := New(Options{GenericSecret: genSecret, Trigger: func(string) error { return nil }})
	if err != nil || h.opts.MaxBodyBytes != 1<<20 {
		t.Fatalf("default limit %d, %v", h.opts.MaxBodyBytes, err)
	}
}

func TestTriggerRefused(t *testing.T) {
	hs := newHarness(t, nil)
	hs.refuse["gh-main"] = errors.New("job is suspended")
	hs.refuse["gh-main-https"] = errors.New("job is suspended")
	resp, r, _ := hs.do(t, "POST", ghHeaders("push", githubPush, ghSecret), githubPush)
	if resp.StatusCode != http.StatusAccepted || r.Result != Ignored || !strings.Contains(r.Reason, "suspended") {
		t.Fatalf("status %d, %+v", resp.StatusCode, r)
	}
	delete(hs.refuse, "gh-main")
	_, r, _ = hs.do(t, "POST", ghHeaders("push", githubPush, ghSecret), githubPush)
	if r.Result != Accepted || len(r.Triggered) != 1 || r.Triggered[0] != "gh-main" || !strings.Contains(r.Reason, "gh-main-https") {
		t.Fatalf("partial: %+v", r)
	}
}

func TestNew(t *testing.T) {
	trig := func(string) error { return nil }
	for name, o := range map[string]Options{
		"no trigger":  {GitHubSecret: ghSecret},
		"no secret":   {Trigger: trig},
		"bad source":  {GitHubSecret: ghSecret, Trigger: trig, Sources: []Source{{Name: "x", URL: "not a url"}}},
		"source name": {GitHubSecret: ghSecret, Trigger: trig, Sources: []Source{{URL: "https://h/x"}}},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func TestNormalizeRepoURL(t *testing.T) {
	same := []string{
		"https://github.com/Acme/Segments",
		"https://github.com/acme/segments.git",
		"https://github.com/acme/segments/",
		"http://user:pw@GITHUB.com:443/acme/segments.git",
		"ssh://git@github.com/acme/segments.git",
		"ssh://git@github.com:22/acme/segments",
		"git@github.com:acme/segments.git",
		"github.com:acme/segments",
		"git://github.com/acme/segments.git",
	}
	for _, s := range same {
		if got := NormalizeRepoURL(s); got != "github.com/acme/segments" {
			t.Errorf("NormalizeRepoURL(%q) = %q", s, got)
		}
	}
	for _, s := range []string{"", "not a url", "https://github.com/", "https:///x", "/local/path"} {
		if got := NormalizeRepoURL(s); got != "" {
			t.Errorf("NormalizeRepoURL(%q) = %q, want empty", s, got)
		}
	}
	if NormalizeRepoURL("https://github.com/acme/segments") == NormalizeRepoURL("https://gitlab.com/acme/segments") {
		t.Error("different hosts compare equal")
	}
}
