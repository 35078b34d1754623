#!/usr/bin/env bash
# Builds what the demo needs, then runs it (make demo, make dev).
#
# Usage:
#   hack/demo.sh          walk the troubleshooting guide, exit 0 if every step
#                         printed what it should (make demo)
#   hack/demo.sh --keep   keep the sandbox up until Ctrl-C (make dev)
#
# Expects bin/ta-guard (make build). kube-apiserver, etcd and kubectl are built
# once from the Go module proxy by hack/k8s-bins.sh and reused from .cache/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
GO="${GO:-go}"

log() { printf 'demo: %s\n' "$*" >&2; }

[[ -x bin/ta-guard ]] || { log "bin/ta-guard is missing: run make build (or make demo)"; exit 1; }

bindir="$(hack/k8s-bins.sh --print-dir)"
missing=()
for b in kube-apiserver etcd kubectl; do
  [[ -x "${bindir}/${b}" ]] || missing+=("${b}")
done
if ((${#missing[@]} > 0)); then
  list="$(printf '%s, ' "${missing[@]}")"
  log "first run: building ${list%, } from the Go module proxy into ${bindir#"${PWD}/"}"
  log "this takes several minutes on 2 cores (kube-apiserver alone about 4); later runs reuse them"
  start=${SECONDS}
  # A heartbeat while the builds print nothing. Its sleeps are short, so
  # that nothing outlives the script for more than a second.
  (
    n=0
    while sleep 1; do
      n=$((n + 1))
      if ((n % 30 == 0)); then log "still building... $((n / 60))m$((n % 60))s"; fi
    done
  ) &
  heartbeat=$!
  trap 'kill "${heartbeat}" 2>/dev/null || true' EXIT
  hack/k8s-bins.sh >/dev/null
  kill "${heartbeat}" 2>/dev/null || true
  log "built in $(((SECONDS - start) / 60))m$(((SECONDS - start) % 60))s"
else
  # Checks the versions; builds only what is missing or stale.
  hack/k8s-bins.sh >/dev/null
fi

"${GO}" build -o bin/demo ./hack/demo
exec bin/demo --assets "${bindir}" "$@"
