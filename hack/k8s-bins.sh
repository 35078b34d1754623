#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler, kubectl,
# etcd and kwok (nodes that run no containers) from the Go module proxy (no
# GitHub releases, no dl.k8s.io, no setup-envtest download) into a
# git-ignored cache, and reuses them on later runs.
#
# Usage:
#   hack/k8s-bins.sh              build what is missing, print the bin dir on stdout
#   hack/k8s-bins.sh --print-dir  print the bin dir only, build nothing
#
#   export KUBEBUILDER_ASSETS="$(hack/k8s-bins.sh)"
#
# Environment:
#   TA_GUARD_CACHE         cache root (default: <repo>/.cache)
#   TA_GUARD_KUBE_VERSION  override KUBE_VERSION below (e.g. to try a newer release)
#   TA_GUARD_ETCD_VERSION  override ETCD_VERSION below
#   TA_GUARD_KWOK_VERSION  override KWOK_VERSION below
#   TA_GUARD_CERT_MANAGER_VERSION  override CERT_MANAGER_VERSION below
#
# Progress goes to stderr; stdout carries only the bin dir path.
set -euo pipefail

# Versions. KUBE_VERSION must match the k8s.io/* v0.37.2 modules in go.mod
# (k8s.io/kubernetes vX.Y.Z is published together with the staging modules at
# v0.Y.Z): the envtest-based tests and the demo talk to this apiserver with
# the client-go/apimachinery of go.mod, and the API types/CRD handling must
# be the same release. Bump both together.
KUBE_VERSION="${TA_GUARD_KUBE_VERSION:-v1.37.2}"
# etcd release that Kubernetes v1.37.2 is built and tested against: its go.mod
# requires go.etcd.io/etcd/{client,server}/v3 v3.7.0 and its hack/lib/etcd.sh,
# kubeadm and build/dependencies.yaml all pin etcd 3.7.0.
ETCD_VERSION="${TA_GUARD_ETCD_VERSION:-v3.7.0}"
# kwok simulates nodes and the lifecycle of their Pods (scheduled Pods become
# Running with an IP; no container runs). v0.8.0 is built against k8s.io
# v0.36: one minor version of skew, which the API server supports.
KWOK_VERSION="${TA_GUARD_KWOK_VERSION:-v0.8.0}"
# cert-manager's controllers cannot be built here: their main packages live
# in modules of their own (github.com/cert-manager/cert-manager/controller-binary,
# cainjector-binary) that the Go module proxy does not serve (404), and the
# root module has no main package for them. Its CRDs are in the root module: the tests validate
# ta-guard's Issuers and Certificates against them (${BIN_DIR}/crds/cert-manager).
CERT_MANAGER_VERSION="${TA_GUARD_CERT_MANAGER_VERSION:-v1.21.2}"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_ROOT="${TA_GUARD_CACHE:-${REPO_ROOT}/.cache}"
BIN_DIR="${CACHE_ROOT}/k8s/${KUBE_VERSION}/bin"
BUILD_ROOT="${CACHE_ROOT}/k8s/build"

log() { printf 'k8s-bins: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

case "${1:-}" in
  "") ;;
  --print-dir) printf '%s\n' "${BIN_DIR}"; exit 0 ;;
  -h|--help) usage; exit 0 ;;
  *) usage >&2; die "unknown argument: $1" ;;
esac

[[ "${KUBE_VERSION}" =~ ^v1\.([0-9]+)\.([0-9]+)(-.*)?$ ]] ||
  die "KUBE_VERSION must look like v1.Y.Z, got ${KUBE_VERSION}"
KUBE_MINOR="${BASH_REMATCH[1]}"
# k8s.io/<staging> modules are tagged v0.Y.Z for Kubernetes v1.Y.Z.
STAGING_VERSION="v0.${KUBE_VERSION#v1.}"

command -v go >/dev/null 2>&1 || die "go is not on PATH"

# The build modules live inside the repo's tree: never let a go.work in a
# parent directory or the user's GOFLAGS (e.g. -mod=vendor) interfere.
export GOWORK=off
export CGO_ENABLED=0
# -buildvcs=false: the build dirs sit inside this git repo, whose VCS state
# has nothing to do with the binaries.
export GOFLAGS="-buildvcs=false"

