#!/usr/bin/env bash
# Regenerates the Prometheus Operator CustomResourceDefinitions that the
# project's envtest-based tests install into a real kube-apiserver:
#
#   config/crd/monitoring/monitoring.coreos.com_servicemonitors.yaml  (v1)
#   config/crd/monitoring/monitoring.coreos.com_podmonitors.yaml      (v1)
#   config/crd/monitoring/monitoring.coreos.com_prometheuses.yaml     (v1)
#   config/crd/monitoring/monitoring.coreos.com_prometheusagents.yaml (v1alpha1)
#   config/crd/monitoring/monitoring.coreos.com_scrapeconfigs.yaml    (v1alpha1)
#   config/crd/monitoring/monitoring.coreos.com_probes.yaml           (v1)
#
# It works in a throwaway Go module under .cache/crdgen/ (git-ignored): that
# module requires the Prometheus Operator API module and controller-tools at
# pinned versions (both pin k8s.io/* v0.37.x, like the project), builds
# controller-gen from the Go module proxy and runs it on the API packages.
# Nothing but the YAML files above is written into the repository.
#
# It also takes OpenReports' Report CRD (config/crd/openreports/, the
# successor of the PolicyReport the audit writes to) as its API module
# publishes it, at OPENREPORTS_VERSION.
#
# The OpenTelemetry CRDs in config/crd/opentelemetry/ are hand-written and are
# not touched by this script.
#
# Usage: hack/gen-crds.sh
# Environment overrides:
#   PROM_OPERATOR_VERSION  (default v0.95.2)
#   CONTROLLER_TOOLS_VERSION (default v0.23.0)
#   CRD_MAX_DESC_LEN       if set (e.g. 0), passed as maxDescLen= to shrink
#                          the CRDs by truncating/dropping field descriptions.
set -euo pipefail

PROM_OPERATOR_VERSION="${PROM_OPERATOR_VERSION:-v0.95.2}"
OPENREPORTS_VERSION="${OPENREPORTS_VERSION:-v0.2.1}"
CONTROLLER_TOOLS_VERSION="${CONTROLLER_TOOLS_VERSION:-v0.23.0}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${ROOT}/.cache/crdgen"
OUT="${ROOT}/config/crd/monitoring"
MON_MOD="github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring"
CT_MOD="sigs.k8s.io/controller-tools"

# The kinds the project needs, as controller-gen names its output files.
KEEP=(
  monitoring.coreos.com_servicemonitors.yaml
  monitoring.coreos.com_podmonitors.yaml
  monitoring.coreos.com_prometheuses.yaml
  monitoring.coreos.com_prometheusagents.yaml
  monitoring.coreos.com_scrapeconfigs.yaml
  monitoring.coreos.com_probes.yaml
)

log() { printf 'gen-crds: %s\n' "$*" >&2; }

# Keep the toolchain from wandering off to another Go version and keep the
# throwaway module independent of any go.work in a parent directory.
export GOTOOLCHAIN=local
export GOWORK=off
export GOFLAGS="${GOFLAGS:-} -mod=mod"

mkdir -p "${WORK}"
cd "${WORK}"

# --- 1. throwaway module ----------------------------------------------------
# Recreated on every run so that a version bump above always takes effect.
rm -f go.mod go.sum tools.go
cat > go.mod <<GOMOD
module crdgen.local

go 1.26
GOMOD
cat > tools.go <<'GOSRC'
//go:build tools

// Package tools only pins the modules hack/gen-crds.sh needs.
package tools

import (
	_ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	_ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1alpha1"
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)
GOSRC

log "resolving ${MON_MOD}@${PROM_OPERATOR_VERSION} and ${CT_MOD}@${CONTROLLER_TOOLS_VERSION}"
go get "${MON_MOD}@${PROM_OPERATOR_VERSION}" "${CT_MOD}@${CONTROLLER_TOOLS_VERSION}"
go mod tidy

# Report the k8s.io versions actually selected, so a drift away from the
# project's v0.37.x is visible in the log.
go list -m k8s.io/api k8s.io/apimachinery k8s.io/apiextensions-apiserver 2>/dev/null | sed 's/^/gen-crds:   /' >&2 || true

# --- 2. controller-gen ------------------------------------------------------
log "building controller-gen"
mkdir -p bin
go build -o bin/controller-gen "${CT_MOD}/cmd/controller-gen"

# --- 3. generate ------------------------------------------------------------
crd_opts="crd:crdVersions=v1"
if [[ -n "${CRD_MAX_DESC_LEN:-}" ]]; then
  crd_opts="${crd_opts},maxDescLen=${CRD_MAX_DESC_LEN}"
fi

gen="${WORK}/out"
rm -rf "${gen}"
mkdir -p "${gen}"
log "running controller-gen ${crd_opts}"
# controller-gen loads the API packages through go/packages from inside this
# module, i.e. straight out of the module cache; no copy is needed.
./bin/controller-gen "${crd_opts}" \
  paths="${MON_MOD}/v1" \
  paths="${MON_MOD}/v1alpha1" \
  output:crd:dir="${gen}"

# --- 4. keep only the kinds above --------------------------------------------
mkdir -p "${OUT}"
for f in "${KEEP[@]}"; do
  if [[ ! -s "${gen}/${f}" ]]; then
    log "ERROR: controller-gen did not produce ${f}"
    ls -1 "${gen}" >&2
    exit 1
  fi
done
# Remove stale generated files (anything not in KEEP) from earlier runs.
find "${OUT}" -maxdepth 1 -type f -name 'monitoring.coreos.com_*.yaml' -print0 |
  while IFS= read -r -d '' existing; do
    keep=false
    for f in "${KEEP[@]}"; do [[ "$(basename "${existing}")" == "${f}" ]] && keep=true; done
    if [[ "${keep}" == false ]]; then rm -f "${existing}"; fi
  done
for f in "${KEEP[@]}"; do
  cp "${gen}/${f}" "${OUT}/${f}"
done
rm -rf "${gen}"

# --- 5. size check ----------------------------------------------------------
# etcd rejects requests above ~1.5 MiB by default; warn well before that.
limit=$((1024 * 1024))
for f in "${KEEP[@]}"; do
  size=$(wc -c < "${OUT}/${f}")
  if (( size > limit )); then
    log "WARNING: ${f} is ${size} bytes (> 1 MiB); consider CRD_MAX_DESC_LEN=0"
  else
    log "wrote config/crd/monitoring/${f} (${size} bytes)"
  fi
done

# --- 6. OpenReports ---------------------------------------------------------
# The module publishes its CRDs; the Report one is taken as it is.
or_dir="$(go mod download -json "github.com/openreports/reports-api@${OPENREPORTS_VERSION}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
mkdir -p "${ROOT}/config/crd/openreports"
install -m 0644 "${or_dir}/config/crd/openreports.io_reports.yaml" "${ROOT}/config/crd/openreports/openreports.io_reports.yaml"
log "wrote config/crd/openreports/openreports.io_reports.yaml (reports-api ${OPENREPORTS_VERSION})"
