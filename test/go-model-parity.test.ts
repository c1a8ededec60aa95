// The Go load generator's car (loadtest/k6/xk6-mqtt/carfleet/model.go) is the Node simulator's
// car (services/shared/src/vehicle-model.ts), the one the scorer's autoencoder learned: the same
// seed gives the same messages. Go's math.Log/Cos/Sin/Exp/Pow may differ from V8's by an ulp, so a
// number may be one unit of its rounding off; anything else (a draw out of order, another formula,
// another seed mix) puts whole cars off and fails. Needs Go (scripts/build-fleet-cars.sh); a Go
// that is missing or does not build fails the test: it is never skipped.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createVehicle, type FailureMode } from '../services/shared/src/vehicle-model.js'
import { parseTelemetry } from '../services/shared/src/telemetry-schema.js'
import { buildModelDump, goModelLines, type GoModelCar } from './helpers/go-model.js'
import { checkMessage, describeTally, newTally } from './helpers/model-parity.js'

const TS0 = Date.UTC(2026, 11, 6, 8)
// carfleet seeds its cars with index + FLEET_SIM_SEED × 1,000,003: past 2^31 (and 2^32) for large
// seeds, where both sides keep only the low 32 bits (JavaScript's ToInt32; Go's uint32).
const seeds = [0, 1, 2, 3, 7, 42, 99, 1_000, 1_001, 12_345, 65_535, 99_999, 1_000_003, 2_147_483_647,
  3_000_009_005, 4_294_967_296 + 5, 10_000_030_000 + 77, -1, -123_456, 2 ** 31]
const modes: FailureMode[] = ['coolant_leak', 'bearing_wear', 'battery_degradation', 'maf_sensor_drift', 'tyre_slow_puncture']
const cars: GoModelCar[] = [
  ...seeds.map((seed, i) => ({ vehicleId: `par-10s-${i}`, seed, intervalMs: 10_000, ts0: TS0, n: 120 })),
  ...seeds.slice(0, 5).map((seed, i) => ({ vehicleId: `par-1s-${i}`, seed: seed + 500, intervalMs: 1_000, ts0: TS0, n: 600 })),
  { vehicleId: 'par-2500ms', seed: 31, intervalMs: 2_500, ts0: TS0, n: 300 },
  { vehicleId: 'par-250ms', seed: 32, intervalMs: 250, ts0: TS0, n: 600 },
  { vehicleId: 'par-warm', seed: 33, intervalMs: 10_000, ts0: TS0, n: 120, coldStart: false, firstSeq: 1_000 },
  ...modes.map((mode, i) => ({ vehicleId: `par-${mode}`, seed: 40 + i, intervalMs: 10_000, ts0: TS0, n: 180, failure: { mode, onsetS: 300 } })),
  { vehicleId: 'par-fast-leak', seed: 50, intervalMs: 5_000, ts0: TS0, n: 200, failure: { mode: 'coolant_leak', onsetS: 60, developS: 120 } }
]

test('the Go car model sends what vehicle-model.ts sends for the same seed (fields, order, numbers, JSON text)', { timeout: 120_000 }, async t => {
  const bin = buildModelDump()
  const node = new Map(cars.map(c => {
    const v = createVehicle({ vehicleId: c.vehicleId, seed: c.seed, failure: c.failure ?? null, coldStart: c.coldStart, firstSeq: c.firstSeq })
    return [c.vehicleId, { car: c, v, k: 0 }]
  }))
  const tally = newTally()
  for await (const line of goModelLines(bin, cars)) {
    const got = JSON.parse(line) as { vehicleId: string }
    const n = node.get(got.vehicleId)
    assert.ok(n !== undefined, `unknown car in ${line.slice(0, 80)}`)
    const want = n.v.next(n.car.intervalMs / 1_000, n.car.ts0 + n.k * n.car.intervalMs)
    const where = `${n.car.vehicleId} (seed ${n.car.seed}) message ${n.k}`
    n.k++
    const parsed = parseTelemetry(Buffer.from(line), got.vehicleId, 16_384)
    assert.ok(parsed.ok, `${where}: ${parsed.ok ? '' : parsed.detail}`)
    checkMessage(tally, line, want, where, 'Go')
  }
  for (const n of node.values()) assert.equal(n.k, n.car.n, `${n.car.vehicleId}: messages from Go`)
  const share = tally.exact / tally.numbers
  t.diagnostic(describeTally(tally, cars.length))
  assert.ok(share >= 0.99, `only ${(share * 100).toFixed(2)} % of the numeric fields are exactly equal`)
})
