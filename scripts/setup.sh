#!/usr/bin/env bash
# Everything a fresh machine needs before Waymark runs: the programs (scripts/bootstrap.sh, cached
# outside the repo), the workspace's npm packages (frozen lockfile) and the generated Envoy protos.
# Prints the environment for the caller to eval.
set -euo pipefail
cd "$(dirname "$0")/.."
env_lines=$(scripts/bootstrap.sh)
eval "$env_lines"
pnpm install --frozen-lockfile --reporter=silent >&2
pnpm --silent generate >&2
printf '%s\n' "$env_lines"
