#!/usr/bin/env bash
# The OAuth2 e2e test's real parts: Ory Hydra (an OpenID Connect provider) built from the Go module
# proxy into the cache, keyed by version, and Debian's Chromium (headless browser) when missing.
# Hydra's go.mod has replace directives, so `go install module@version` refuses it: the module's
# source is downloaded with `go mod download` and built in a copy of it (its own go.mod applies, but
# for the client module it replaces with a directory the zip lacks).
# CGO and the sqlite tags give the in-memory / sqlite store (DSN=memory). Idempotent: a second run
# only checks. Cold build: 5-10 min on 2 cores. Prints `export WAYMARK_HYDRA=...` and
# `export WAYMARK_CHROMIUM=...` for the caller to eval.
set -euo pipefail
HYDRA_VERSION=2.3.0
CACHE="${WAYMARK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/waymark-bin}"
mkdir -p "$CACHE"
log() { printf '[bootstrap-oauth2] %s\n' "$*" >&2; }
locked() { local name=$1; shift; ( flock 9; "$@" ) 9>"$CACHE/.$name.lock"; }
export GOFLAGS=-buildvcs=false CGO_ENABLED=1

build_hydra() {
  local out="$CACHE/hydra-$HYDRA_VERSION"
  [ -x "$out/hydra" ] && return 0
  log "hydra $HYDRA_VERSION (cold build: 5-10 min)"
  local src w
  src=$(go mod download -json "github.com/ory/hydra/v2@v$HYDRA_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [ -d "$src" ] || { log "go mod download gave no source directory"; return 1; }
  w=$(mktemp -d) && cp -r "$src/." "$w/" && chmod -R u+w "$w" && cd "$w"
  # The replace points at ./internal/httpclient, a nested module the module zip leaves out: use the
  # same client's published module (the version go.mod requires) instead.
  go mod edit -dropreplace github.com/ory/hydra-client-go/v2
  go mod download github.com/ory/hydra-client-go/v2
  GOFLAGS="$GOFLAGS -mod=mod" go list -deps . >/dev/null
  mkdir -p "$out.tmp"
  GOFLAGS="$GOFLAGS -mod=mod" go build -trimpath -tags sqlite,sqlite_omit_load_extension -ldflags "-s -w" -o "$out.tmp/hydra" .
  rm -rf "$out" && mv "$out.tmp" "$out" && cd / && rm -rf "$w"
}

ensure_chromium() {
  command -v chromium >/dev/null 2>&1 && return 0
  log "chromium (apt-get)"
  if [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >&2 \
      || { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >&2; }
  else
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >&2
  fi
}

locked hydra build_hydra
locked chromium ensure_chromium
echo "export WAYMARK_HYDRA=\"$CACHE/hydra-$HYDRA_VERSION/hydra\""
echo "export WAYMARK_CHROMIUM=\"$(command -v chromium)\""
