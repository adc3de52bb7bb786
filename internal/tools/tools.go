//go:build tools

// Package tools pins modules that are used only behind build constraints
// (cgo, tests), so that go.mod stays stable across machines.
package tools

import (
	_ "cuelang.org/go/cue"
	_ "github.com/apache/thrift/lib/go/thrift"
	_ "github.com/databricks/databricks-sql-go"
	_ "github.com/duckdb/duckdb-go/v2"
	_ "github.com/go-git/go-git/v5"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/robfig/cron/v3"
	_ "gopkg.in/yaml.v3"
)
