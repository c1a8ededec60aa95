#!/usr/bin/env bash
# Trims TensorFlow.js in an installed node_modules to what Node runs (the image's runtime stage):
# each @tensorflow package but tfjs-node keeps its package.json, its Node entry (package.json "main",
# a self-contained CommonJS bundle) and its .wasm files; the browser bundles, ES modules, source maps
# and typings go (@tensorflow/tfjs alone ships 141 MB of them). The WebGL backend, which registers
# itself only in a browser, becomes an empty module: @tensorflow/tfjs's Node bundle still requires
# it. `npm run` never runs in the image, so nothing reinstalls them.
#   scripts/prune-tfjs.sh <node_modules folder>
set -euo pipefail
modules=${1:?node_modules folder}
tf=$modules/@tensorflow
[ -d "$tf" ] || { echo "[prune-tfjs] no $tf" >&2; exit 1; }
for pkg in "$tf"/*/; do
  pkg=${pkg%/}
  # tfjs-node's dist is its Node code (many files, and the addon beside it): kept whole.
  [ "$(basename "$pkg")" = tfjs-node ] && continue
  if [ "$(basename "$pkg")" = tfjs-backend-webgl ]; then
    version=$(node -p "require('$pkg/package.json').version")
    rm -rf "$pkg"
    mkdir -p "$pkg"
    printf '{ "name": "@tensorflow/tfjs-backend-webgl", "version": "%s", "main": "index.js", "description": "pruned from the fleet image: WebGL needs a browser" }\n' "$version" >"$pkg/package.json"
    echo 'module.exports = {}' >"$pkg/index.js"
    continue
  fi
  main=$(node -p "require('$pkg/package.json').main")
  find "$pkg" -type f ! -path "$pkg/$main" ! -name package.json ! -name '*.wasm' ! -name 'LICENSE*' -delete
  find "$pkg" -type d -empty -delete
done
# What the bundles load at run time must still be there.
for pkg in "$tf"/*/; do node -e "require('$pkg')" || { echo "[prune-tfjs] $(basename "$pkg") no longer loads" >&2; exit 1; }; done
echo "[prune-tfjs] $tf: $(du -sm "$tf" | cut -f1) MB"
