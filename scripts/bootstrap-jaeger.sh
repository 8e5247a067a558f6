#!/usr/bin/env bash
# Builds Jaeger v2 (the OpenTelemetry-Collector-based all-in-one binary) from the Go module proxy
# into the cache, keyed by version. Jaeger v2 has no /v2 module path: module v1.76.0 is v2.13.0.
# Its go.mod replaces github.com/Shopify/sarama, so `go install` refuses it and a throwaway wrapper
# module builds it. Idempotent: a second run only checks. Cold build: 8-15 min on 2 cores.
# Prints `export WAYMARK_JAEGER=...` for the caller to eval.
set -euo pipefail
JAEGER_MODULE_VERSION=1.76.0
CACHE="${WAYMARK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/waymark-bin}"
mkdir -p "$CACHE"
log() { printf '[bootstrap-jaeger] %s\n' "$*" >&2; }
locked() { local name=$1; shift; ( flock 9; "$@" ) 9>"$CACHE/.$name.lock"; }
export GOFLAGS=-buildvcs=false CGO_ENABLED=0

build_jaeger() {
  local out="$CACHE/jaeger-$JAEGER_MODULE_VERSION"
  [ -x "$out/jaeger" ] && return 0
  log "jaeger $JAEGER_MODULE_VERSION (v2; cold build: 8-15 min)"
  local w; w=$(mktemp -d) && cd "$w" && go mod init local/jaegerw >/dev/null 2>&1
  go mod edit -replace github.com/Shopify/sarama=github.com/Shopify/sarama@v1.33.0
  go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@v$JAEGER_MODULE_VERSION" >/dev/null 2>&1
  mkdir -p "$out.tmp" && go build -trimpath -ldflags "-s -w" -o "$out.tmp/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger
  rm -rf "$out" && mv "$out.tmp" "$out" && cd / && rm -rf "$w"
}

locked jaeger build_jaeger
echo "export WAYMARK_JAEGER=\"$CACHE/jaeger-$JAEGER_MODULE_VERSION/jaeger\""
