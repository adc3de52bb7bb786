package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
)

// Mask replaces every redacted secret.
const Mask = "[REDACTED]"

// minSecretLen is the shortest value treated as a secret; shorter values
// would mask ordinary words.
const minSecretLen = 4

// userinfoRE matches the user information of a URL ("https://user:pw@").
var userinfoRE = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s"']+@`)

// Redactor holds the secret values to mask. It is safe for concurrent use.
type Redactor struct {
	mu      sync.RWMutex
	secrets []string
	rep     *strings.Replacer
}

// NewRedactor returns a Redactor masking secrets.
func NewRedactor(secrets ...string) *Redactor {
	r := &Redactor{}
	r.Add(secrets...)
	return r
}

// Add adds secret values; empty and very short values are ignored.
func (r *Redactor) Add(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range secrets {
		if len(s) >= minSecretLen {
			r.secrets = append(r.secrets, s)
		}
	}
	pairs := make([]string, 0, 2*len(r.secrets))
	for _, s := range r.secrets {
		pairs = append(pairs, s, Mask)
	}
	r.rep = strings.NewReplacer(pairs...)
}

// String returns s with secrets and URL user information masked.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	r.mu.RLock()
	rep := r.rep
	r.mu.RUnlock()
	if rep != nil {
		s = rep.Replace(s)
	}
	if strings.Contains(s, "@") {
		s = userinfoRE.ReplaceAllString(s, "${1}"+Mask+"@")
	}
	return s
}

// Handler masks secrets in every record before passing it on.
type Handler struct {
	inner slog.Handler
	r     *Redactor
}

// NewHandler wraps inner with redaction by r.
func NewHandler(inner slog.Handler, r *Redactor) *Handler {
	return &Handler{inner: inner, r: r}
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.inner.Handle(ctx, out)
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = h.attr(a)
	}
	return &Handler{inner: h.inner.WithAttrs(red), r: h.r}
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{inner: h.inner.WithGroup(name), r: h.r}
}

func (h *Handler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.r.String(v.String()))
	case slog.KindGroup:
		g := v.Group()
		red := make([]any, len(g))
		for i, ga := range g {
			red[i] = h.attr(ga)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, h.r.String(x.Error()))
		case fmt.Stringer:
			return slog.String(a.Key, h.r.String(x.String()))
		case []string:
			red := make([]string, len(x))
			for i, s := range x {
				red[i] = h.r.String(s)
			}
			return slog.Any(a.Key, red)
		default:
			// Render anything else as text so nothing escapes the mask.
			return slog.String(a.Key, h.r.String(fmt.Sprintf("%+v", x)))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// ParseLevel parses debug, info, warn or error.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log level %q: %w", s, err)
	}
	return l, nil
}

// New returns a logger writing JSON (format "json" or "") or text
// ("text") records at level and above to w, through redaction by r.
func New(w io.Writer, level, format string, r *Redactor) (*slog.Logger, error) {
	lvl := slog.LevelInfo
	if level != "" {
		var err error
		if lvl, err = ParseLevel(level); err != nil {
			return nil, err
		}
	}
	opts := &slog.HandlerOptions{Level: lvl}
	var inner slog.Handler
	switch format {
	case "", "json":
		inner = slog.NewJSONHandler(w, opts)
	case "text":
		inner = slog.NewTextHandler(w, opts)
	default:
		return nil, fmt.Errorf("log format %q: want json or text", format)
	}
	if r == nil {
		r = NewRedactor()
	}
	return slog.New(NewHandler(inner, r)), nil
}
