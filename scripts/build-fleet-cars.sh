#!/usr/bin/env bash
# Builds fleet-cars, the Go load generator (loadtest/k6/cmd/fleet-cars: many cars per process,
# package carfleet), and prints the binary's path. Cached under ~/.cache/fleet/bin by a hash of the
# Go version and its sources, like scripts/build-k6.sh; it needs only Paho's module, so a cold
# build takes seconds. `scripts/build-fleet-cars.sh model-dump` builds loadtest/k6/cmd/model-dump
# (the car model's messages as JSON lines: test/go-model-parity.test.ts) the same way.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src=$root/loadtest/k6
cmd=${1:-fleet-cars}
case $cmd in fleet-cars|model-dump) ;; *) echo "build-fleet-cars: unknown command $cmd" >&2; exit 2;; esac
export GOTOOLCHAIN=local
command -v go >/dev/null || { echo "build-fleet-cars: go is not installed" >&2; exit 1; }
key=$( { go version; cd "$src" && { find cmd/$cmd xk6-mqtt/carfleet -name '*.go' -not -name '*_test.go'; echo go.mod; echo go.sum; } | LC_ALL=C sort | xargs sha256sum; } | sha256sum | cut -c1-16)
bin_dir=${FLEET_BIN_DIR:-$HOME/.cache/fleet/bin}
bin=$bin_dir/$cmd-$key
if [ ! -x "$bin" ]; then
  mkdir -p "$bin_dir"
  (cd "$src" && go build -trimpath -ldflags='-s -w' -o "$bin.tmp.$$" ./cmd/$cmd)
  mv "$bin.tmp.$$" "$bin"
  ls -t "$bin_dir"/"$cmd"-* 2>/dev/null | grep -v '\.tmp\.' | tail -n +3 | xargs -r rm -f
fi
echo "$bin"