mkdir -p "${BIN_DIR}" "${BUILD_ROOT}"

# Serialise concurrent runs (e.g. several test packages starting at once).
LOCKED=0
if command -v flock >/dev/null 2>&1; then
  LOCKED=1
  exec 9>"${BIN_DIR}/.lock"
  if ! flock -n 9; then
    log "another k8s-bins.sh run holds ${BIN_DIR}/.lock, waiting..."
    flock 9
  fi
fi

TMP_FILES=()
cleanup() {
  local f
  for f in "${TMP_FILES[@]+"${TMP_FILES[@]}"}"; do rm -f -- "${f}"; done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- version checks: a binary is reused only if it runs and reports the
# expected version (an interrupted build never leaves one: see install_bin).
# Usage: version_ok NAME [PATH] (PATH defaults to ${BIN_DIR}/NAME).
version_ok() {
  local name=$1 bin="${2:-${BIN_DIR}/$1}" out
  [[ -f "${bin}" && -x "${bin}" ]] || return 1
  case "${name}" in
    kube-apiserver|kube-controller-manager|kube-scheduler)
      out="$("${bin}" --version 2>/dev/null)" || return 1
      [[ "${out}" == "Kubernetes ${KUBE_VERSION}" ]] ;;
    kwok)
      out="$("${bin}" --version 2>/dev/null)" || return 1
      grep -qF "${KWOK_VERSION}" <<<"${out}" &&
        [[ -s "${BIN_DIR}/kwok-stages.yaml" ]] ;;
    kubectl)
      out="$(KUBECONFIG=/dev/null "${bin}" version --client 2>/dev/null)" || return 1
      grep -qxF "Client Version: ${KUBE_VERSION}" <<<"${out}" ;;
    etcd)
      out="$("${bin}" --version 2>/dev/null)" || return 1
      grep -qxF "etcd Version: ${ETCD_VERSION#v}" <<<"${out}" ;;
    *) return 1 ;;
  esac
}

# Reads a JSON string field from `go mod download -json` output (no jq needed).
json_field() {
  sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}\$/\1/p" | head -n 1
}

# Prints "GoMod<TAB>Time" of module $1@$2, downloading it via GOPROXY.
# Runs in $3 (a build dir that only has a placeholder go.mod at that point).
mod_info() {
  local mod=$1 ver=$2 dir=$3 json gomod time
  printf 'module ta-guard.local/k8s-bins/placeholder\n' >"${dir}/go.mod"
  json="$(cd "${dir}" && go mod download -json "${mod}@${ver}")" ||
    die "go mod download ${mod}@${ver} failed"
  gomod="$(json_field GoMod <<<"${json}")"
  [[ -n "${gomod}" && -f "${gomod}" ]] || die "no go.mod path for ${mod}@${ver} in: ${json}"
  # The .info file next to it holds the release's commit time.
  time="$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "${gomod%.mod}.info" 2>/dev/null || true)"
  printf '%s\t%s\n' "${gomod}" "${time}"
}

# Emits the "go" and "godebug" lines of a go.mod so that the throwaway module
# builds with the same language version and GODEBUG defaults as upstream
# (those settings only apply when a module is the main module).
go_and_godebug_lines() {
  awk '
    $1 == "go" && NF == 2 { print; next }
    $1 == "godebug" && $2 == "(" { inblk = 1; print; next }
    inblk { print; if ($1 == ")") inblk = 0; next }
    $1 == "godebug" { print }
  ' "$1"
}

