#!/bin/sh
# Commit-to-applied latency of the daemon through the GitHub webhook, the
# cost of a run that changes nothing, and the daemon's peak memory, in
# repositories of 1,000, 10,000 and 100,000 segments, at the Treasure
# client's default rate limit (2 requests/s, burst 2).
#
# The benchmark (test/e2e, BenchmarkCommitToApplied) builds the reconciler
# binary as it ships (CGO_ENABLED=0), starts a git server (git http-backend),
# both stand-ins and `reconciler run --config` without rate limit, which
# applies the whole repository once (initial-apply-s,
# initial-apply-peak-RSS-MiB) and observes it; it stops it and starts the
# measured daemon at the default rate limit on the same cache directory
# (restart-first-run-s: cold load, observe with the saved rule cache). Five
# runs of the same revision one second apart give the cost of a run that
# changes nothing (noop-run-ms, noop-STEP-ms: medians of the steps as
# /status shows them; noop-requests to Treasure). Then each iteration pushes
# a one-segment change, delivers a signed push webhook and waits until
# Treasure Data (the stand-in) holds the new rule. The clock starts when the
# push is done (as a git host sends its webhook then). It reports p50-ms
# and p95-ms of those waits, push-to-run-end-p50-ms (the run goes on after
# the write), change-STEP-ms, change-requests, git-push-p50-ms (the test's
# own commit and push) and daemon-peak-RSS-MiB (VmHWM of the measured
# daemon, its cold load included).
#
# BENCH_PPROF=1 serves the daemon's /debug/pprof/ (address printed);
# BENCH_DAEMON_ENV="GODEBUG=gctrace=1 GOGC=100" adds variables to the
# daemon's environment.
#
# Needs cgo (the warehouse stand-in embeds DuckDB) and git.
# Usage: bench/daemon.sh [SIZE] [ITERATIONS] [extra go test flags]
#   SIZE: 1000, 10000, 100000 or all (default all); ITERATIONS default 20.
# BENCH_LOG_LEVEL=info shows the daemon's run log lines.
set -eu
cd "$(dirname "$0")/.."
size=${1:-all}
iterations=${2:-20}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && shift
case "$size" in
all) filter='CommitToApplied' ;;
1000 | 10000 | 100000) filter="CommitToApplied/segments=$size\$" ;;
*) echo "usage: bench/daemon.sh [1000|10000|100000|all] [ITERATIONS]" >&2; exit 2 ;;
esac
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
CGO_ENABLED=1 go test -run '^$' -timeout 180m -benchtime "${iterations}x" \
	-bench "$filter" ./test/e2e/ "$@"
