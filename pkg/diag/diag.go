package diag

import (
	"cmp"
	"fmt"
	"slices"
)

// Severity says whether a diagnostic blocks a reconcile.
type Severity int

const (
	// Error blocks validation, planning and applying.
	Error Severity = iota
	// Warning is reported but does not block.
	Warning
)

// String returns "error" or "warning".
func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// MarshalText renders the severity as its name in JSON and other text formats.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses "error" or "warning".
func (s *Severity) UnmarshalText(b []byte) error {
	switch string(b) {
	case "error":
		*s = Error
	case "warning":
		*s = Warning
	default:
		return fmt.Errorf("unknown severity %q", b)
	}
	return nil
}

// Pos is a position in a source file. File is slash-separated and relative to
// the repository root. Line and Col are 1-based; zero means unknown.
type Pos struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
}

// IsValid reports whether the position names at least a file.
func (p Pos) IsValid() bool { return p.File != "" }

// String renders "file:line:col", dropping unknown parts.
func (p Pos) String() string {
	switch {
	case p.File == "":
		return ""
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	default:
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
	}
}

// Compare orders positions by file, line and column.
func (p Pos) Compare(q Pos) int {
	if c := cmp.Compare(p.File, q.File); c != 0 {
		return c
	}
	if c := cmp.Compare(p.Line, q.Line); c != 0 {
		return c
	}
	return cmp.Compare(p.Col, q.Col)
}

// Diagnostic is one problem found in user input.
type Diagnostic struct {
	Severity Severity `json:"severity"`
	// Summary is one short lowercase sentence, without position.
	Summary string `json:"summary"`
	// Detail explains the problem and, where possible, how to fix it
	// (a "did you mean", the real column type, ...). It may be empty.
	Detail string `json:"detail,omitempty"`
	// Pos is where the problem is; it may be the zero Pos for problems that
	// belong to no file (for example an unreachable warehouse).
	Pos Pos `json:"pos"`
	// Code is a stable machine-readable identifier of the kind of problem,
	// such as "unknown-attribute"; tests and tooling match on it.
	Code string `json:"code,omitempty"`
}

// String renders the compiler-style line "file:line:col: severity: summary".
func (d Diagnostic) String() string {
	s := d.Severity.String() + ": " + d.Summary
	if p := d.Pos.String(); p != "" {
		s = p + ": " + s
	}
	return s
}

// Diagnostics is a list of diagnostics. The nil value means no problems.
type Diagnostics []Diagnostic

// Errorf returns a one-element Diagnostics of severity Error.
func Errorf(pos Pos, code, format string, args ...any) Diagnostic {
	return Diagnostic{Severity: Error, Pos: pos, Code: code, Summary: fmt.Sprintf(format, args...)}
}

// Warnf returns a diagnostic of severity Warning.
func Warnf(pos Pos, code, format string, args ...any) Diagnostic {
	return Diagnostic{Severity: Warning, Pos: pos, Code: code, Summary: fmt.Sprintf(format, args...)}
}

// WithDetail returns a copy of d with Detail set.
func (d Diagnostic) WithDetail(format string, args ...any) Diagnostic {
	d.Detail = fmt.Sprintf(format, args...)
	return d
}

// HasErrors reports whether any diagnostic has severity Error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// Count returns the number of errors and warnings.
func (ds Diagnostics) Count() (errors, warnings int) {
	for _, d := range ds {
		if d.Severity == Error {
			errors++
		} else {
			warnings++
		}
	}
	return errors, warnings
}

// Sort orders diagnostics by position, then severity, then summary, and
// removes exact duplicates. It returns the (possibly shorter) slice.
func (ds Diagnostics) Sort() Diagnostics {
	slices.SortStableFunc(ds, func(a, b Diagnostic) int {
		if c := a.Pos.Compare(b.Pos); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Severity, b.Severity); c != 0 {
			return c
		}
		return cmp.Compare(a.Summary, b.Summary)
	})
	return slices.Compact(ds)
}

// Err returns an error that summarises the diagnostics if any of them is an
// error, and nil otherwise.
func (ds Diagnostics) Err() error {
	if !ds.HasErrors() {
		return nil
	}
	return &InvalidError{Diags: ds}
}

// InvalidError is the error returned by Diagnostics.Err. Callers that need the
// individual diagnostics use errors.As.
type InvalidError struct{ Diags Diagnostics }

func (e *InvalidError) Error() string {
	n, _ := e.Diags.Count()
	for _, d := range e.Diags {
		if d.Severity == Error {
			if n == 1 {
				return d.String()
			}
			return fmt.Sprintf("%s (and %d more errors)", d, n-1)
		}
	}
	return "invalid"
}
