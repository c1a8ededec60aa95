import { test } from 'node:test'
import assert from 'node:assert/strict'
import { splitByCar } from './batch-processor.js'
import type { ValidRow } from './batch-scoring.js'

const row = (vehicleId: string, seq: number) => ({ telemetry: { vehicleId, seq } }) as unknown as ValidRow

test('a batch splits into parts of different cars, each car whole and in order', () => {
  const rows: ValidRow[] = []
  for (let seq = 0; seq < 5; seq++) for (let car = 0; car < 400; car++) rows.push(row(`car-${car}`, seq))
  const parts = splitByCar(rows, 500)
  assert.ok(parts.length >= 3 && parts.length <= 4, `${parts.length} parts for 2,000 rows of 500`)
  assert.equal(parts.reduce((n, p) => n + p.length, 0), rows.length, 'every row in a part')
  const partOf = new Map<string, number>()
  parts.forEach((p, i) => {
    const last = new Map<string, number>()
    for (const r of p) {
      const { vehicleId, seq } = r.telemetry
      assert.equal(partOf.get(vehicleId) ?? i, i, `${vehicleId} in one part`)
      partOf.set(vehicleId, i)
      assert.ok(seq > (last.get(vehicleId) ?? -1), `${vehicleId}'s rows in order`)
      last.set(vehicleId, seq)
    }
  })
  assert.equal(partOf.size, 400)
})

test('no split when parts are off or the batch is small', () => {
  const rows = [row('a', 1), row('b', 1), row('a', 2)]
  assert.deepEqual(splitByCar(rows, 0), [rows])
  assert.deepEqual(splitByCar(rows, 3), [rows])
  assert.deepEqual(splitByCar([], 16), [[]])
})

test('a part that fails to score after an earlier part\'s writes went out fails the batch once they settled, with nothing unhandled', async () => {
  const { readFileSync } = await import('node:fs')
  const { Registry } = await import('prom-client')
  const { createBatchProcessor } = await import('./batch-processor.js')
  const { createFeatureExtractor } = await import('./features.js')
  const { createScoreCalibration } = await import('./autoencoder.js')
  const { createHistoryWriter } = await import('./car-history.js')
  const { createScorerMetrics } = await import('./scorer-metrics.js')
  const { createLogger } = await import('../../shared/src/logger.js')
  const { validTelemetry } = await import('../../shared/src/telemetry-samples.js')
  const metadata = JSON.parse(readFileSync(new URL('../../../model/metadata.json', import.meta.url), 'utf8'))
  let calls = 0
  const rt = {
    metadata,
    extractor: createFeatureExtractor(metadata.featureSet),
    calibration: createScoreCalibration(metadata),
    // the first part scores; the second part's inference fails (say, out of memory)
    forward: (x: Float32Array) => {
      if (++calls > 1) throw new Error('inference failed')
      return { dataSync: () => x, dispose: () => {} }
    }
  }
  // the first part's Redis write fails too, a moment later (Redis went away)
  let settledWrites = 0
  const pipeline = { send: () => new Promise<void>((_resolve, reject) => setTimeout(() => { settledWrites++; reject(new Error('redis gone')) }, 20)) }
  const unhandled: unknown[] = []
  const onUnhandled = (err: unknown) => unhandled.push(err)
  process.on('unhandledRejection', onUnhandled)
  try {
    const batches = createBatchProcessor({
      config: { maxRecordBytes: 65_536, maxBatchRows: 8_192, overlapRows: 1, publishScores: false, stateTtlS: 3_600 },
      redis: {} as never,
      pipeline: pipeline as never,
      history: createHistoryWriter({ length: 0, everyMs: 10_000, ttlS: 3_600 }),
      metrics: createScorerMetrics(new Registry()),
      log: createLogger('test', 'silent'),
      clock: Date.now,
      source: 'test',
      produce: async () => {}
    })
    for (const id of ['car-a', 'car-b']) rt.extractor.push(validTelemetry(id, 0), new Float32Array(rt.extractor.width), 0, Date.now()) // known cars: no adoption from Redis
    const records = ['car-a', 'car-b'].map((id, i) => ({ partition: 0, offset: String(i), key: Buffer.from(id), value: Buffer.from(JSON.stringify(validTelemetry(id, 1))), timestamp: String(Date.now()) }))
    await assert.rejects(batches.process(rt as never, records), /inference failed/)
    assert.equal(settledWrites, 1, 'the first part\'s write settled before the batch failed')
    await new Promise(resolve => setTimeout(resolve, 50))
    assert.deepEqual(unhandled, [])
  } finally {
    process.off('unhandledRejection', onUnhandled)
  }
})
