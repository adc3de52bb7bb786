#!/bin/sh
# Plan benchmark (pkg/plan, pure, no cgo):
#   - BenchmarkCompute10000: plan 10,000 segments in 200 folders, every
#     tenth referencing another, against an observed state decoded
#     separately (own slices, no source positions, reference ids filled)
#     that matches except for one segment; time and allocations per plan.
# Target: well under one second per plan. Figures: bench/plan.md.
# Usage: bench/plan.sh [count]
set -eu
cd "$(dirname "$0")/.."
count=${1:-5}
go test -run '^$' -bench 'BenchmarkCompute10000' -benchmem -count "$count" ./pkg/plan/
