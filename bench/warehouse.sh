#!/bin/sh
# Snapshot of 50 tables / 2,000 columns against the Databricks stand-in:
# statements issued per snapshot and wall time, cold (empty cache) with each
# privilege check, and cached (nothing changed).
# Usage: bench/warehouse.sh [count]   (needs cgo for the stand-in)
set -eu
cd "$(dirname "$0")/.."
count=${1:-3}
go test -run '^$' -bench 'BenchmarkSnapshot' -benchtime 10x -count "$count" ./pkg/warehouse/
