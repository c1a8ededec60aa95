// k6's car (loadtest/k6/car-telemetry.ts) is the car the scorer learned: the committed bundle
// loadtest/k6/vehicle-model.js is a fresh bundle of services/shared/src/vehicle-model.ts, it sends
// byte for byte what vehicle-model.ts sends for the same seed (in Node, and in k6 itself within the
// Go-math tolerance of test/helpers/model-parity.ts), and the k6 image carries every file cars.ts
// imports.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { createCar } from '../loadtest/k6/car-telemetry.js'
import { bundleK6Car, K6_CAR_BUNDLE } from '../scripts/k6-car-bundle.js'
import { parseTelemetry } from '../services/shared/src/telemetry-schema.js'
import { createVehicle } from '../services/shared/src/vehicle-model.js'
import { k6CarLines, type K6ModelCar } from './helpers/k6-car-dump.js'
import { findK6 } from './helpers/k6-bin.js'
import { checkMessage, describeTally, newTally } from './helpers/model-parity.js'

const root = new URL('..', import.meta.url)
const TS0 = Date.UTC(2026, 11, 6, 8)
// cars.ts seeds car k with its number CAR_OFFSET + k + 1 (1 … 100,000 and beyond).
const seeds = [1, 2, 3, 50, 51, 999, 1_000, 4_999, 5_000, 25_001, 65_536, 99_999, 100_000, 2_147_483_647]
const cars: K6ModelCar[] = [
  ...seeds.map((seed, i) => ({ vehicleId: `k6-par-10s-${i}`, seed, intervalMs: 10_000, ts0: TS0, n: 120 })),
  ...seeds.slice(0, 4).map((seed, i) => ({ vehicleId: `k6-par-1s-${i}`, seed, intervalMs: 1_000, ts0: TS0, n: 600 })),
  { vehicleId: 'k6-par-2500ms', seed: 7, intervalMs: 2_500, ts0: TS0, n: 300 },
  { vehicleId: 'k6-par-250ms', seed: 8, intervalMs: 250, ts0: TS0, n: 600 },
  { vehicleId: 'k6-par-seq', seed: 9, intervalMs: 10_000, ts0: TS0, n: 60, firstSeq: 1_000 }
]
/** vehicle-model.ts's car as the k6 car is meant to be: healthy, cold, one interval per message. */
const reference = (c: K6ModelCar) => createVehicle({ vehicleId: c.vehicleId, seed: c.seed, failure: null, firstSeq: c.firstSeq })

test('the committed k6 car bundle is a fresh bundle of vehicle-model.ts and imports nothing', async () => {
  const committed = readFileSync(new URL(K6_CAR_BUNDLE, root), 'utf8')
  assert.ok(committed === await bundleK6Car(), `${K6_CAR_BUNDLE} is stale: run npm run loadtest:k6:car and commit it`)
  assert.doesNotMatch(committed, /^\s*import[\s{*]/m, 'k6 cannot resolve npm imports')
  assert.match(committed, /^export \{[^}]*\bcreateVehicle\b/m)
})

test('the k6 car sends byte for byte what vehicle-model.ts sends for the same seed (Node)', () => {
  let messages = 0
  for (const c of cars) {
    const car = createCar(c.vehicleId, c.seed, c.intervalMs, c.firstSeq)
    const want = reference(c)
    for (let k = 0; k < c.n; k++) {
      const ts = c.ts0 + k * c.intervalMs
      const text = JSON.stringify(car.next(ts))
      assert.equal(text, JSON.stringify(want.next(c.intervalMs / 1_000, ts)), `${c.vehicleId} (seed ${c.seed}) message ${k}`)
      const parsed = parseTelemetry(Buffer.from(text), c.vehicleId, 16_384)
      assert.ok(parsed.ok, parsed.ok ? '' : parsed.detail)
      messages++
    }
  }
  assert.equal(messages, cars.reduce((n, c) => n + c.n, 0))
})

const found = findK6()
test('the k6 car run by k6 sends what vehicle-model.ts sends for the same seed (Go math within one unit)', { timeout: 300_000, skip: 'missing' in found ? found.missing : false }, t => {
  const lines = k6CarLines('bin' in found ? found.bin : '', cars)
  assert.equal(lines.length, cars.reduce((n, c) => n + c.n, 0), 'every message of every car')
  const node = new Map(cars.map(c => [c.vehicleId, { c, v: reference(c), k: 0 }]))
  const tally = newTally()
  for (const line of lines) {
    const id = (JSON.parse(line) as { vehicleId: string }).vehicleId
    const n = node.get(id)
    assert.ok(n !== undefined, `unknown car in ${line.slice(0, 80)}`)
    const want = n.v.next(n.c.intervalMs / 1_000, n.c.ts0 + n.k * n.c.intervalMs)
    checkMessage(tally, line, want, `${id} (seed ${n.c.seed}) message ${n.k++}`, 'k6')
  }
  t.diagnostic(describeTally(tally, cars.length))
  assert.ok(tally.exact / tally.numbers >= 0.99, describeTally(tally, cars.length))
})

test('the k6 image carries every file cars.ts imports, and .dockerignore lets them in', () => {
  const dir = new URL('loadtest/k6/', root)
  const dockerfile = readFileSync(new URL('Dockerfile', dir), 'utf8')
  const copied = new Set([...dockerfile.matchAll(/^COPY (?!--from)(.+) \/scripts\/$/gm)].flatMap(m => m[1]!.trim().split(/\s+/)))
  // Docker's rule: the last matching line wins; here `*` and then `!name` lines.
  const rules = readFileSync(new URL('.dockerignore', dir), 'utf8').split('\n').map(l => l.trim()).filter(l => l !== '' && !l.startsWith('#'))
  const inContext = (f: string) => rules.reduce((kept, r) => r === '*' ? false : r === `!${f}` ? true : kept, true)
  const needed = new Set<string>()
  const visit = (file: string) => {
    if (needed.has(file)) return
    needed.add(file)
    const text = readFileSync(new URL(file, dir), 'utf8')
    // Value imports only: k6 strips `import type` before it resolves anything.
    for (const m of text.matchAll(/^import (?!type )[^'\n]*'\.\/([^']+)'/gm)) visit(m[1]!)
  }
  visit('cars.ts')
  assert.deepEqual([...needed].sort(), ['car-telemetry.ts', 'cars.ts', 'vehicle-model.js'])
  for (const f of needed) {
    assert.ok(copied.has(f), `loadtest/k6/Dockerfile does not COPY ${f} into /scripts/`)
    assert.ok(inContext(f), `loadtest/k6/.dockerignore keeps ${f} out of the build context`)
  }
})
