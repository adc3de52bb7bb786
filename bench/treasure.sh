#!/bin/sh
# Request budget and speed of observing Treasure Data: 10,000 segments in
# 200 folders against the in-process stand-in, unchanged (warm cache), with
# one segment changed per observe, cold (every rule read), after a restart
# with and without the saved rule cache, and the Treasure part of a
# one-segment run at 2 requests/s on real time.
set -eu
cd "$(dirname "$0")/.."
exec go test ./pkg/treasure/ -run '^$' -bench 'BenchmarkObserve|BenchmarkOneChangeRun' -benchtime "${BENCHTIME:-5x}" "$@"
