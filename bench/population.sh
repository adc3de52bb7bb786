#!/bin/sh
# Population preview cost: 1, 10 and 100 random changed segments and the
# example repository's segments, each set counted in one statement on the
# warehouse stand-in, against a plain COUNT(*) of the same tables and a scan
# of every column the rules may read. ROWS customer rows (default
# 1,000,000); every behavior table has as many rows. Prints the load average
# before and after.
set -eu
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
POPULATION_BENCH_ROWS=$ROWS go test -run XXX -bench BenchmarkPopulation -benchtime 1x -timeout 2h ./pkg/population
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
