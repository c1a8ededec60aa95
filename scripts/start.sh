#!/usr/bin/env bash
# `npm start`: installs what is missing, starts Kafka and Redis (scripts/stack.sh), creates the
# topics and runs every fleet service plus a small simulated fleet in one process.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/stack.sh up
npx tsx scripts/kafka-topics.ts
# a developer machine: the published development keys are allowed, the simulator provisions
# its own credentials (services refuse all that without FLEET_DEV_MODE=1)
export FLEET_DEV_MODE=1
# the broker's V8 flag (as in the Helm chart): a larger young generation, less GC under load
NODE_OPTIONS="${NODE_OPTIONS:-} --max-semi-space-size=64" exec npx tsx services/all-in-one/src/main.ts
