#!/usr/bin/env bash
# Makes sure wrk (Debian's package: a C HTTP load generator) is installed, for the benchmarks that
# measure added latency with a load generator that adds little of its own. Idempotent.
# Prints `export WAYMARK_WRK=...` for the caller to eval.
set -euo pipefail
CACHE="${WAYMARK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/waymark-bin}"
mkdir -p "$CACHE"
install_wrk() {
  command -v wrk >/dev/null && return 0
  printf '[bootstrap-wrk] wrk (Debian package)\n' >&2
  local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get install -y wrk >&2 || { $sudo apt-get update >&2 && $sudo apt-get install -y wrk >&2; }
}
( flock 9; install_wrk ) 9>"$CACHE/.wrk.lock"
echo "export WAYMARK_WRK=\"$(command -v wrk)\""
