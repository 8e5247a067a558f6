#!/usr/bin/env bash
# Builds Envoy's reference rate limit service (github.com/envoyproxy/ratelimit, cmd/service) from the
# Go module proxy into the cache, keyed by version, and makes sure redis-server (Debian's package, the
# service's store) is installed. The module has no release tags the proxy serves, so a pseudo-version
# pins the commit. Idempotent: a second run only checks. Cold build: 2-5 min on 2 cores.
# Prints `export WAYMARK_RATELIMIT=... WAYMARK_REDIS=...` for the caller to eval.
set -euo pipefail
RATELIMIT_VERSION=v1.4.1-0.20260122083618-3fb702589d36
CACHE="${WAYMARK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/waymark-bin}"
mkdir -p "$CACHE"
log() { printf '[bootstrap-ratelimit] %s\n' "$*" >&2; }
locked() { local name=$1; shift; ( flock 9; "$@" ) 9>"$CACHE/.$name.lock"; }
export GOFLAGS=-buildvcs=false CGO_ENABLED=0

build_ratelimit() {
  local out="$CACHE/ratelimit-$RATELIMIT_VERSION"
  [ -x "$out/ratelimit" ] && return 0
  log "envoyproxy/ratelimit $RATELIMIT_VERSION (cold build: 2-5 min)"
  rm -rf "$out.tmp" && mkdir -p "$out.tmp"
  GOBIN="$out.tmp" go install -trimpath -ldflags "-s -w" "github.com/envoyproxy/ratelimit/src/service_cmd@$RATELIMIT_VERSION"
  mv "$out.tmp/service_cmd" "$out.tmp/ratelimit"
  rm -rf "$out" && mv "$out.tmp" "$out"
}

install_redis() {
  command -v redis-server >/dev/null && return 0
  log "redis-server (Debian package)"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get install -y redis-server >&2 || { $sudo apt-get update >&2 && $sudo apt-get install -y redis-server >&2; }
}

locked ratelimit build_ratelimit
locked redis install_redis
echo "export WAYMARK_RATELIMIT=\"$CACHE/ratelimit-$RATELIMIT_VERSION/ratelimit\""
echo "export WAYMARK_REDIS=\"$(command -v redis-server)\""
