#!/bin/sh
# Warehouse benchmarks:
#   - BenchmarkSnapshot (internal/warehouse, needs cgo for the Databricks
#     stand-in): a snapshot of 50 tables / 2,000 columns; statements issued
#     per snapshot and wall time, cold (empty cache) with each privilege
#     check, and cached (nothing changed);
#   - BenchmarkCheck (pkg/validate): the pure checks of a parent segment
#     over the same 2,000 columns with 200 segments.
# Usage: bench/warehouse.sh [count]
set -eu
cd "$(dirname "$0")/.."
count=${1:-3}
go test -run '^$' -bench 'BenchmarkSnapshot' -benchtime 10x -count "$count" ./internal/warehouse/
go test -run '^$' -bench 'BenchmarkCheck' -benchmem -count "$count" ./pkg/validate/
