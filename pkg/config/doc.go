// Package config loads the reconciler's configuration file.
//
// One file, written in CUE or YAML, is validated against the CUE schema in
// schemas/config (the same schema for both syntaxes), decoded into Config,
// and completed with the checks the schema cannot express: cron syntax of
// schedules and freeze windows, unique source names and owners, exactly one
// Databricks authentication, ordered leader election durations, protected
// objects that name exactly the fields of their kind. Secrets
// (API keys, tokens, passwords) are only ever named by an environment
// variable or a file; a literal secret in the file is an error, reported
// without repeating its value. Load reports every problem at once, each with
// file:line:col, as a *diag.InvalidError.
package config
