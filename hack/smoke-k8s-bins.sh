#!/usr/bin/env bash
# Smoke test for the binaries built by hack/k8s-bins.sh: starts etcd and
# kube-apiserver on loopback only, in a temp dir, runs kubectl against them and
# stops both on exit (success, failure or Ctrl-C). Needs openssl.
#
# Usage: hack/smoke-k8s-bins.sh
#   KEEP_TMP=1  keep the temp dir (logs, kubeconfig) after exit
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf 'smoke: %s\n' "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

command -v openssl >/dev/null 2>&1 || die "openssl is required"

BIN_DIR="$("${REPO_ROOT}/hack/k8s-bins.sh")"
KUBE_APISERVER="${BIN_DIR}/kube-apiserver"
ETCD="${BIN_DIR}/etcd"
KUBECTL="${BIN_DIR}/kubectl"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/ta-guard-smoke.XXXXXX")"
ETCD_PID=""
APISERVER_PID=""

stop() {
  local name=$1 pid=$2 i
  [[ -n "${pid}" ]] || return 0
  kill -0 "${pid}" 2>/dev/null || return 0
  kill -TERM "${pid}" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "${pid}" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "${pid}" 2>/dev/null; then
    log "${name} (pid ${pid}) did not stop on SIGTERM, sending SIGKILL"
    kill -KILL "${pid}" 2>/dev/null || true
  fi
  wait "${pid}" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop kube-apiserver "${APISERVER_PID}"
  stop etcd "${ETCD_PID}"
  if ((rc != 0 && rc != 130 && rc != 143)); then
    for f in etcd.log kube-apiserver.log; do
      [[ -f "${TMP}/${f}" ]] || continue
      log "---- last lines of ${f} ----"
      tail -n 25 "${TMP}/${f}" >&2 || true
    done
  fi
  if [[ -n "${KEEP_TMP:-}" ]]; then
    log "kept ${TMP}"
  else
    rm -rf -- "${TMP}"
  fi
  exit "${rc}"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Picks a loopback TCP port nobody listens on (bash /dev/tcp, no extra tools).
USED_PORTS=" "
free_port() {
  local p i
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + RANDOM % 40000))
    [[ "${USED_PORTS}" == *" ${p} "* ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/${p}") 2>/dev/null; then
      USED_PORTS+="${p} "
      printf '%s\n' "${p}"
      return 0
    fi
  done
  die "no free loopback port found"
}

ETCD_CLIENT_PORT="$(free_port)"
ETCD_PEER_PORT="$(free_port)"
APISERVER_PORT="$(free_port)"

# --- etcd -------------------------------------------------------------------
log "starting etcd on 127.0.0.1:${ETCD_CLIENT_PORT}"
"${ETCD}" \
  --name=smoke \
  --data-dir="${TMP}/etcd-data" \
  --listen-client-urls="http://127.0.0.1:${ETCD_CLIENT_PORT}" \
  --advertise-client-urls="http://127.0.0.1:${ETCD_CLIENT_PORT}" \
  --listen-peer-urls="http://127.0.0.1:${ETCD_PEER_PORT}" \
  --initial-advertise-peer-urls="http://127.0.0.1:${ETCD_PEER_PORT}" \
  --initial-cluster="smoke=http://127.0.0.1:${ETCD_PEER_PORT}" \
  --unsafe-no-fsync \
  >"${TMP}/etcd.log" 2>&1 &
ETCD_PID=$!

# --- kube-apiserver credentials ---------------------------------------------
openssl genrsa -out "${TMP}/sa.key" 2048 2>/dev/null
openssl rsa -in "${TMP}/sa.key" -pubout -out "${TMP}/sa.pub" 2>/dev/null
ADMIN_TOKEN="$(openssl rand -hex 16)"
# token,user,uid,"group1,group2": system:masters is bound to cluster-admin.
printf '%s,smoke-admin,smoke-admin-uid,"system:masters"\n' "${ADMIN_TOKEN}" >"${TMP}/tokens.csv"
mkdir -p "${TMP}/certs"

# Loopback only: --advertise-address must be given (no default route needed)
# and a loopback advertise address is rejected by the endpoint reconciler of
# the "kubernetes" Service, hence --endpoint-reconciler-type=none.
log "starting kube-apiserver on https://127.0.0.1:${APISERVER_PORT}"
"${KUBE_APISERVER}" \
  --etcd-servers="http://127.0.0.1:${ETCD_CLIENT_PORT}" \
  --bind-address=127.0.0.1 \
  --advertise-address=127.0.0.1 \
  --endpoint-reconciler-type=none \
  --secure-port="${APISERVER_PORT}" \
  --cert-dir="${TMP}/certs" \
  --service-account-issuer="https://127.0.0.1:${APISERVER_PORT}" \
  --service-account-key-file="${TMP}/sa.pub" \
  --service-account-signing-key-file="${TMP}/sa.key" \
  --authorization-mode=RBAC \
  --token-auth-file="${TMP}/tokens.csv" \
  --service-cluster-ip-range=10.0.0.0/24 \
  >"${TMP}/kube-apiserver.log" 2>&1 &
APISERVER_PID=$!

# --- kubeconfig ---------------------------------------------------------------
export KUBECONFIG="${TMP}/kubeconfig"
SERVER="https://127.0.0.1:${APISERVER_PORT}"

wait_for() {
  local what=$1 timeout=$2 pid=$3 i
  shift 3
  for ((i = 0; i < timeout * 2; i++)); do
    kill -0 "${pid}" 2>/dev/null || die "${what} exited early"
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.5
  done
  die "${what} not ready after ${timeout}s"
}

# The apiserver writes its self-signed serving cert (with the signing CA
# appended) to --cert-dir once it starts; use it to verify TLS.
wait_for "kube-apiserver serving cert" 60 "${APISERVER_PID}" test -s "${TMP}/certs/apiserver.crt"
"${KUBECTL}" config set-cluster smoke --server="${SERVER}" \
  --certificate-authority="${TMP}/certs/apiserver.crt" --embed-certs=true >/dev/null
"${KUBECTL}" config set-credentials smoke-admin --token="${ADMIN_TOKEN}" >/dev/null
"${KUBECTL}" config set-context smoke --cluster=smoke --user=smoke-admin >/dev/null
"${KUBECTL}" config use-context smoke >/dev/null

log "waiting for kube-apiserver /readyz"
wait_for "kube-apiserver" 120 "${APISERVER_PID}" "${KUBECTL}" get --raw=/readyz

# --- checks -------------------------------------------------------------------
log "kubectl version"
"${KUBECTL}" version
"${KUBECTL}" version -o json | grep -q '"gitVersion": "v1.' || die "server version not reported"
log "kubectl get ns"
"${KUBECTL}" get ns
"${KUBECTL}" get ns default -o name | grep -qx 'namespace/default' || die "namespace default missing"
log "kubectl auth can-i"
[[ "$("${KUBECTL}" auth can-i '*' '*')" == "yes" ]] || die "admin is not cluster-admin"
# A write round-trip through etcd.
"${KUBECTL}" create namespace smoke-test >/dev/null
"${KUBECTL}" delete namespace smoke-test --wait=false >/dev/null

log "OK: etcd + kube-apiserver + kubectl from ${BIN_DIR} work together"
