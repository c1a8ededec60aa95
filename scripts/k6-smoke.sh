#!/usr/bin/env bash
# CI smoke of the k6 car simulator: builds (or reuses) k6 with k6/x/mqtt and runs
# loadtest/k6/cars.ts at small scale against the MQTT broker at FLEET_MQTT_HOST:FLEET_MQTT_PORT.
# Exits non-zero when a threshold fails (k6 exits 99); the summary goes to results/k6-smoke.json.
# Scale and thresholds are cars.ts's env variables (CARS, RAMP, DURATION, PUBACK_P95_MS, ...).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
k6=${FLEET_K6_BIN:-$("$root/scripts/build-k6.sh")}
out=${FLEET_K6_SUMMARY:-$root/results/k6-smoke.json}
mkdir -p "$(dirname "$out")"
export FLEET_MQTT_HOST=${FLEET_MQTT_HOST:-127.0.0.1}
export FLEET_MQTT_PORT=${FLEET_MQTT_PORT:-1883}
export CARS=${CARS:-500} RAMP=${RAMP:-5s} DURATION=${DURATION:-25s} INTERVAL_MS=${INTERVAL_MS:-1000}
export MAX_ERROR_RATE=${MAX_ERROR_RATE:-0}
export GOGC=${GOGC:-200} # see loadtest/k6/README.md: GC stalls read as PUBACK latency
# each car's own credential: provisioned in Redis (FLEET_REDIS_URL) unless a file is given
if [ -z "${CREDENTIALS_FILE:-}" ]; then
  export CREDENTIALS_FILE=$root/results/tmp/k6-credentials.tsv
  mkdir -p "$(dirname "$CREDENTIALS_FILE")"
  (cd "$root" && npx tsx scripts/provision-vehicle.ts --bulk "$CARS" --prefix "${ID_PREFIX:-k6-car}" --first "$(( ${CAR_OFFSET:-0} + 1 ))" > "$CREDENTIALS_FILE")
fi
echo "k6-smoke: $CARS cars for ${RAMP} ramp + ${DURATION} against $FLEET_MQTT_HOST:$FLEET_MQTT_PORT" >&2
# --address "": no REST API port, so parallel runs on one machine do not collide.
exec "$k6" run --no-usage-report --quiet --address "" --summary-export "$out" "$@" "$root/loadtest/k6/cars.ts"
