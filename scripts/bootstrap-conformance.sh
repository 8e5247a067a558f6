#!/usr/bin/env bash
# Fetches the Gateway API conformance module (sigs.k8s.io/gateway-api/conformance) from the Go module
# proxy and builds its echo server (echo-basic) into the per-user cache. Nothing of the module is
# copied into the repository: the harness reads its manifests and test sources from the module cache.
# Idempotent: a second run only checks. Prints `export` lines for the caller to eval:
#   eval "$(scripts/bootstrap-conformance.sh)"
set -euo pipefail

GWAPI_VERSION=1.6.1

CACHE="${WAYMARK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/waymark-bin}"
mkdir -p "$CACHE"
log() { printf '[bootstrap-conformance] %s\n' "$*" >&2; }
command -v go >/dev/null || { log "Go is required (go >= 1.26)"; exit 1; }

# The directory of a module version in the Go module cache (downloaded through the proxy if missing).
module_dir() {
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

install_echo_basic() {
  local d="$CACHE/gwapi-$GWAPI_VERSION"
  [ -x "$d/echo-basic" ] && return 0
  log "echo-basic $GWAPI_VERSION"
  # The conformance module replaces sigs.k8s.io/gateway-api with ../, which `go install pkg@v`
  # refuses: build from a throwaway wrapper module that requires both at the same version.
  local w; w=$(mktemp -d)
  (
    cd "$w"
    go mod init local/gwapi-echo >/dev/null 2>&1
    go mod edit -require "sigs.k8s.io/gateway-api@v$GWAPI_VERSION"
    go get "sigs.k8s.io/gateway-api/conformance@v$GWAPI_VERSION" >/dev/null 2>&1
    mkdir -p "$d.tmp"
    GOFLAGS=-buildvcs=false CGO_ENABLED=0 go build -trimpath -o "$d.tmp/echo-basic" \
      sigs.k8s.io/gateway-api/conformance/echo-basic
  )
  rm -rf "$w" "$d" && mv "$d.tmp" "$d"
}

( flock 9; install_echo_basic ) 9>"$CACHE/.gwapi.lock"
conformance_dir=$(module_dir "sigs.k8s.io/gateway-api/conformance@v$GWAPI_VERSION")
[ -d "$conformance_dir/tests/mesh" ] || { log "no tests/mesh in $conformance_dir"; exit 1; }

cat <<OUT
export WAYMARK_ECHO_BASIC="$CACHE/gwapi-$GWAPI_VERSION/echo-basic"
export WAYMARK_GWAPI_CONFORMANCE="$conformance_dir"
OUT