# Generates the throwaway module that builds k8s.io/kubernetes commands.
# k8s.io/kubernetes requires every k8s.io/<staging> module at v0.0.0 and
# replaces it with ./staging/src/k8s.io/<staging>; replace directives of a
# dependency are ignored, so we must map each one to its published v0.Y.Z.
gen_kube_module() {
  local dir=$1 upstream_mod=$2 staging
  {
    printf '// Generated by hack/k8s-bins.sh from k8s.io/kubernetes@%s go.mod. Do not edit.\n' "${KUBE_VERSION}"
    printf 'module ta-guard.local/k8s-bins/kubernetes\n\n'
    go_and_godebug_lines "${upstream_mod}"
    printf '\nrequire k8s.io/kubernetes %s\n\n' "${KUBE_VERSION}"
    printf 'tool (\n\tk8s.io/kubernetes/cmd/kube-apiserver\n\tk8s.io/kubernetes/cmd/kube-controller-manager\n\tk8s.io/kubernetes/cmd/kube-scheduler\n\tk8s.io/kubernetes/cmd/kubectl\n)\n\n'
    printf 'replace (\n'
    staging="$(awk '
      $1 == "require" && $2 == "(" { inreq = 1; next }
      inreq && $1 == ")" { inreq = 0; next }
      inreq && $1 ~ /^k8s\.io\// && $2 == "v0.0.0" { print $1; next }
      $1 == "require" && $2 ~ /^k8s\.io\// && $3 == "v0.0.0" { print $2 }
    ' "${upstream_mod}" | sort -u)"
    [[ -n "${staging}" ]] || die "no k8s.io/* v0.0.0 requirements found in ${upstream_mod}"
    while IFS= read -r m; do
      printf '\t%s => %s %s\n' "${m}" "${m}" "${STAGING_VERSION}"
    done <<<"${staging}"
    # Keep upstream replaces that point at another module version (pinned
    # forks); drop the ones that point at local staging directories.
    awk '
      $1 == "replace" && $2 == "(" { inrep = 1; next }
      inrep && $1 == ")" { inrep = 0; next }
      inrep { line = $0 } !inrep && $1 == "replace" { line = $0; sub(/^replace[ \t]+/, "", line) }
      (inrep || $1 == "replace") {
        n = split(line, parts, "=>"); rhs = parts[2]; gsub(/^[ \t]+|[ \t]+$/, "", rhs)
        lhs = parts[1]; gsub(/^[ \t]+|[ \t]+$/, "", lhs); split(lhs, l, /[ \t]+/)
        if (n == 2 && rhs !~ /^\.\.?\// && rhs !~ /^\// && l[1] !~ /^k8s\.io\//) print "\t" lhs " => " rhs
      }
    ' "${upstream_mod}"
    printf ')\n'
  } >"${dir}/go.mod.new"
  mv -f "${dir}/go.mod.new" "${dir}/go.mod"
}

# Generates the throwaway module that builds one command of module $3 at
# version $4 as the tool $5, in dir $1 from the upstream go.mod $2; $6 names
# the module ("etcd", "kwok").
gen_tool_module() {
  local dir=$1 upstream_mod=$2 mod=$3 ver=$4 tool=$5 name=$6
  {
    printf '// Generated by hack/k8s-bins.sh for %s@%s. Do not edit.\n' "${mod}" "${ver}"
    printf 'module ta-guard.local/k8s-bins/%s\n\n' "${name}"
    go_and_godebug_lines "${upstream_mod}"
    printf '\nrequire %s %s\n\n' "${mod}" "${ver}"
    printf 'tool %s\n' "${tool}"
  } >"${dir}/go.mod.new"
  mv -f "${dir}/go.mod.new" "${dir}/go.mod"
}

# Builds package $3 in module dir $2 and installs it as ${BIN_DIR}/$1: the
# binary is written to a temp name in the same directory and renamed, so an
# interrupted build never leaves a partial binary under the final name.
install_bin() {
  local name=$1 dir=$2 pkg=$3 ldflags=$4 tmp start
  tmp="${BIN_DIR}/.${name}.tmp.$$"
  TMP_FILES+=("${tmp}")
  start=${SECONDS}
  (cd "${dir}" && go build -trimpath -ldflags "${ldflags}" -o "${tmp}" "${pkg}") ||
    die "go build ${pkg} failed"
  chmod 0755 "${tmp}"
  version_ok "${name}" "${tmp}" || die "built ${name} does not report the expected version"
  mv -f "${tmp}" "${BIN_DIR}/${name}"
  log "built ${name} in $((SECONDS - start))s"
}

build_kube() {
  local need=("$@") dir="${BUILD_ROOT}/kubernetes-${KUBE_VERSION}" info upstream_mod release_time
  local etcd_req ldflags="-s -w" key val name
  mkdir -p "${dir}"
  log "fetching k8s.io/kubernetes@${KUBE_VERSION} from the Go module proxy..."
  info="$(mod_info k8s.io/kubernetes "${KUBE_VERSION}" "${dir}")"
  upstream_mod="${info%%$'\t'*}"
  release_time="${info#*$'\t'}"
  etcd_req="$(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2 }' "${upstream_mod}")"
  if [[ -n "${etcd_req}" && "${etcd_req}" != "${ETCD_VERSION}" ]]; then
    log "note: k8s.io/kubernetes@${KUBE_VERSION} requires go.etcd.io/etcd/server/v3 ${etcd_req}, building etcd ${ETCD_VERSION}"
  fi
  gen_kube_module "${dir}" "${upstream_mod}"
  log "resolving dependencies (go mod tidy)..."
  (cd "${dir}" && go mod tidy) || die "go mod tidy failed in ${dir}"

  # Same -X flags as upstream's hack/lib/version.sh: clients parse
  # gitVersion/gitMajor/gitMinor from /version and the apiserver derives its
  # effective version from them; without them the binary says v0.0.0-master.
  for key in gitVersion gitMajor gitMinor gitTreeState buildDate; do
    case "${key}" in
      gitVersion) val="${KUBE_VERSION}" ;;
      gitMajor) val="1" ;;
      gitMinor) val="${KUBE_MINOR}" ;;
      gitTreeState) val="clean" ;;
      buildDate) val="${release_time:-1970-01-01T00:00:00Z}" ;;
    esac
    ldflags+=" -X k8s.io/component-base/version.${key}=${val}"
    ldflags+=" -X k8s.io/client-go/pkg/version.${key}=${val}"
  done

  for name in "${need[@]}"; do
    case "${name}" in
      kube-apiserver) log "building kube-apiserver ${KUBE_VERSION} (first time only, about 4 minutes on 2 cores)..." ;;
      kube-controller-manager) log "building kube-controller-manager ${KUBE_VERSION} (first time only, about 3 minutes on 2 cores)..." ;;
      kube-scheduler) log "building kube-scheduler ${KUBE_VERSION} (first time only, about 1 minute on 2 cores)..." ;;
      kubectl) log "building kubectl ${KUBE_VERSION} (first time only, about 2 minutes on 2 cores)..." ;;
    esac
    install_bin "${name}" "${dir}" "k8s.io/kubernetes/cmd/${name}" "${ldflags}"
  done
}

