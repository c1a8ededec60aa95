// The scorer's per-car history (services/scorer/src/car-history.ts) against the real Redis: one
// point per interval of car time, the list trimmed to its length (plus at most a few) and given a
// TTL, anomalous points carrying the features behind their score; and entries read back safely.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import type { Score } from '../services/shared/src/anomaly-schema.js'
import { carHistoryKey, decodeHistoryPoint, encodeHistoryPoint, HISTORY_SIGNALS } from '../services/shared/src/car-history.js'
import { validTelemetry } from '../services/shared/src/telemetry-samples.js'
import { loadScorerConfig } from '../services/scorer/src/scorer-config.js'
import type { ScoredRow } from '../services/scorer/src/batch-scoring.js'
import { createHistoryWriter } from '../services/scorer/src/car-history.js'
import { uniqueFleetPrefix } from './helpers/cars.js'

const p = uniqueFleetPrefix('hist')
let redis: Redis
before(() => { redis = new Redis(loadScorerConfig().redisUrl) })
after(async () => {
  const keys = await redis.keys(`${carHistoryKey(p)}*`)
  if (keys.length > 0) await redis.del(...keys)
  redis.disconnect()
})

const T0 = 1_760_000_000_000
function row (vehicleId: string, seq: number, ts: number, anomalous = false): ScoredRow {
  const telemetry = validTelemetry(vehicleId, seq, undefined, ts)
  const score: Score = { vehicleId, seq, ts, scoredAt: new Date(ts).toISOString(), score: anomalous ? 150 : 40 + seq / 100, rowScore: 41, threshold: 98.7, anomalous, modelVersion: 't' }
  return {
    row: { record: { partition: 0, offset: String(seq), key: null, value: null, timestamp: String(ts) }, telemetry, bytes: Buffer.from(JSON.stringify(telemetry)) },
    score,
    failureMode: anomalous ? 'bearing_wear' : null,
    anomaly: anomalous ? { ...score, anomalous: true, topFeatures: [{ feature: 'engineVibrationMv', share: 0.7 }, { feature: 'rpm', share: 0.1 }], failureModeGuess: 'bearing_wear', source: { partition: 0, offset: String(seq) } } : null
  }
}

test('one point per interval of car time, trimmed near its length, with a TTL; anomalous points name their features', async () => {
  const id = `${p}-a`
  const writer = createHistoryWriter({ length: 10, everyMs: 2_000, ttlS: 600 })
  // 60 messages a second apart in batches of 3, the last one anomalous
  for (let b = 0; b < 20; b++) {
    const pipe = redis.pipeline()
    writer.append(pipe, [0, 1, 2].map(k => row(id, b * 3 + k, T0 + (b * 3 + k) * 1_000, b * 3 + k === 58)), T0 + b * 3_000)
    const res = await pipe.exec()
    assert.ok(res!.every(([err]) => err === null))
  }
  const raw = await redis.lrange(carHistoryKey(id), 0, -1)
  assert.ok(raw.length >= 10 && raw.length < 10 + 8, `10 to 17 points kept, not ${raw.length}`)
  const points = raw.map(decodeHistoryPoint)
  assert.ok(points.every(pt => pt !== null))
  const ts = points.map(pt => pt!.ts)
  assert.equal(ts[0], T0 + 58_000, 'newest first')
  for (let i = 1; i < ts.length; i++) assert.equal(ts[i - 1]! - ts[i]!, 2_000, 'one point per 2 s of car time')
  assert.deepEqual(points[0]!.topFeatures, [{ feature: 'engineVibrationMv', share: 0.7 }, { feature: 'rpm', share: 0.1 }])
  assert.equal(points[0]!.score, 150)
  assert.equal(points[1]!.topFeatures, null)
  assert.deepEqual(Object.keys(points[0]!.signals), [...HISTORY_SIGNALS])
  const ttl = await redis.ttl(carHistoryKey(id))
  assert.ok(ttl > 500 && ttl <= 600, `TTL ${ttl}`)
  // an entry stays small: the bound on Redis memory per car is length × this
  assert.ok(raw[1]!.length < 110, `an entry is ${raw[1]!.length} bytes`)
})

test('a car whose clock went back (restarted) gets points again; length 0 writes nothing', async () => {
  const id = `${p}-b`
  const writer = createHistoryWriter({ length: 10, everyMs: 5_000, ttlS: 600 })
  const pipe = redis.pipeline()
  writer.append(pipe, [row(id, 1, T0 + 100_000), row(id, 2, T0 + 101_000), row(id, 0, T0 + 1_000)], T0)
  await pipe.exec()
  assert.deepEqual((await redis.lrange(carHistoryKey(id), 0, -1)).map(r => decodeHistoryPoint(r)!.ts), [T0 + 1_000, T0 + 100_000])
  const off = createHistoryWriter({ length: 0, everyMs: 0, ttlS: 600 })
  const pipe2 = redis.pipeline()
  off.append(pipe2, [row(`${p}-c`, 1, T0)], T0)
  assert.equal(pipe2.length, 0)
})

test('entries not in the layout read back as null, never throw', () => {
  const good = encodeHistoryPoint(validTelemetry('x', 1), 1, 2, null)
  assert.notEqual(decodeHistoryPoint(good), null)
  for (const bad of ['', 'nope', '{}', '[]', '[1,2,3]', JSON.stringify([...JSON.parse(good), [['f', 'x']]]), JSON.stringify([...JSON.parse(good), 1, 2]), good.replace(/^\[\d+/, '["1"'), 'null']) {
    assert.equal(decodeHistoryPoint(bad), null, bad)
  }
})
