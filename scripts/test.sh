#!/usr/bin/env bash
# Runs the whole test suite: unit tests next to the code, system tests under test/ against a real
# Kafka and Redis of the suite's own (other ports and state than `npm start`'s, wiped at each start),
# so tests never leave data where the running system reads it. Installs and caches (~/.cache/fleet)
# every tool a test needs; a tool that cannot be had here is reported and its tests are skipped with
# the reason (FLEET_TEST_REQUIRE_OPTIONAL=1, as in CI, makes that a failure).
#   bash scripts/test.sh [test files...]
set -euo pipefail
cd "$(dirname "$0")/.."
# Node 24 LTS first on PATH (scripts/node.sh; FLEET_NODE_VERSION=22.20.0 runs the suite on Node 22).
node_bin=$(scripts/node.sh bin)
if [ -n "$node_bin" ]; then export PATH=$node_bin:$PATH; fi
scripts/setup.sh

# Tools (cached after the first run; minutes when cold).
mkdir -p results/tmp
tool() { # tool <name> <command...>: run an installer, keep going without it
  local name=$1; shift
  if ! "$@" >"results/tmp/tools-$name.log" 2>&1; then
    echo "[test] could not install $name (results/tmp/tools-$name.log): its tests are skipped" >&2
    tail -n 5 "results/tmp/tools-$name.log" | sed 's/^/[test]   /' >&2
    return 1
  fi
}
tool deploy scripts/tools.sh deploy || true         # helm, kubernetes-validate, schemas: test/deploy-manifests
tool skaffold scripts/tools.sh skaffold || true     # the skaffold render test (~5 min cold)
tool tfjs-node scripts/build-tfjs-node.sh || true   # the native scorer backend test (~1 min cold)
if tool k6 scripts/build-k6.sh; then export FLEET_K6_BIN=${FLEET_K6_BIN:-$(tail -n 1 results/tmp/tools-k6.log)}; fi

# The tests use the published development keys (test cars get their own credentials).
export FLEET_DEV_MODE=1

# The suite's own Kafka and Redis.
export FLEET_STACK_DIR=${FLEET_TEST_STACK_DIR:-$PWD/.stack-test}
export FLEET_KAFKA_PORT=${FLEET_TEST_KAFKA_PORT:-29092} FLEET_KAFKA_CONTROLLER_PORT=${FLEET_TEST_KAFKA_CONTROLLER_PORT:-29093}
export FLEET_REDIS_PORT=${FLEET_TEST_REDIS_PORT:-26379}
export FLEET_KAFKA_BROKERS=127.0.0.1:$FLEET_KAFKA_PORT FLEET_REDIS_URL=redis://127.0.0.1:$FLEET_REDIS_PORT
started=0
status=$(scripts/stack.sh status)
if [[ $status != *"kafka: running"* || $status != *"redis: running"* ]]; then
  scripts/stack.sh reset >/dev/null 2>&1 || true  # a fresh, empty Kafka and Redis for every run
  scripts/stack.sh up
  started=1
fi
cleanup() { [ "$started" = 1 ] && scripts/stack.sh down || true; }
trap cleanup EXIT
npx tsx scripts/kafka-topics.ts

mapfile -t files < <(find services test -name '*.test.ts' -not -path '*/node_modules/*' | sort)
if [ "$#" -gt 0 ]; then files=("$@"); fi
node --import tsx --test --test-concurrency=1 --test-reporter=spec --test-timeout=300000 "${files[@]}"
