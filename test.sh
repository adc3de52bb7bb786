#!/usr/bin/env bash
# Runs the whole test suite with the race detector and prints a summary.
# Usage: ./test.sh [extra go test flags]
set -uo pipefail
cd "$(dirname "$0")"
log=$(mktemp)
go test -race -timeout 40m "$@" ./... 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
echo
echo "=== go test summary"
grep -E '^(ok|FAIL|---|panic:)|\[no test files\]' "$log" | grep -v '^--- PASS' | grep -v 'no test files' || true
passed=$(grep -c '^ok' "$log" || true)
failed=$(grep -c '^FAIL' "$log" || true)
echo "packages ok: $passed, failed lines: $failed, exit status: $status"
rm -f "$log"
exit "$status"
