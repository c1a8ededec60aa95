// Batch scoring with the committed model on the wasm backend (the default where tfjs-node is not
// built): bad records become DLQ records, a failing simulated car is flagged after its onset and a
// healthy one is not, and how rows are cut into tensors does not change a score.
import assert from 'node:assert/strict'
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { before, test } from 'node:test'
import { checkAnomaly } from '../../shared/src/anomaly-schema.js'
import { createVehicle, type FailureSpec } from '../../shared/src/vehicle-model.js'
import { createRuntime, parseRecords, scoreRows, type ModelRuntime, type TelemetryRecord } from './batch-scoring.js'
import { smoothedDriveScores, type Drive } from './drive-data.js'
import { loadModel, ModelFilesError } from './model-files.js'
import { loadTf, type LoadedTf } from './tf-backend.js'

const MODEL_DIR = new URL('../../../model', import.meta.url).pathname
let tfl: LoadedTf
let loaded: Awaited<ReturnType<typeof loadModel>>

before(async () => {
  tfl = await loadTf('wasm')
  loaded = await loadModel(tfl.tf, MODEL_DIR)
})

const fresh = (): ModelRuntime => createRuntime(tfl.tf, loaded.model, loaded.metadata)

function records (vehicleId: string, seed: number, seconds: number, failure: FailureSpec | null = null, intervalS = 1, startTs = 1_760_000_000_000): TelemetryRecord[] {
  const car = createVehicle({ vehicleId, seed, failure, startTs })
  return Array.from({ length: Math.floor(seconds / intervalS) }, (_, i) => ({
    partition: 0,
    offset: String(i),
    key: Buffer.from(vehicleId),
    value: Buffer.from(JSON.stringify(car.next(intervalS))),
    timestamp: '1760000000000'
  }))
}

test('the wasm backend is in use', () => {
  assert.equal(tfl.backend, 'wasm')
})

test('bad records become DLQ records with the reason, never exceptions', () => {
  const good = records('car-1', 1, 1)[0]!
  const bad: Array<[Partial<TelemetryRecord>, string]> = [
    [{ key: null }, 'bad_key'],
    [{ key: Buffer.from('a/b') }, 'bad_key'],
    [{ value: null }, 'empty'],
    [{ value: Buffer.from('{') }, 'not_json'],
    [{ value: Buffer.from('[]') }, 'schema'],
    [{ key: Buffer.from('car-2') }, 'vehicle_mismatch'],
    [{ value: Buffer.alloc(5_000, 0x20) }, 'oversized']
  ]
  const parsed = parseRecords([good, ...bad.map(([change]) => ({ ...good, ...change }))], 4_096, 'scorer:test', 1_760_000_000_000)
  assert.equal(parsed.rows.length, 1)
  assert.deepEqual(parsed.dlq.map(d => d.record.reason), bad.map(([, reason]) => reason))
  assert.deepEqual(parsed.dlq.map(d => d.key), ['unknown', 'unknown', 'car-1', 'car-1', 'car-1', 'car-2', 'car-1'])
  for (const d of parsed.dlq) {
    assert.equal(d.record.source, 'scorer:test')
    assert.ok(d.record.detail.length > 0)
  }
})

test('a failing car is flagged after its onset with its failure named; a healthy car is not', () => {
  const rt = fresh()
  const failing = records('failing', 11, 900, { mode: 'battery_degradation', onsetS: 240 })
  const healthy = records('healthy', 12, 900)
  const rows = parseRecords([...failing, ...healthy], 16_384, 'scorer:test').rows
  const { scored } = scoreRows(rt, rows, 4_096)
  assert.equal(scored.length, 1_800)
  const anomalies = scored.filter(s => s.anomaly !== null)
  assert.ok(anomalies.length > 0)
  assert.ok(anomalies.every(a => a.score.vehicleId === 'failing' && a.score.seq >= 240))
  assert.ok(anomalies.every(a => checkAnomaly.Check(a.anomaly)))
  const named = anomalies.filter(a => a.failureMode === 'battery_degradation').length
  assert.ok(named > anomalies.length / 2, `${named}/${anomalies.length} named battery_degradation`)
})

test('a healthy car reporting every 10 s is held to its own threshold: no alarm where the single 1 s threshold raised one', () => {
  // evaluate.ts's normal drive eval-2 at 10 s: its smoothed score peaked at 145 against the
  // 1 s threshold of 98.8 (the old model's), one of the 22 of 80 normal drives alarmed at 10 s.
  const rows = parseRecords(records('eval-2', 1_500_070_002, 45 * 60, null, 10, 1_767_225_600_000), 16_384, 'scorer:test').rows
  const { scored } = scoreRows(fresh(), rows, 4_096)
  const peak = Math.max(...scored.map(s => s.score.score))
  assert.equal(scored.filter(s => s.score.anomalous).length, 0, `peak ${peak} against ${loaded.metadata.threshold}`)
  // And a failing one at 10 s still is flagged.
  const failing = parseRecords(records('failing', 11, 900, { mode: 'battery_degradation', onsetS: 240 }, 10), 16_384, 'scorer:test').rows
  assert.ok(scoreRows(fresh(), failing, 4_096).scored.some(s => s.anomaly?.failureModeGuess === 'battery_degradation'))
})

test('the scorer smooths, clips and scales as evaluate.ts does (smoothedDriveScores), at 1 s and at 10 s', () => {
  for (const intervalS of [1, 10]) {
    const rows = parseRecords(records('same', 31, 1_200, { mode: 'coolant_leak', onsetS: 300 }, intervalS), 16_384, 'scorer:test').rows
    const { scored } = scoreRows(fresh(), rows, 4_096)
    const rowScores = Float64Array.from(scored, s => s.score.rowScore)
    const drive = { elapsedS: Float32Array.from(scored, s => (s.score.ts - scored[0]!.score.ts) / 1_000) } as unknown as Drive
    const rt = fresh()
    const expected = smoothedDriveScores(rowScores, drive, loaded.metadata.scoreSmoothingTauS, loaded.metadata.scorePrior, rt.calibration)
    assert.ok(scored.some(s => s.score.anomalous), `${intervalS} s: the leak is flagged`)
    // From the second row: the scorer pushes a whole batch before smoothing it, so its first row
    // already knows the car's interval, where a car's first message alone cannot tell it.
    for (let i = 1; i < scored.length; i++) {
      assert.ok(Math.abs(scored[i]!.score.score - expected[i]!) < 1e-3 * Math.max(1, expected[i]!), `${intervalS} s row ${i}: ${scored[i]!.score.score} vs ${expected[i]}`)
    }
  }
})

test('how the rows are cut into tensors does not change any score', () => {
  const rows = parseRecords([...records('a', 21, 300), ...records('b', 22, 300)], 16_384, 'scorer:test').rows
  const one = scoreRows(fresh(), rows, 10_000).scored.map(s => s.score.score)
  const many = scoreRows(fresh(), rows, 64).scored.map(s => s.score.score)
  assert.equal(one.length, many.length)
  for (let i = 0; i < one.length; i++) assert.ok(Math.abs(one[i]! - many[i]!) < 1e-3 * Math.max(1, one[i]!), `row ${i}: ${one[i]} vs ${many[i]}`)
})

test('a model directory caught mid-update is refused', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fleet-model-'))
  try {
    await cp(MODEL_DIR, dir, { recursive: true })
    await writeFile(join(dir, 'weights.bin'), Buffer.alloc(16))
    await assert.rejects(loadModel(tfl.tf, dir), ModelFilesError)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