build_etcd() {
  local dir="${BUILD_ROOT}/etcd-${ETCD_VERSION}" info upstream_mod
  mkdir -p "${dir}"
  log "fetching go.etcd.io/etcd/server/v3@${ETCD_VERSION} from the Go module proxy..."
  info="$(mod_info go.etcd.io/etcd/server/v3 "${ETCD_VERSION}" "${dir}")"
  upstream_mod="${info%%$'\t'*}"
  gen_tool_module "${dir}" "${upstream_mod}" go.etcd.io/etcd/server/v3 "${ETCD_VERSION}" go.etcd.io/etcd/server/v3 etcd
  log "resolving dependencies (go mod tidy)..."
  (cd "${dir}" && go mod tidy) || die "go mod tidy failed in ${dir}"
  log "building etcd ${ETCD_VERSION} (first time only, about 1 minute on 2 cores)..."
  install_bin etcd "${dir}" go.etcd.io/etcd/server/v3 "-s -w"
}


# kwok reads the stages of a node's and a Pod's life from its configuration;
# kwokctl passes its defaults, the kwok binary none. The same defaults, from
# the module's own kustomize/stage files, go into ${BIN_DIR}/kwok-stages.yaml
# (the sandbox passes it with --config): nodes become Ready and send
# heartbeats, scheduled Pods become Running with an IP, and finish or go
# away as their spec says.
write_kwok_stages() {
  local dir=$1 src f out="${BIN_DIR}/kwok-stages.yaml" tmp
  src="$(cd "${dir}" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)" || die "no module dir for sigs.k8s.io/kwok"
  tmp="${out}.tmp.$$"
  TMP_FILES+=("${tmp}")
  : >"${tmp}"
  for f in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml \
    pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    [[ -f "${src}/kustomize/stage/${f}" ]] || die "kwok stage ${f} not found in ${src}"
    { printf -- '---\n'; cat "${src}/kustomize/stage/${f}"; printf '\n'; } >>"${tmp}"
  done
  mv -f "${tmp}" "${out}"
}

