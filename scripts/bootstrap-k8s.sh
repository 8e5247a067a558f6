#!/usr/bin/env bash
# Builds a test Kubernetes control plane from the Go module proxy into the cache, keyed by version:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, and KWOK; and the CRDs of the
# Gateway API and of Istio (the istio.io/api module). Idempotent. Prints `export` lines (WAYMARK_K8S_BIN,
# WAYMARK_ETCD, WAYMARK_KWOK_BIN, WAYMARK_GATEWAY_API_CRDS, WAYMARK_ISTIO_CRDS…) for the caller to eval.
set -euo pipefail
# K8S_VERSION: scripts/lib/k8s-build.sh (shared with scripts/bootstrap-node.sh).
ETCD_VERSION=3.6.16
KWOK_VERSION=0.8.0
GATEWAY_API_VERSION=1.6.1
ISTIO_API_VERSION=1.32.0
CACHE="${WAYMARK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/waymark-bin}"
mkdir -p "$CACHE"
log() { printf '[bootstrap-k8s] %s\n' "$*" >&2; }
locked() { local name=$1; shift; ( flock 9; "$@" ) 9>"$CACHE/.$name.lock"; }
export GOFLAGS=-buildvcs=false CGO_ENABLED=0
# shellcheck source=lib/k8s-build.sh
. "$(dirname "$0")/lib/k8s-build.sh"

build_k8s() {
  local out="$CACHE/k8s-$K8S_VERSION"
  [ -x "$out/kubectl" ] && [ -x "$out/kube-apiserver" ] && return 0
  log "kubernetes $K8S_VERSION (cold build: 15-30 min)"
  k8s_build "$out" "kube-apiserver kube-controller-manager kube-scheduler kubectl"
}

build_etcd() {
  local out="$CACHE/etcd-$ETCD_VERSION"
  [ -x "$out/etcd" ] && return 0
  log "etcd $ETCD_VERSION"
  local w; w=$(mktemp -d) && cd "$w" && go mod init local/etcdw >/dev/null 2>&1
  go get -tool "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" >/dev/null 2>&1
  mkdir -p "$out.tmp" && go build -trimpath -ldflags "-s -w" -o "$out.tmp/etcd" go.etcd.io/etcd/server/v3
  rm -rf "$out" && mv "$out.tmp" "$out" && cd / && rm -rf "$w"
}

build_kwok() {
  local out="$CACHE/kwok-$KWOK_VERSION"
  [ -x "$out/kwok" ] && return 0
  log "kwok $KWOK_VERSION"
  GOBIN="$out.tmp" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
  rm -rf "$out" && mv "$out.tmp" "$out"
}

kwok_stages() {
  # KWOK needs stage definitions (how fake nodes and pods move through their lifecycle): the module's
  # "fast" stages, with a plain node heartbeat.
  local out="$CACHE/kwok-$KWOK_VERSION-stages"
  [ -f "$out/stages.yaml" ] && return 0
  log "kwok $KWOK_VERSION stages"
  local dir; dir=$(go mod download -json "sigs.k8s.io/kwok@v$KWOK_VERSION" | python3 -c 'import json,sys;print(json.load(sys.stdin)["Dir"])')
  mkdir -p "$out.tmp"
  for f in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    cat "$dir/kustomize/stage/$f"; printf '\n---\n'
  done > "$out.tmp/stages.yaml"
  rm -rf "$out" && mv "$out.tmp" "$out"
}

fetch_gateway_api() {
  local out="$CACHE/gateway-api-$GATEWAY_API_VERSION"
  [ -d "$out/crd" ] && return 0
  log "gateway-api $GATEWAY_API_VERSION CRDs"
  local dir; dir=$(go mod download -json "sigs.k8s.io/gateway-api@v$GATEWAY_API_VERSION" | python3 -c 'import json,sys;print(json.load(sys.stdin)["Dir"])')
  mkdir -p "$out.tmp" && cp -r "$dir/config/crd" "$out.tmp/crd" && chmod -R u+w "$out.tmp"
  rm -rf "$out" && mv "$out.tmp" "$out"
}

fetch_istio_api() {
  # The module's one file of all Istio CRDs, and the same split per API group (<group>.yaml), so a
  # test cluster installs only the groups it needs (security.istio.io: AuthorizationPolicy,
  # RequestAuthentication, PeerAuthentication).
  local out="$CACHE/istio-api-$ISTIO_API_VERSION"
  [ -f "$out/security.istio.io.yaml" ] && return 0
  log "istio.io/api $ISTIO_API_VERSION CRDs"
  local dir; dir=$(go mod download -json "istio.io/api@v$ISTIO_API_VERSION" | python3 -c 'import json,sys;print(json.load(sys.stdin)["Dir"])')
  mkdir -p "$out.tmp" && cp "$dir/kubernetes/customresourcedefinitions.gen.yaml" "$out.tmp/" && chmod u+w "$out.tmp"/*
  python3 - "$out.tmp" <<'PY'
import re, sys
out = sys.argv[1]
text = open(f"{out}/customresourcedefinitions.gen.yaml").read()
groups = {}
for doc in re.split(r"^---$", text, flags=re.M):
    m = re.search(r"^  group: (\S+)$", doc, flags=re.M)
    if m and re.search(r"^kind: CustomResourceDefinition$", doc, flags=re.M):
        groups.setdefault(m.group(1), []).append(doc.strip("\n"))
if "security.istio.io" not in groups:
    sys.exit("no security.istio.io CRDs in the istio.io/api module")
for group, docs in groups.items():
    with open(f"{out}/{group}.yaml", "w") as f:
        f.write("\n---\n".join(docs) + "\n")
PY
  rm -rf "$out" && mv "$out.tmp" "$out"
}

locked etcd build_etcd
locked gwapi fetch_gateway_api
locked istio fetch_istio_api
locked kwok build_kwok
locked kwok kwok_stages
locked k8s build_k8s
cat <<OUT
export WAYMARK_K8S_BIN="$CACHE/k8s-$K8S_VERSION"
export WAYMARK_ETCD="$CACHE/etcd-$ETCD_VERSION/etcd"
export WAYMARK_KWOK_BIN="$CACHE/kwok-$KWOK_VERSION"
export WAYMARK_KWOK_STAGES="$CACHE/kwok-$KWOK_VERSION-stages/stages.yaml"
export WAYMARK_GATEWAY_API_CRDS="$CACHE/gateway-api-$GATEWAY_API_VERSION/crd"
export WAYMARK_ISTIO_CRDS="$CACHE/istio-api-$ISTIO_API_VERSION"
OUT
