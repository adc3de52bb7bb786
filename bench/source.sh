#!/bin/sh
# Benchmarks of internal/source against a local smart-HTTP git server
# (git http-backend), with 1,000 and 10,000 files:
#   - LatestRevision / FetchUnchanged: the "is there a new commit" check;
#   - FetchNewCommit: incremental fetch of a one-file change plus reading
#     every file of the snapshot (memory and on-disk cache);
#   - Clone: a fresh shallow clone plus reading every file (first Fetch and
#     each cache rebuild);
#   - MemoryOver200Fetches: live heap after 20 and after 200 fetches.
# Usage: bench/source.sh [extra go test flags]
set -eu
cd "$(dirname "$0")/.."
go test -run '^$' -benchmem -timeout 60m \
	-bench 'LatestRevision|FetchUnchanged' ./internal/source/ "$@"
go test -run '^$' -benchmem -timeout 60m -benchtime 10x \
	-bench 'FetchNewCommit|Clone' ./internal/source/ "$@"
go test -run '^$' -benchmem -timeout 60m -benchtime 1x \
	-bench 'MemoryOver200Fetches' ./internal/source/ "$@"
