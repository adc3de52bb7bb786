// Package logging sets up the reconciler's structured logs (log/slog, JSON or
// text) behind a redaction layer.
//
// Every record passes through a Handler that masks the configured secret
// values (API keys, tokens, passwords, webhook secrets) and the user
// information of URLs wherever they appear: in the message, in string
// attributes, in errors and in nested groups. The set of secrets can grow
// after the logger is built (Redactor.Add), so secrets read later are masked
// too.
package logging
