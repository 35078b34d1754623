#!/usr/bin/env bash
# Builds helm from the Go module proxy (no release downloads here) into the
# git-ignored cache and prints its path; later runs reuse it.
#   hack/helm.sh              build if missing, print the path
#   hack/helm.sh --print      print the path only
set -euo pipefail
HELM_VERSION="${TA_GUARD_HELM_VERSION:-v3.22.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${TA_GUARD_CACHE:-${ROOT}/.cache}/helm/${HELM_VERSION}"
BIN="${DIR}/helm"
if [[ "${1:-}" == "--print" ]]; then printf '%s\n' "${BIN}"; exit 0; fi
if [[ ! -x "${BIN}" ]]; then
  echo "helm: building helm ${HELM_VERSION} from the Go module proxy (first time only, about a minute)..." >&2
  mkdir -p "${DIR}"
  # go install of a versioned package builds it with its own go.mod, apart
  # from this module's dependencies.
  (cd "${DIR}" && GOWORK=off GOFLAGS=-mod=mod GOBIN="${DIR}" go install "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}")
fi
printf '%s\n' "${BIN}"