build_kwok() {
  local dir="${BUILD_ROOT}/kwok-${KWOK_VERSION}" info upstream_mod
  mkdir -p "${dir}"
  log "fetching sigs.k8s.io/kwok@${KWOK_VERSION} from the Go module proxy..."
  info="$(mod_info sigs.k8s.io/kwok "${KWOK_VERSION}" "${dir}")"
  upstream_mod="${info%%$'\t'*}"
  gen_tool_module "${dir}" "${upstream_mod}" sigs.k8s.io/kwok "${KWOK_VERSION}" sigs.k8s.io/kwok/cmd/kwok kwok
  log "resolving dependencies (go mod tidy)..."
  (cd "${dir}" && go mod tidy) || die "go mod tidy failed in ${dir}"
  write_kwok_stages "${dir}"
  log "building kwok ${KWOK_VERSION} (first time only, about 2 minutes on 2 cores)..."
  install_bin kwok "${dir}" sigs.k8s.io/kwok/cmd/kwok "-s -w"
}

# cert-manager's own CRDs, as its module ships them, into
# ${BIN_DIR}/crds/cert-manager; .version says which release they are.
CERT_MANAGER_CRDS="${BIN_DIR}/crds/cert-manager"
fetch_cert_manager_crds() {
  local dir="${BUILD_ROOT}/cert-manager-${CERT_MANAGER_VERSION}" src tmp f
  mkdir -p "${dir}"
  log "fetching github.com/cert-manager/cert-manager@${CERT_MANAGER_VERSION} (its CRDs) from the Go module proxy..."
  printf 'module ta-guard.local/k8s-bins/placeholder\n' >"${dir}/go.mod"
  src="$(cd "${dir}" && go mod download -json "github.com/cert-manager/cert-manager@${CERT_MANAGER_VERSION}" | json_field Dir)" ||
    die "go mod download github.com/cert-manager/cert-manager@${CERT_MANAGER_VERSION} failed"
  [[ -n "${src}" && -d "${src}/deploy/crds" ]] || die "no deploy/crds in github.com/cert-manager/cert-manager@${CERT_MANAGER_VERSION}"
  tmp="${CERT_MANAGER_CRDS}.tmp.$$"
  rm -rf "${tmp}"
  mkdir -p "${tmp}"
  for f in certificates issuers clusterissuers certificaterequests; do
    cp "${src}/deploy/crds/cert-manager.io_${f}.yaml" "${tmp}/" || die "cert-manager CRD ${f} not found"
  done
  chmod 0644 "${tmp}"/*.yaml
  printf '%s\n' "${CERT_MANAGER_VERSION}" >"${tmp}/.version"
  rm -rf "${CERT_MANAGER_CRDS}"
  mv "${tmp}" "${CERT_MANAGER_CRDS}"
}

# Remove temp binaries left by a run that was killed; only safe while holding
# the lock (otherwise they may belong to a concurrent run).
if ((LOCKED)); then
  find "${BIN_DIR}" -maxdepth 1 -name '.*.tmp.*' -type f -delete 2>/dev/null || true
fi

kube_missing=()
for name in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  version_ok "${name}" || kube_missing+=("${name}")
done
if ((${#kube_missing[@]} > 0)); then
  build_kube "${kube_missing[@]}"
fi
if ! version_ok etcd; then
  build_etcd
fi
if ! version_ok kwok; then
  build_kwok
fi
if [[ "$(cat "${CERT_MANAGER_CRDS}/.version" 2>/dev/null)" != "${CERT_MANAGER_VERSION}" ]]; then
  fetch_cert_manager_crds
fi

printf '%s\n' "${BIN_DIR}"
