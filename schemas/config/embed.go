// Package config holds the CUE schema of the reconciler's configuration file.
//
// The schema is the single source of truth for the file's shape, defaults and
// bounds; package internal/config unifies every configuration file (CUE or YAML)
// with it and adds the checks CUE cannot express (cron syntax, secret
// sources, durations that must be ordered).
package config

import _ "embed"

// Schema is the text of config.cue. It defines #Config.
//
//go:embed config.cue
var Schema []byte

// Filename is the name under which positions in the schema are reported.
const Filename = "schemas/config/config.cue"
