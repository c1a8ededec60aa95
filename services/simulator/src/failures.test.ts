// The failing share of `npm start`'s simulated fleet, scored by the committed model exactly as the
// scorer does (batch-scoring.ts, wasm backend): every failing car is flagged within a few minutes
// at the simulator's default interval, with its own failure as the likely cause, and no healthy
// car is flagged.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createVehicle } from '../../shared/src/vehicle-model.js'
import { createRuntime, scoreRows, type ValidRow } from '../../scorer/src/batch-scoring.js'
import { loadModel } from '../../scorer/src/model-files.js'
import { loadTf } from '../../scorer/src/tf-backend.js'
import { parseTelemetry } from '../../shared/src/telemetry-schema.js'
import { DEFAULT_FAILURE_MODES, failureOf, parseFailureModes } from './failures.js'
import { loadSimulatorConfig } from './simulator-config.js'

const MODEL_DIR = new URL('../../../model', import.meta.url).pathname
const START = 1_760_000_000_000

test('failing cars are spread evenly and take the modes in turn', () => {
  const plan = { seed: 1, failingPct: 20, modes: DEFAULT_FAILURE_MODES, onsetMaxS: 180, developS: 240 }
  const failing = Array.from({ length: 100 }, (_, i) => [i, failureOf(i, plan)] as const).filter(([, f]) => f !== null)
  assert.equal(failing.length, 20)
  assert.deepEqual(failing.slice(0, 4).map(([i]) => i), [4, 9, 14, 19])
  assert.deepEqual(failing.slice(0, 6).map(([, f]) => f!.mode), [...DEFAULT_FAILURE_MODES, DEFAULT_FAILURE_MODES[0]])
  for (const [, f] of failing) assert.ok(f!.onsetS >= 0 && f!.onsetS <= 180 && f!.developS === 240)
  assert.equal(failureOf(4, { ...plan, failingPct: 0 }), null)
  assert.equal(Array.from({ length: 7 }, (_, i) => failureOf(i, { ...plan, failingPct: 100 })).filter(Boolean).length, 7)
  assert.deepEqual(failureOf(9, plan), failureOf(9, plan), 'the same car gets the same failure in every process')
})

test('FLEET_SIM_FAILURE_MODES takes known modes only', () => {
  assert.deepEqual(loadSimulatorConfig({ FLEET_DEV_MODE: '1', FLEET_SIM_FAILURE_MODES: 'coolant_leak, bearing_wear' }).failureModes, ['coolant_leak', 'bearing_wear'])
  assert.throws(() => loadSimulatorConfig({ FLEET_DEV_MODE: '1', FLEET_SIM_FAILURE_MODES: 'coolant_leak,flat_battery' }), /FLEET_SIM_FAILURE_MODES.*flat_battery/s)
  assert.throws(() => parseFailureModes(['nope']), /not a failure mode/)
})

test('npm start\'s fleet: the real model flags every failing car within minutes, with its cause, and no healthy one', async () => {
  const config = loadSimulatorConfig({ FLEET_DEV_MODE: '1' })
  const plan = { seed: config.seed, failingPct: config.failingPct, modes: config.failureModes, onsetMaxS: config.failureOnsetMaxS, developS: config.failureDevelopS }
  const { tf } = await loadTf('wasm')
  const { model, metadata } = await loadModel(tf, MODEL_DIR)
  const rt = createRuntime(tf, model, metadata)
  const dtS = config.intervalMs / 1_000
  const minutes = 10
  const cars = Array.from({ length: config.cars }, (_, index) => {
    const failure = failureOf(config.firstCar + index, plan)
    const id = `${config.idPrefix}-${String(index).padStart(5, '0')}`
    return { id, failure, car: createVehicle({ vehicleId: id, seed: config.seed * 1_000_003 + index, failure }) }
  })
  // Every car's messages in time order, as the scorer would see them.
  const rows: ValidRow[] = []
  for (let t = 1; t <= minutes * 60 / dtS; t++) {
    for (const c of cars) {
      const text = JSON.stringify(c.car.next(dtS, START + t * config.intervalMs))
      const parsed = parseTelemetry(Buffer.from(text), c.id, 65_536)
      assert.ok(parsed.ok)
      rows.push({ record: { partition: 0, offset: String(rows.length), key: Buffer.from(c.id), value: null, timestamp: String(START) }, telemetry: parsed.value, bytes: Buffer.from(text) })
    }
  }
  const { scored } = scoreRows(rt, rows, 8_192, START)
  const firstFlag = new Map<string, { atS: number, guess: string | null }>()
  const guesses = new Map<string, Map<string, number>>()
  for (const s of scored) {
    if (!s.score.anomalous) continue
    const id = s.score.vehicleId
    if (!firstFlag.has(id)) firstFlag.set(id, { atS: (s.score.ts - START) / 1_000, guess: s.failureMode })
    const g = guesses.get(id) ?? new Map<string, number>()
    g.set(String(s.failureMode), (g.get(String(s.failureMode)) ?? 0) + 1)
    guesses.set(id, g)
  }
  const report = cars.map(c => ({ id: c.id, mode: c.failure?.mode ?? null, onsetS: c.failure?.onsetS ?? null, flaggedAtS: firstFlag.get(c.id)?.atS ?? null, guesses: Object.fromEntries(guesses.get(c.id) ?? []) }))
  console.log(JSON.stringify(report.filter(r => r.mode !== null || r.flaggedAtS !== null)))
  const failing = cars.filter(c => c.failure !== null)
  assert.equal(failing.length, Math.round(config.cars * config.failingPct / 100))
  for (const c of cars) {
    const flag = firstFlag.get(c.id)
    if (c.failure === null) {
      assert.equal(flag, undefined, `healthy ${c.id} flagged at ${flag?.atS} s`)
      continue
    }
    assert.ok(flag !== undefined, `${c.id} (${c.failure.mode}, onset ${c.failure.onsetS} s) flagged within ${minutes} minutes`)
    assert.ok(flag.atS <= 7 * 60, `${c.id} (${c.failure.mode}) flagged within 7 minutes of the start, not ${flag.atS} s`)
    const g = guesses.get(c.id)!
    const top = [...g].sort((a, b) => b[1] - a[1])[0]![0]
    assert.equal(top, c.failure.mode, `${c.id}: the likely cause most often given is its failure`)
  }
})
