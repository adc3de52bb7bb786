#!/bin/sh
# Request budget and speed of observing Treasure Data: 10,000 segments in
# 200 folders against the in-process stand-in, unchanged (warm cache), with
# one segment changed per observe, and cold (every rule read).
set -eu
cd "$(dirname "$0")/.."
exec go test ./pkg/treasure/ -run '^$' -bench 'BenchmarkObserve' -benchtime "${BENCHTIME:-5x}" "$@"
