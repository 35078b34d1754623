#!/usr/bin/env bash
# Builds OPA Gatekeeper's `gator` CLI from the Go module proxy into the
# git-ignored cache, for `make bench-check`, which compares `ta-guard check`
# with it on the same manifests. Reused on later runs.
#
# Usage:
#   hack/gator.sh    build if missing; print the binary's path on stdout
#
# Environment:
#   TA_GUARD_CACHE          cache root (default: <repo>/.cache)
#   TA_GUARD_GATOR_VERSION  override GATOR_VERSION below
set -euo pipefail

GATOR_VERSION="${TA_GUARD_GATOR_VERSION:-v3.23.1}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_ROOT="${TA_GUARD_CACHE:-${REPO_ROOT}/.cache}"
BIN="${CACHE_ROOT}/gator/${GATOR_VERSION}/gator"
log() { printf 'gator: %s\n' "$*" >&2; }

if [[ -x "${BIN}" ]]; then
  echo "${BIN}"
  exit 0
fi
build="$(mktemp -d)"
trap 'rm -rf "${build}"' EXIT
log "building gator ${GATOR_VERSION} from the module proxy (a few minutes on 2 cores)"
cd "${build}"
# A throwaway module that requires gatekeeper: its own go.mod pins the rest
# (it has no replace directives to carry over).
go mod init gator-build >/dev/null 2>&1
go get "github.com/open-policy-agent/gatekeeper/v3/cmd/gator@${GATOR_VERSION}" >&2
mkdir -p "$(dirname "${BIN}")"
CGO_ENABLED=0 go build -trimpath -o "${BIN}.tmp" github.com/open-policy-agent/gatekeeper/v3/cmd/gator >&2
mv "${BIN}.tmp" "${BIN}"
log "built ${BIN}"
echo "${BIN}"
