#!/usr/bin/env bash
# Runs a command in its own network namespace whose loopback also holds the test clusters' pod range
# (WAYMARK_KUBE_POD_CIDR, default 198.18.0.0/16). The API server refuses loopback addresses
# (127.0.0.0/8) in EndpointSlices, so KWOK's pods get addresses from this range instead, and a test
# serves a pod's address with a local program. Needs no privileges where unprivileged user namespaces
# are allowed (`unshare --user --map-root-user --net`); nothing outside the namespace changes.
#   scripts/pod-network.sh node --test test/e2e/kubernetes.test.ts
set -euo pipefail
cidr="${WAYMARK_KUBE_POD_CIDR:-198.18.0.0/16}"
if [[ "${WAYMARK_POD_NETNS:-}" == "$cidr" ]]; then exec "$@"; fi
command -v unshare >/dev/null || { echo "pod-network.sh: unshare (util-linux) is required" >&2; exit 1; }
ip=$(command -v ip || echo /usr/sbin/ip)
[[ -x "$ip" ]] || { echo "pod-network.sh: ip (iproute2) is required" >&2; exit 1; }
first="${cidr%.*/*}.1/${cidr#*/}"
if ! unshare --user --map-root-user --net true 2>/dev/null; then
  echo "pod-network.sh: cannot create a user and network namespace here (unshare --user --net failed)." >&2
  echo "  On Ubuntu 24.04: sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0" >&2
  exit 1
fi
exec unshare --user --map-root-user --net -- env WAYMARK_POD_NETNS="$cidr" WAYMARK_KUBE_POD_CIDR="$cidr" \
  bash -c '"$0" link set lo up && "$0" addr add "$1" dev lo && shift && exec "$@"' "$ip" "$first" "$@"
