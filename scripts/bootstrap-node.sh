#!/usr/bin/env bash
# Builds what a real Kubernetes node of the test cluster needs, keyed by version, from the package
# registries only:
#   - kubelet and kube-proxy of the same Kubernetes as scripts/bootstrap-k8s.sh, built from the Go
#     module proxy the same way, into a cache directory of their own (k8s-node-<version>) so the
#     control plane's cache (k8s-<version>) stays valid;
#   - containerd, runc, the CNI plugins (bridge, host-local, loopback, portmap), iptables, conntrack,
#     umoci and busybox-static from Debian (apt-get), when missing;
#   - two OCI image archives made with umoci from Debian's busybox-static: the pod sandbox ("pause")
#     image and a tiny busybox image for test pods;
#   - CoreDNS (the cluster DNS a node's pods resolve Service names with), from the Go module proxy:
#     a main of our own that links only the plugins the test node's Corefile uses (tools/testing/
#     src/node.ts), as CoreDNS documents for custom builds, instead of its default set with every
#     cloud provider's SDK.
# Idempotent: a second run only checks. Cold: kubelet+kube-proxy 10-20 min on 2 cores (less when the
# control plane's build already filled Go's build cache), apt a minute. Prints `export` lines.
set -euo pipefail
# The recipe of the images below; bump it when the recipe changes (the busybox version keys it too).
IMAGES_RECIPE=1
COREDNS_VERSION=1.15.0
CACHE="${WAYMARK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/waymark-bin}"
mkdir -p "$CACHE"
log() { printf '[bootstrap-node] %s\n' "$*" >&2; }
locked() { local name=$1; shift; ( flock 9; "$@" ) 9>"$CACHE/.$name.lock"; }
export GOFLAGS=-buildvcs=false CGO_ENABLED=0
# shellcheck source=lib/k8s-build.sh
. "$(dirname "$0")/lib/k8s-build.sh"

APT_PACKAGES="containerd runc containernetworking-plugins iptables conntrack umoci busybox-static"
install_apt() {
  local missing=() p
  for p in $APT_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  command -v apt-get >/dev/null || { log "apt-get missing: install ${missing[*]} by hand"; return 1; }
  # The Debian package starts containerd as a service where there is an init system; nothing here
  # uses that instance (the tests start their own with their own socket and directories).
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
    { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; }
}

build_node() {
  local out="$CACHE/k8s-node-$K8S_VERSION"
  [ -x "$out/kubelet" ] && [ -x "$out/kube-proxy" ] && return 0
  log "kubelet, kube-proxy $K8S_VERSION (cold build: 10-20 min)"
  k8s_build "$out" "kubelet kube-proxy"
}

# One OCI archive: a layer with busybox-static as /bin/busybox and its applets as links, and the
# given entrypoint. umoci writes the layout; the archive is that layout as a tar whose one image is
# tagged <tag> only, which `ctr images import --base-name NAME` imports as NAME:<tag>
# (tools/testing/src/node.ts imports them as waymark.test/pause:1 and waymark.test/busybox:1).
busybox_image() {
  local out=$1 tag=$2; shift 2
  local w; w=$(mktemp -d)
  umoci init --layout "$w/layout"
  umoci new --image "$w/layout:$tag"
  umoci unpack --rootless --image "$w/layout:$tag" "$w/bundle" >/dev/null
  mkdir -p "$w/bundle/rootfs/bin" "$w/bundle/rootfs/tmp" "$w/bundle/rootfs/etc"
  cp /bin/busybox "$w/bundle/rootfs/bin/busybox"
  local a
  for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$w/bundle/rootfs/bin/$a"; done
  printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$w/bundle/rootfs/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' >"$w/bundle/rootfs/etc/group"
  umoci repack --image "$w/layout:$tag" "$w/bundle" >/dev/null
  local args=() e
  for e in "$@"; do args+=(--config.entrypoint "$e"); done
  umoci config --image "$w/layout:$tag" --config.env PATH=/bin --config.workingdir / \
    --os linux --architecture "$(dpkg --print-architecture)" "${args[@]}"
  umoci gc --layout "$w/layout"
  tar -C "$w/layout" -cf "$out" .
  rm -rf "$w"
}

build_images() {
  local bb; bb=$(dpkg-query -W -f='${Version}' busybox-static | tr ':~+' '___')
  local out="$CACHE/node-images-$IMAGES_RECIPE-busybox-$bb"
  [ -f "$out/pause.oci.tar" ] && [ -f "$out/busybox.oci.tar" ] && return 0
  log "node images (busybox-static $bb)"
  rm -rf "$out.tmp" && mkdir -p "$out.tmp"
  # The sandbox process: holds the pod's namespaces until the kubelet removes the sandbox; a shell
  # as PID 1 reaps what it adopts (wait) and leaves on TERM or INT.
  busybox_image "$out.tmp/pause.oci.tar" 1 /bin/sh -c 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done'
  # Test pods give their own command.
  busybox_image "$out.tmp/busybox.oci.tar" 1 /bin/sh
  rm -rf "$out" && mv "$out.tmp" "$out"
}

# The plugins, in the order CoreDNS runs them (its plugin.cfg's order): what the node's Corefile uses.
COREDNS_PLUGINS="bind ready errors log cache kubernetes"
build_coredns() {
  local out="$CACHE/coredns-$COREDNS_VERSION"
  [ -x "$out/coredns" ] && return 0
  log "coredns $COREDNS_VERSION (plugins: $COREDNS_PLUGINS)"
  local w; w=$(mktemp -d)
  local p imports="" directives=""
  for p in $COREDNS_PLUGINS; do
    imports+=$'\t_ "github.com/coredns/coredns/plugin/'"$p"$'"\n'
    directives+="\"$p\", "
  done
  cat >"$w/main.go" <<GO
// CoreDNS with only the plugins the test node uses (scripts/bootstrap-node.sh).
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"
$imports)

func init() { dnsserver.Directives = []string{$directives} }

func main() { coremain.Run() }
GO
  ( cd "$w" && go mod init waymark.test/coredns >/dev/null 2>&1 &&
    go get "github.com/coredns/coredns@v$COREDNS_VERSION" >/dev/null 2>&1 && go mod tidy >/dev/null 2>&1 &&
    go build -trimpath -ldflags=-s -o coredns . ) >&2
  mkdir -p "$out.tmp" && mv "$w/coredns" "$out.tmp/coredns" && rm -rf "$out" && mv "$out.tmp" "$out"
  rm -rf "$w"
}

locked apt install_apt
locked node-images build_images
locked k8s-node build_node
locked coredns build_coredns
IMAGES="$CACHE/node-images-$IMAGES_RECIPE-busybox-$(dpkg-query -W -f='${Version}' busybox-static | tr ':~+' '___')"
cat <<OUT
export WAYMARK_NODE_BIN="$CACHE/k8s-node-$K8S_VERSION"
export WAYMARK_CONTAINERD="$(command -v containerd)"
export WAYMARK_RUNC="$(command -v runc)"
export WAYMARK_CNI_BIN="/usr/lib/cni"
export WAYMARK_NODE_PAUSE_IMAGE="$IMAGES/pause.oci.tar"
export WAYMARK_NODE_BUSYBOX_IMAGE="$IMAGES/busybox.oci.tar"
export WAYMARK_COREDNS="$CACHE/coredns-$COREDNS_VERSION/coredns"
OUT
