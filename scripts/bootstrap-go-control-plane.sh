#!/usr/bin/env bash
# Builds the benchmarks' reference ADS server (bench/go-control-plane: our small program around
# envoyproxy/go-control-plane's SnapshotCache) from the Go module proxy into the cache, keyed by the
# go-control-plane version and a hash of the program's sources (a change to them rebuilds).
# Idempotent: a second run only checks. Cold build: ~1-2 min on 2 cores (module download + compile).
# Prints `export WAYMARK_GO_CONTROL_PLANE=...` for the caller to eval.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SRC="$ROOT/bench/go-control-plane"
GCP_VERSION=$(awk '$1 == "github.com/envoyproxy/go-control-plane" { sub(/^v/, "", $2); print $2 }' "$SRC/go.mod")
KEY=$(cat "$SRC/go.mod" "$SRC/go.sum" "$SRC/main.go" | sha256sum | cut -c1-12)
CACHE="${WAYMARK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/waymark-bin}"
OUT="$CACHE/go-control-plane-$GCP_VERSION-$KEY"
mkdir -p "$CACHE"
log() { printf '[bootstrap-go-control-plane] %s\n' "$*" >&2; }

build() {
  [ -x "$OUT/xds-reference" ] && return 0
  log "go-control-plane $GCP_VERSION reference server ($KEY)"
  rm -rf "$OUT.tmp" && mkdir -p "$OUT.tmp"
  (cd "$SRC" && GOFLAGS="-buildvcs=false -mod=mod" CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$OUT.tmp/xds-reference" .)
  rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
}

( flock 9; build ) 9>"$CACHE/.go-control-plane.lock"
echo "export WAYMARK_GO_CONTROL_PLANE=\"$OUT/xds-reference\""
