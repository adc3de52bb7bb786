#!/usr/bin/env bash
# spec.sh times a cold `reconciler validate` of a generated repository of N
# segment files (default 10000) beside `cue export` of the same files, and
# prints both wall times, their ratio and peak memory.
#
# Usage: bench/spec.sh [N]
# Environment: CUE=path/to/cue to use an existing cue command (else one is
# built from cuelang.org/go/cmd/cue@v0.17.1); KEEP=1 keeps the work directory.
#
# Targets: validate wall time <= 0.4x cue export, validate peak RSS < 256 MiB.
set -euo pipefail

n=${1:-10000}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
if [[ -z ${KEEP:-} ]]; then trap 'rm -rf "$work"' EXIT; fi

echo "building reconciler" >&2
(cd "$root" && CGO_ENABLED=0 go build -o "$work/reconciler" ./cmd/reconciler)
cue=${CUE:-}
if [[ -z $cue ]]; then
	echo "building cue v0.17.1" >&2
	GOBIN="$work" go install cuelang.org/go/cmd/cue@v0.17.1
	cue="$work/cue"
fi

repo="$work/repo"
echo "generating $n segment files in $repo" >&2
(cd "$root" && SPEC_GEN_DIR="$repo" SPEC_GEN_N="$n" go test -count=1 -run '^TestGenerateRepo$' ./pkg/spec >/dev/null)
# Make it a CUE module that sees the schema, as an author's repository would,
# so that cue export evaluates the same definitions.
mkdir -p "$repo/cue.mod/pkg/cas.treasuredata.dev/schemas"
cp -r "$root/schemas/cue.mod" "$root/schemas/cas" "$repo/cue.mod/pkg/cas.treasuredata.dev/schemas/"
cp "$root/examples/retail/cue.mod/module.cue" "$repo/cue.mod/module.cue"
cp "$root/examples/retail/repo.cue" "$repo/repo.cue"

# measure LABEL DIR CMD...: runs CMD in DIR under GNU time when available
# and sets wall (seconds) and rss (MiB).
measure() {
	local label=$1 dir=$2
	shift 2
	local log="$work/${label//[^A-Za-z0-9]/_}.time"
	if [[ -x /usr/bin/time ]]; then
		(cd "$dir" && /usr/bin/time -v "$@" >/dev/null 2>"$log") || true
		wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$log")
		rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$log")
	else
		local start end
		start=$(date +%s.%N)
		(cd "$dir" && "$@" >/dev/null 2>&1) || true
		end=$(date +%s.%N)
		wall=$(echo "$end - $start" | bc)
		rss="?"
	fi
	printf '%-28s wall %8.2f s   peak RSS %6s MiB\n' "$label" "$wall" "$rss"
}

echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
measure "reconciler validate" "$repo" "$work/reconciler" validate --max-files $((n + 10)) .
vwall=$wall vrss=$rss
measure "cue export ./..." "$repo" "$cue" export ./...
cwall=$wall
ratio=$(awk -v a="$vwall" -v b="$cwall" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
echo "segments: $n   validate/export wall ratio: $ratio (target <= 0.40)   validate peak RSS: $vrss MiB (target < 256)"
