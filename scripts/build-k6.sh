#!/usr/bin/env bash
# Builds k6 with fleet's MQTT extension (loadtest/k6) and prints the binary's path; k6-verdict
# (cmd/k6-verdict: one verdict over every runner's summary) is built beside it, same key. Both are
# cached under ~/.cache/fleet/bin, keyed by a hash of the Go version, go.mod/go.sum and sources, so
# a second run only hashes. Modules come from the Go proxy, pinned by go.sum.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src=$root/loadtest/k6
export GOTOOLCHAIN=local
command -v go >/dev/null || { echo "build-k6: go is not installed" >&2; exit 1; }
key=$( { go version; cd "$src" && find . -name '*.go' -o -name go.mod -o -name go.sum | LC_ALL=C sort | xargs sha256sum; } | sha256sum | cut -c1-16)
bin_dir=${FLEET_BIN_DIR:-$HOME/.cache/fleet/bin}
bin=$bin_dir/k6-fleet-$key
verdict=$bin_dir/k6-verdict-$key
if [ ! -x "$verdict" ]; then
  mkdir -p "$bin_dir"
  (cd "$src" && go build -trimpath -ldflags='-s -w' -o "$verdict.tmp.$$" ./cmd/k6-verdict)
  mv "$verdict.tmp.$$" "$verdict"
  ls -t "$bin_dir"/k6-verdict-* 2>/dev/null | grep -v '\.tmp\.' | tail -n +3 | xargs -r rm -f
fi
if [ ! -x "$bin" ]; then
  mkdir -p "$bin_dir"
  echo "build-k6: building $bin (takes minutes)" >&2
  started=$(date +%s)
  (cd "$src" && go build -trimpath -ldflags='-s -w' -o "$bin.tmp.$$" ./cmd/k6)
  mv "$bin.tmp.$$" "$bin"
  ln -sfn "$(basename "$bin")" "$bin_dir/k6-fleet"
  echo "build-k6: built in $(( $(date +%s) - started ))s" >&2
  # Keep the two newest builds (another checkout may still use the previous one).
  ls -t "$bin_dir"/k6-fleet-* 2>/dev/null | grep -v '\.tmp\.' | tail -n +3 | xargs -r rm -f
fi
echo "$bin"
