#!/usr/bin/env bash
# Installs what fleet needs on a fresh Debian machine: Java and Maven (to fetch and run Kafka),
# redis-server, Chromium (dashboard test), Mosquitto and its clients (the conformance suite's peer
# broker and independent client), Node 24 (scripts/node.sh) and the npm dependencies. Idempotent; quiet when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
command -v redis-server >/dev/null || need+=(redis-server)
# scripts/node.sh unpacks Node 24 from its wheel
command -v unzip >/dev/null || need+=(unzip)
# the dashboard test drives Debian's Chromium (playwright-core, no browser download)
[ -x "${FLEET_CHROMIUM:-/usr/bin/chromium}" ] || need+=(chromium)
# test/conformance.test.ts starts its own Mosquitto on a free port and drives both brokers with mosquitto_pub/sub
[ -x "${FLEET_MOSQUITTO_BIN:-/usr/sbin/mosquitto}" ] || need+=(mosquitto)
command -v mosquitto_sub >/dev/null || need+=(mosquitto-clients)
if [ "${#need[@]}" -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "[setup] please install: ${need[*]}" >&2; exit 1; }
  echo "[setup] installing ${need[*]}" >&2
  # Packages must not start their daemons: a system Mosquitto on 1883 would take fleet's MQTT port.
  # policy-rc.d (exit 101 = "not allowed") is what invoke-rc.d and deb-systemd-invoke ask.
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  if [ -n "$policy" ]; then rm -f "$policy"; trap - EXIT; fi
  # with systemd, also keep it from starting at the next boot
  if [ -d /run/systemd/system ] && [[ " ${need[*]} " == *" mosquitto "* ]]; then systemctl disable --now mosquitto >/dev/null 2>&1 || true; fi
fi
# Node 24 LTS under ~/.cache/fleet when this machine's node is another major (scripts/test.sh and
# .ci/run put it first on PATH).
scripts/node.sh bin >/dev/null
# npm ci when node_modules is missing or older than the lock file
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[setup] npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
