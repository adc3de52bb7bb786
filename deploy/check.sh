#!/usr/bin/env bash
# Deployment checks run by CI: the Dockerfile's build, the Kustomize overlays,
# and the alert rules with their unit tests.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "--- the Dockerfile's build, with the Dockerfile's flags"
flags=$(grep -o 'CGO_ENABLED=0 go build .* ./cmd/reconciler' Dockerfile)
[ -n "$flags" ] || { echo "build line not found in Dockerfile"; exit 1; }
out=$(mktemp -d)
VERSION=check COMMIT=$(git rev-parse HEAD 2>/dev/null || echo unknown)
eval "VERSION=$VERSION COMMIT=$COMMIT ${flags/-o \/out\/reconciler/-o $out/reconciler}"
"$out/reconciler" version | grep -q "reconciler check (commit $COMMIT" || { echo "version not stamped"; exit 1; }
if go version -m "$out/reconciler" | grep -q 'CGO_ENABLED=1'; then echo "binary is not static"; exit 1; fi
if command -v ldd >/dev/null && ldd "$out/reconciler" 2>&1 | grep -qv 'not a dynamic executable'; then
  echo "binary is dynamically linked"; ldd "$out/reconciler"; exit 1
fi
echo "static binary ok: $("$out/reconciler" version)"
rm -rf "$out"

echo "--- kustomize"
if command -v kubectl >/dev/null; then
  for o in deploy/overlays/*/; do
    kubectl kustomize "$o" > /dev/null
    echo "rendered $o"
  done
else
  echo "WARNING: kubectl not found; overlays not rendered" >&2
fi

echo "--- alert rules"
promtool check rules deploy/alerts/reconciler-rules.yaml
(cd deploy/alerts && promtool test rules tests.yaml)
