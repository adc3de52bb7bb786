package source

import (
	"errors"
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	cases := map[string]string{
		"https://github.com/acme/segments.git":                                       "https://github.com/acme/segments.git",
		"https://x-access-token:ghp_abc123@github.com/acme/s.git":                    "https://redacted@github.com/acme/s.git",
		"https://ghp_abc123@github.com/acme/s.git":                                   "https://redacted@github.com/acme/s.git",
		"https://gitlab.com/a/b.git?private_token=glpat-xyz&service=git-upload-pack": "https://gitlab.com/a/b.git?private_token=redacted&service=git-upload-pack",
		"https://h/a.git#frag-secret":                                                "https://h/a.git",
		"ssh://git@github.com/acme/s.git":                                            "ssh://git@github.com/acme/s.git",
		"ssh://git:pw123@github.com/acme/s.git":                                      "ssh://git@github.com/acme/s.git",
		"git@github.com:acme/s.git":                                                  "git@github.com:acme/s.git",
		"https://user:pw@h/x%zz":                                                     "<invalid url>",
		"":                                                                           "",
	}
	for in, want := range cases {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRedactorScrubsText(t *testing.T) {
	r := newRedactor("tok/en+1", "", "pass")
	in := `Get "https://bob:tok%2Fen%2B1@h/x.git/info/refs?service=git-upload-pack": tok/en+1 rejected (pass), see https://u:other@h2/y.`
	got := r.String(in)
	for _, secret := range []string{"tok/en+1", "tok%2Fen%2B1", "pass", "other", "bob"} {
		if strings.Contains(got, secret) {
			t.Errorf("%q survives in %q", secret, got)
		}
	}
	if !strings.Contains(got, "https://redacted@h2/y.") {
		t.Errorf("trailing punctuation mangled: %q", got)
	}
}

func TestErrorDoesNotUnwrapToLibraryError(t *testing.T) {
	r, err := New(Options{URL: "https://u:Pw-999@h/x.git"})
	if err != nil {
		t.Fatal(err)
	}
	e := r.newError("fetch", KindOther, errors.New(`Get "https://u:Pw-999@h/x.git": Pw-999`))
	if strings.Contains(e.Error(), "Pw-999") {
		t.Fatalf("secret in error: %q", e.Error())
	}
	for _, c := range e.Unwrap() {
		if strings.Contains(c.Error(), "Pw-999") {
			t.Fatalf("secret in unwrapped error %q", c.Error())
		}
	}
	if e.Kind != KindOther || e.Kind.String() != "other" {
		t.Fatalf("kind = %v", e.Kind)
	}
}
