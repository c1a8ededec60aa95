#!/usr/bin/env bash
# Builds the optional native TensorFlow backend (@tensorflow/tfjs-node) into its own folder under
# ~/.cache/fleet, outside the project's node_modules, so package.json, the lockfile and the image
# stay as they are. Its own install script downloads libtensorflow from a host this machine cannot
# reach; the same libraries come from PyPI's tensorflow-cpu wheel instead. Idempotent: a finished
# build is reused. The scorer loads it from there when FLEET_SCORER_BACKEND is auto or tensorflow.
set -euo pipefail
TFJS_VERSION=4.22.0
TF_WHEEL_VERSION=2.15.1
CACHE=${FLEET_CACHE_DIR:-$HOME/.cache/fleet}
DEST=$CACHE/tfjs-node-$TFJS_VERSION
WHEELS=$CACHE/wheels
MODULE=$DEST/node_modules/@tensorflow/tfjs-node

# The addon is compiled against the running Node's headers: a build for another major is redone.
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ -f "$DEST/.built" ] && [ "$(cat "$DEST/.built")" = "node $node_major" ] && (cd "$DEST" && node -e "require('@tensorflow/tfjs-node')" >/dev/null 2>&1); then
  echo "[tfjs-node] $DEST ready"
  exit 0
fi

mkdir -p "$DEST" "$WHEELS"
cd "$DEST"
[ -f package.json ] || echo '{ "name": "fleet-tfjs-node", "private": true }' > package.json
echo "[tfjs-node] npm install @tensorflow/tfjs-node@$TFJS_VERSION (scripts off)"
npm install --ignore-scripts --no-audit --no-fund --loglevel=error "@tensorflow/tfjs-node@$TFJS_VERSION"

# tfjs-node 4.22.0 (the latest release) calls util.isNullOrUndefined, which Node 23 removed: every
# op then throws "util_1.isNullOrUndefined is not a function" on Node 24. The fix upstream
# (tensorflow/tfjs#8425, merged) is unreleased (tensorflow/tfjs#8609); this does what it does, in
# the pinned version's dist files only. Idempotent.
for f in "$MODULE"/dist/*.js "$MODULE"/dist/*/*.js; do
  grep -q '^var util_1 = require("util");$' "$f" || continue
  sed -i 's|^var util_1 = require("util");$|var util_1 = Object.assign({}, require("util"), { isNullOrUndefined: function (v) { return v === null \|\| v === undefined; }, isArray: Array.isArray }); // fleet: tensorflow/tfjs#8425|' "$f"
done

wheel=$(ls "$WHEELS"/tensorflow_cpu-$TF_WHEEL_VERSION-*.whl 2>/dev/null | head -1 || true)
if [ -z "$wheel" ]; then
  echo "[tfjs-node] pip download tensorflow-cpu==$TF_WHEEL_VERSION (~200 MB, once)"
  pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux2014_x86_64 -d "$WHEELS" "tensorflow-cpu==$TF_WHEEL_VERSION"
  wheel=$(ls "$WHEELS"/tensorflow_cpu-$TF_WHEEL_VERSION-*.whl | head -1)
fi

echo "[tfjs-node] unpacking libtensorflow from $(basename "$wheel")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unzip -q "$wheel" 'tensorflow/libtensorflow_cc.so.2' 'tensorflow/libtensorflow_framework.so.2' \
  'tensorflow/include/tensorflow/c/*' 'tensorflow/include/tensorflow/core/platform/*' \
  'tensorflow/include/tsl/platform/*' 'tensorflow/include/tsl/c/*' -d "$tmp"
lib=$MODULE/deps/lib
inc=$MODULE/deps/include
rm -rf "$MODULE/deps"
mkdir -p "$lib" "$inc"
cp "$tmp"/tensorflow/libtensorflow_cc.so.2 "$tmp"/tensorflow/libtensorflow_framework.so.2 "$lib"/
cp -r "$tmp"/tensorflow/include/tensorflow "$tmp"/tensorflow/include/tsl "$inc"/
# tfjs-node links against -ltensorflow; the .2.9.1 name is the file its install script looks for
# before deciding to download.
(cd "$lib" && for n in libtensorflow.so libtensorflow.so.2 libtensorflow.so.2.9.1; do ln -sf libtensorflow_cc.so.2 "$n"; done \
  && ln -sf libtensorflow_framework.so.2 libtensorflow_framework.so)

echo "[tfjs-node] compiling the addon"
# node-gyp downloads the running Node's headers unless told where they are: nothing but the package
# registries is reachable here, so point it at the headers installed beside node (Debian: /usr).
node_prefix=$(dirname "$(dirname "$(command -v node)")")
if [ -z "${npm_config_nodedir:-}" ] && [ -f "$node_prefix/include/node/node_api.h" ]; then export npm_config_nodedir=$node_prefix; fi
npm rebuild @tensorflow/tfjs-node --foreground-scripts --loglevel=error >"$DEST/build.log" 2>&1 || {
  tail -30 "$DEST/build.log"
  exit 1
}
# An op, not only the load: the Node 23+ breakage above shows only when a kernel runs.
node -e "const tf = require('@tensorflow/tfjs-node'); const s = tf.tensor([1, 2]).add(1).sum().dataSync()[0]; if (s !== 5) throw new Error('tfjs-node computes ' + s); console.log('[tfjs-node] backend', tf.getBackend(), 'TF', tf.version.tfjs, 'on node', process.version)"
echo "node $node_major" > "$DEST/.built"
echo "[tfjs-node] $DEST ready"
