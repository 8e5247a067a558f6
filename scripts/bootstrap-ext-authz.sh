#!/usr/bin/env bash
# Builds the external authorization servers the ext_authz end-to-end tests call, from the Go module
# proxy into the cache, keyed by version:
#   - oauth2-proxy (HTTP ext_authz: answers 200 with X-Auth-Request-User for a user of its htpasswd
#     file, 401 otherwise; no identity provider is contacted);
#   - Istio's sample ext-authz server (samples/extauthz: gRPC and HTTP check APIs, allows requests with
#     `x-ext-authz: allow`). Istio tags its releases without a `v`, which the module proxy does not
#     serve, so the module is pinned by the pseudo-version the proxy resolves for istio.io/istio.
# Idempotent: a second run only checks. Cold build: 2-4 min on 2 cores.
# Prints `export WAYMARK_OAUTH2_PROXY=...` and `export WAYMARK_EXT_AUTHZ=...` for the caller to eval.
set -euo pipefail
OAUTH2_PROXY_VERSION=7.15.6
ISTIO_MODULE_VERSION=v0.0.0-20260827124520-eed52ebb66ad
CACHE="${WAYMARK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/waymark-bin}"
mkdir -p "$CACHE"
log() { printf '[bootstrap-ext-authz] %s\n' "$*" >&2; }
locked() { local name=$1; shift; ( flock 9; "$@" ) 9>"$CACHE/.$name.lock"; }
export GOFLAGS=-buildvcs=false CGO_ENABLED=0

# go install module@version into $CACHE/<dir>/<bin>, atomically.
install_go() {
  local dir=$1 bin=$2 pkg=$3
  local out="$CACHE/$dir"
  [ -x "$out/$bin" ] && return 0
  command -v go >/dev/null || { log "go is needed to build $pkg"; exit 1; }
  log "$pkg"
  rm -rf "$out.tmp" && mkdir -p "$out.tmp"
  GOBIN="$out.tmp" go install -trimpath -ldflags "-s -w" "$pkg" >&2
  rm -rf "$out" && mv "$out.tmp" "$out"
}

locked oauth2-proxy install_go "oauth2-proxy-$OAUTH2_PROXY_VERSION" oauth2-proxy \
  "github.com/oauth2-proxy/oauth2-proxy/v7@v$OAUTH2_PROXY_VERSION"
locked ext-authz install_go "istio-extauthz-$ISTIO_MODULE_VERSION" extauthz \
  "istio.io/istio/samples/extauthz/cmd/extauthz@$ISTIO_MODULE_VERSION"
echo "export WAYMARK_OAUTH2_PROXY=\"$CACHE/oauth2-proxy-$OAUTH2_PROXY_VERSION/oauth2-proxy\""
echo "export WAYMARK_EXT_AUTHZ=\"$CACHE/istio-extauthz-$ISTIO_MODULE_VERSION/extauthz\""
