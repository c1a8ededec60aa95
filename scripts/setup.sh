#!/usr/bin/env bash
# Installs what fleet needs on a fresh Debian machine: Java and Maven (to fetch and run Kafka),
# redis-server, Chromium (dashboard test) and the npm dependencies. Idempotent; quiet when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
command -v redis-server >/dev/null || need+=(redis-server)
# the dashboard test drives Debian's Chromium (playwright-core, no browser download)
[ -x "${FLEET_CHROMIUM:-/usr/bin/chromium}" ] || need+=(chromium)
if [ "${#need[@]}" -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "[setup] please install: ${need[*]}" >&2; exit 1; }
  echo "[setup] installing ${need[*]}" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# npm ci when node_modules is missing or older than the lock file
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[setup] npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
