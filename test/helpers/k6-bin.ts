// k6 with fleet's k6/x/mqtt extension for tests: FLEET_K6_BIN, else scripts/build-k6.sh (cached by
// source hash; minutes when cold). Where it cannot be had the caller skips with the reason, unless
// FLEET_TEST_REQUIRE_OPTIONAL=1 (CI), where that fails.
import { execFileSync } from 'node:child_process'

const root = new URL('../..', import.meta.url).pathname

export function findK6 (): { bin: string } | { missing: string } {
  if (process.env.FLEET_K6_BIN !== undefined) return { bin: process.env.FLEET_K6_BIN }
  try {
    return { bin: execFileSync(`${root}scripts/build-k6.sh`, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim() }
  } catch (err) {
    if (process.env.FLEET_TEST_REQUIRE_OPTIONAL === '1') throw err
    return { missing: `k6 could not be built (scripts/build-k6.sh: ${(err as Error).message.split('\n')[0]})` }
  }
}
