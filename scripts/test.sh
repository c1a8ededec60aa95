#!/usr/bin/env bash
# Runs the whole test suite: unit tests next to the code, system tests under test/ against a real
# Kafka and Redis (started by scripts/stack.sh if not already running, and stopped again after).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
started=0
status=$(scripts/stack.sh status)
if [[ $status != *"kafka: running"* || $status != *"redis: running"* ]]; then
  scripts/stack.sh up
  started=1
fi
npx tsx scripts/kafka-topics.ts
cleanup() { [ "$started" = 1 ] && scripts/stack.sh down || true; }
trap cleanup EXIT
mapfile -t files < <(find services test -name '*.test.ts' -not -path '*/node_modules/*' | sort)
if [ "$#" -gt 0 ]; then files=("$@"); fi
node --import tsx --test --test-concurrency=1 --test-reporter=spec --test-timeout=300000 "${files[@]}"
