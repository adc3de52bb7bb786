package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestRedactsEverywhere(t *testing.T) {
	var buf bytes.Buffer
	r := NewRedactor("td-key-123456")
	log, err := New(&buf, "debug", "json", r)
	if err != nil {
		t.Fatal(err)
	}
	r.Add("late-secret-xyz", "ab") // added after the logger was built; "ab" is too short to mask
	log = log.With("fixed", "key td-key-123456 in With")
	log.Info("message with td-key-123456",
		"url", "https://user:ghp_tok@git.example.com/org/repo.git",
		"err", fmt.Errorf("wrapped: %w", errors.New("late-secret-xyz rejected")),
		slog.Group("g", "inner", "td-key-123456", "n", 3),
		"list", []string{"ok", "late-secret-xyz"},
		"any", struct{ K string }{"td-key-123456"},
		"short", "ab",
	)
	out := buf.String()
	for _, leak := range []string{"td-key-123456", "late-secret-xyz", "ghp_tok", "user:"} {
		if strings.Contains(out, leak) {
			t.Errorf("log line leaks %q: %s", leak, out)
		}
	}
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not JSON: %v: %s", err, out)
	}
	if rec["url"] != "https://[REDACTED]@git.example.com/org/repo.git" {
		t.Errorf("url = %v", rec["url"])
	}
	if rec["short"] != "ab" {
		t.Errorf("short value masked: %v", rec["short"])
	}
	if g, _ := rec["g"].(map[string]any); g["n"] != float64(3) || g["inner"] != Mask {
		t.Errorf("group = %v", rec["g"])
	}
}

func TestLevelsAndFormats(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(&buf, "warn", "text", nil)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown")
	if s := buf.String(); strings.Contains(s, "hidden") || !strings.Contains(s, "msg=shown") {
		t.Errorf("text output = %q", s)
	}
	if _, err := New(&buf, "loud", "json", nil); err == nil {
		t.Error("bad level accepted")
	}
	if _, err := New(&buf, "info", "xml", nil); err == nil {
		t.Error("bad format accepted")
	}
}
