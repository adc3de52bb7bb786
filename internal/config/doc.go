// Package config loads the reconciler's configuration file.
//
// One file, written in CUE or YAML, is validated against the CUE schema in
// schemas/config (the same schema for both syntaxes), decoded into Config,
// and completed with the checks the schema cannot express: cron syntax of
// schedules and freeze windows, unique source names and owners, exactly one
// Databricks authentication, ordered leader election durations, protected
// objects that name exactly the fields of their kind, source URLs without
// credentials (they belong in auth). Secrets (API keys, tokens, passwords)
// are only ever named by an environment variable or a file; a literal
// secret in the file is an error, reported without repeating its value.
// Load reads every secret; LoadUsing only those of the parts a command uses
// (Uses), checking the other references for shape only, so that a file can
// be checked where its secrets are absent. Both report every problem at
// once, each with file:line:col, as a *diag.InvalidError.
package config
