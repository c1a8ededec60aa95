// cmd/k6-verdict on runner summaries made here (no broker, no k6 run): the PUBACK latency targets
// are judged on the PUBACKs outside the reconnect storm and the storm's PUBACKs on their own limit,
// so a short local run, whose storm is a large share of its messages, is judged like the 40-minute
// TestRun; a summary without the split is still judged on the whole histogram.
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'

const root = new URL('..', import.meta.url).pathname

/** k6-verdict beside the k6 build-k6.sh makes (FLEET_K6_BIN: a given k6, e.g. an older build). */
function findVerdict (): { bin: string } | { missing: string } {
  try {
    const k6 = process.env.FLEET_K6_BIN ?? execFileSync(`${root}scripts/build-k6.sh`, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim()
    return { bin: k6.replace(/k6-fleet-([0-9a-f]+)$/, 'k6-verdict-$1') }
  } catch (err) {
    if (process.env.FLEET_TEST_REQUIRE_OPTIONAL === '1') throw err
    return { missing: `k6 could not be built (scripts/build-k6.sh: ${(err as Error).message.split('\n')[0]})` }
  }
}
const found = findVerdict()
const skip = 'missing' in found ? found.missing : false

/** A histogram as k6/x/mqtt writes it: {bucket: count}, bucket b holding (1.01^(b-1), 1.01^b] ms. */
function histogram (samples: Array<[ms: number, count: number]>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [ms, n] of samples) {
    const b = String(Math.ceil(Math.log(ms) / Math.log(1.01)))
    out[b] = (out[b] ?? 0) + n
  }
  return out
}
const sum = (...hs: Array<Record<string, number>>) => {
  const out: Record<string, number> = {}
  for (const h of hs) for (const [b, n] of Object.entries(h)) out[b] = (out[b] ?? 0) + n
  return out
}

const limits = { cars: 100, minOnlineRate: 0.999, maxConnectErrors: 1000, maxLost: 0, maxErrorRate: 0.001, pubackP95Ms: 250, pubackP99Ms: 500, stormReconnectP99Ms: 120_000, stormPubackP99Ms: 2_000 }

/** Two runners' summaries of a test with a storm: PUBACK samples outside and during the storm. */
function run (outside: Array<[number, number]>, storm: Array<[number, number]>, opts: { split?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-k6-verdict-'))
  for (const segment of ['0:1/2', '1/2:1']) {
    const histograms: Record<string, Record<string, number>> = {
      mqtt_puback_duration: sum(histogram(outside), histogram(storm)),
      storm_reconnect_duration: histogram([[3_000, 50]])
    }
    if (opts.split !== false) {
      histograms.mqtt_puback_duration_outside_storm = histogram(outside)
      histograms.mqtt_puback_duration_storm = histogram(storm)
    }
    const acked = [...outside, ...storm].reduce((n, [, c]) => n + c, 0)
    writeFileSync(join(dir, `k6-${segment.replace(/[^0-9]+/g, '_')}.json`), JSON.stringify({
      format: 'fleet-k6-summary/1',
      instance: `k6-${segment}`,
      segment,
      limits,
      counters: { mqtt_connect_errors: 0, cars_connection_lost: 0 },
      rates: { cars_online: { passes: 50, fails: 0 }, storm_cars_back: { passes: 50, fails: 0 }, telemetry_failed: { passes: 0, fails: acked } },
      histograms
    }))
  }
  const r = spawnSync((found as { bin: string }).bin, [dir], { encoding: 'utf8' })
  const v = JSON.parse(r.stdout || '{}') as { pass: boolean, checks: Array<{ name: string, value: number | null, pass: boolean }> }
  return { code: r.status, v, failed: (v.checks ?? []).filter(c => !c.pass).map(c => c.name), stderr: r.stderr }
}

test('a storm that is 10 % of the PUBACKs does not decide the latency verdict; the rest is held to the targets', { skip }, () => {
  // 90 % of the PUBACKs at 5 ms outside the storm, 10 % at 800 ms while the cars reconnect: the
  // whole run's p95 is 800 ms, but the product's targets are met outside the storm and the
  // storm's p99 is within its own limit.
  const r = run([[5, 900]], [[800, 100]])
  assert.equal(r.code, 0, `${r.failed.join('; ')} ${r.stderr}`)
  assert.deepEqual(r.failed, [])
  const names = r.v.checks.map(c => c.name)
  assert.ok(names.includes('mqtt_puback_duration_outside_storm p95 (ms)'), names.join('; '))
  assert.ok(names.includes('mqtt_puback_duration_storm p99 (ms)'), names.join('; '))
  assert.equal(r.v.checks.find(c => c.name === 'mqtt_puback_duration_outside_storm p95 (ms)')?.value, 5.01)
})

test('slow PUBACKs outside the storm still fail the verdict', { skip }, () => {
  const r = run([[5, 800], [600, 100]], [[10, 100]])
  assert.equal(r.code, 99)
  assert.deepEqual(r.failed, ['mqtt_puback_duration_outside_storm p95 (ms)', 'mqtt_puback_duration_outside_storm p99 (ms)'])
})

test('a storm whose PUBACKs exceed its own limit fails the verdict', { skip }, () => {
  const r = run([[5, 900]], [[10, 90], [2_500, 10]])
  assert.equal(r.code, 99)
  assert.deepEqual(r.failed, ['mqtt_puback_duration_storm p99 (ms)'])
})

test('summaries without the split are judged on the whole histogram', { skip }, () => {
  const r = run([[5, 900]], [[800, 100]], { split: false })
  assert.equal(r.code, 99)
  assert.deepEqual(r.failed, ['mqtt_puback_duration p95 (ms)', 'mqtt_puback_duration p99 (ms)'])
})
