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

function records (vehicleId: string, seed: number, seconds: number, failure: FailureSpec | null = null): TelemetryRecord[] {
  const car = createVehicle({ vehicleId, seed, failure, startTs: 1_760_000_000_000 })
  return Array.from({ length: seconds }, (_, i) => ({
    partition: 0,
    offset: String(i),
    key: Buffer.from(vehicleId),
    value: Buffer.from(JSON.stringify(car.next(1))),
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
