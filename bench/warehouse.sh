#!/usr/bin/env bash
# Benchmarks of the Databricks SQL warehouse stand-in (pkg/dbxstandin):
# a 2,000-column information_schema query through databricks-sql-go, and
# building the retail fixture. Needs cgo (DuckDB).
# Usage: bench/warehouse.sh [extra go test flags, e.g. -benchtime=5s]
set -euo pipefail
cd "$(dirname "$0")/.."
go test -run '^$' -bench 'InformationSchema2000Columns|LoadRetailFixture' -benchmem "$@" ./pkg/dbxstandin/
