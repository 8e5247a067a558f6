#!/usr/bin/env bash
# Builds Envoy Gateway (cmd/envoy-gateway) at a fixed version from the Go module proxy into the
# cache, keyed by version, for the side-by-side bench (pnpm bench envoy-gateway, issue 17). Its
# go.mod has no replace directives, so a plain `go install module@version` builds it. It is run in
# standalone mode only (File resource provider, Host infrastructure), with our Envoy: see
# bench/lib/envoy-gateway.ts for how func-e is kept from downloading one.
# Idempotent: a second run only checks. Cold build: 60 min on 2 cores under a load of about 30 (2,100
# packages; 190 MB binary), less on a quiet machine.
# Prints `export WAYMARK_ENVOY_GATEWAY=...` for the caller to eval.
set -euo pipefail
EG_VERSION=1.9.1
CACHE="${WAYMARK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/waymark-bin}"
OUT="$CACHE/envoy-gateway-$EG_VERSION"
mkdir -p "$CACHE"
log() { printf '[bootstrap-envoy-gateway] %s\n' "$*" >&2; }
# v1.9.1's go.mod asks for go 1.26.7: at least go1.26.8 (this machine's), fetched when the local Go is older.
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.26.8+auto}"

build() {
  [ -x "$OUT/envoy-gateway" ] && return 0
  log "envoy-gateway $EG_VERSION (cold build: long; 60 min on a loaded 2-core machine)"
  rm -rf "$OUT.tmp" && mkdir -p "$OUT.tmp"
  GOBIN="$OUT.tmp" GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
    go install -trimpath -ldflags "-s -w" "github.com/envoyproxy/gateway/cmd/envoy-gateway@v$EG_VERSION"
  rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
}

( flock 9; build ) 9>"$CACHE/.envoy-gateway.lock"
echo "export WAYMARK_ENVOY_GATEWAY=\"$OUT/envoy-gateway\""
