// The scorer end to end with real parts: simulated cars (shared vehicle model, one with an injected
// failure) publish through a real broker to Apache Kafka; the scorer (real Kafka consumer group,
// real Redis, the committed model) must raise anomalies for the failing car only, in
// vehicle.anomalies and in Redis. Also: bad records from a producer that bypassed the broker go to
// the DLQ; a model reload mid-stream loses nothing; results that cannot be written are retried
// (offsets not committed) until they are.
import assert from 'node:assert/strict'
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import type { Producer } from 'kafkajs'
import { checkAnomaly, checkScore, type Anomaly, type Score } from '../services/shared/src/anomaly-schema.js'
import { KafkaTopics, MqttTopics } from '../services/shared/src/topics.js'
import { createVehicle, type FailureSpec } from '../services/shared/src/vehicle-model.js'
import { ANOMALOUS_KEY, SCORES_KEY, parseVehicleState, vehicleAnomaliesKey, vehicleStateKey } from '../services/shared/src/vehicle-state.js'
import { startTestBroker, type TestBroker } from './helpers/broker.js'
import { connectCar, uniqueFleetPrefix } from './helpers/cars.js'
import { collect, testKafka, type Collector } from './helpers/kafka.js'
import { startTestScorer } from './helpers/scorer.js'
import { RANK_MOVE } from '../services/scorer/src/batch-processor.js'
import { KNOWN_VEHICLES_KEY } from '../services/shared/src/vehicle-index.js'

const prefix = uniqueFleetPrefix('score')
const REDIS_URL = process.env.FLEET_REDIS_URL ?? 'redis://127.0.0.1:16379'
let redis: Redis
let producer: Producer
let scores: Collector
let anomalies: Collector
let dlq: Collector
const cleanup: Array<() => Promise<unknown>> = []

before(async () => {
  redis = new Redis(REDIS_URL)
  producer = testKafka().producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  scores = await collect(KafkaTopics.scores, key => key.startsWith(prefix))
  anomalies = await collect(KafkaTopics.anomalies, key => key.startsWith(prefix))
  dlq = await collect(KafkaTopics.telemetryDlq)
})
after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {})
  const keys = await redis.keys(`fleet:*:${prefix}*`)
  if (keys.length > 0) await redis.del(...keys)
  const ids = (await redis.zrange(SCORES_KEY, 0, -1)).filter(id => id.startsWith(prefix))
  if (ids.length > 0) {
    await redis.zrem(SCORES_KEY, ...ids)
    await redis.zrem(KNOWN_VEHICLES_KEY, ...ids)
    await redis.srem(ANOMALOUS_KEY, ...ids)
  }
  await Promise.all([scores?.stop(), anomalies?.stop(), dlq?.stop(), producer?.disconnect()])
  redis.disconnect()
})

/** One simulated drive of `seconds` at 1 Hz, ending now on the car clock. */
function drive (vehicleId: string, seed: number, seconds: number, failure: FailureSpec | null = null): Buffer[] {
  const car = createVehicle({ vehicleId, seed, failure, startTs: Date.now() - seconds * 1_000 })
  return Array.from({ length: seconds }, () => Buffer.from(JSON.stringify(car.next(1))))
}

const parsed = <T>(c: Collector, key: string) => c.records.filter(r => r.key === key).map(r => JSON.parse(r.value.toString()) as T)
const scoredSeqs = (key: string) => new Set(parsed<Score>(scores, key).map(s => s.seq))

test('cars publish through the broker; the failing car, and only it, gets anomalies in Kafka and Redis', async () => {
  const ts = await startTestScorer()
  cleanup.push(() => ts.stop())
  const tb: TestBroker = await startTestBroker()
  cleanup.push(() => tb.stop())
  const SECONDS = 900
  const failing = `${prefix}-failing`
  const healthy = [0, 1, 2, 3].map(i => `${prefix}-healthy-${i}`)
  const drives = new Map<string, Buffer[]>([
    [failing, drive(failing, 4_001, SECONDS, { mode: 'battery_degradation', onsetS: 240 })],
    ...healthy.map((id, i) => [id, drive(id, 4_100 + i, SECONDS)] as [string, Buffer[]])
  ])

  await Promise.all([...drives].map(async ([id, payloads]) => {
    const car = await connectCar(id, tb.mqttPort)
    // A window of QoS 1 messages in flight per car, in order, as a real client keeps.
    for (let i = 0; i < payloads.length; i += 50) {
      await Promise.all(payloads.slice(i, i + 50).map(p => car.publishAsync(MqttTopics.telemetry(id), p, { qos: 1 })))
    }
    await car.endAsync()
  }))
  await scores.waitFor(() => [...drives.keys()].every(id => scoredSeqs(id).size === SECONDS), 60_000)

  const failingAnomalies = parsed<Anomaly>(anomalies, failing)
  assert.ok(failingAnomalies.length > 0, 'the failing car has anomalies')
  for (const id of healthy) assert.equal(parsed<Anomaly>(anomalies, id).length, 0, `${id}: no anomaly`)
  for (const a of failingAnomalies) assert.ok(checkAnomaly.Check(a), 'anomaly matches its schema')
  for (const s of parsed<Score>(scores, healthy[0]!)) assert.ok(checkScore.Check(s), 'score matches its schema')
  const first = failingAnomalies.reduce((a, b) => a.seq < b.seq ? a : b)
  assert.ok(first.seq >= 240, `no anomaly before the onset (first at seq ${first.seq})`)
  assert.ok(first.score > first.threshold)
  assert.equal(first.modelVersion, ts.scorer.modelVersion)
  assert.ok(first.topFeatures.length > 0 && first.topFeatures[0]!.share > 0)
  const guesses = failingAnomalies.filter(a => a.failureModeGuess === 'battery_degradation').length
  assert.ok(guesses > failingAnomalies.length / 2, `failure mode guessed (${guesses}/${failingAnomalies.length})`)

  // Redis: every car's latest message as sent, with its score; only the failing car anomalous.
  for (const [id, payloads] of drives) {
    const state = parseVehicleState(await redis.hgetall(vehicleStateKey(id)))
    assert.ok(state !== null, `${id}: state in Redis`)
    assert.equal(state.telemetry, payloads.at(-1)!.toString(), `${id}: latest telemetry exactly as sent`)
    assert.equal(state.seq, SECONDS - 1)
    assert.equal(state.anomalous, id === failing, `${id}: anomalous flag`)
    assert.equal(state.modelVersion, ts.scorer.modelVersion)
    assert.equal(await redis.sismember(ANOMALOUS_KEY, id), id === failing ? 1 : 0)
    assert.equal(await redis.zscore(KNOWN_VEHICLES_KEY, id), '0', `${id}: a car scored is known, provisioned or not`)
    // The ranking: an anomalous car's latest score; a healthy car's within RANK_MOVE of its threshold.
    const ranked = Number(await redis.zscore(SCORES_KEY, id))
    if (id === failing) assert.equal(ranked, state.score)
    else assert.ok(Math.abs(ranked - state.score) <= RANK_MOVE * state.threshold, `${id}: ranked ${ranked}, latest ${state.score}, threshold ${state.threshold}`)
    const history = await redis.lrange(vehicleAnomaliesKey(id), 0, -1)
    if (id === failing) {
      assert.ok(history.length > 0 && history.length <= 50)
      assert.equal((JSON.parse(history[0]!) as Anomaly).seq, Math.max(...failingAnomalies.map(a => a.seq)), 'newest anomaly first')
    } else {
      assert.equal(history.length, 0)
    }
  }
  assert.equal(parseVehicleState(await redis.hgetall(vehicleStateKey(failing)))?.failureMode, 'battery_degradation')

  assert.ok(await ts.metric('fleet_scorer_rows_scored_total') >= SECONDS * drives.size)
  assert.ok(await ts.metric('fleet_scorer_anomalies_total', { mode: 'battery_degradation' }) > 0)
  // where a batch's time went: the phases add up to the batches' time
  const phases = await Promise.all(['prepare', 'score', 'write'].map(phase => ts.metric('fleet_scorer_batch_phase_seconds_total', { phase })))
  assert.ok(phases[1]! > 0 && phases[2]! > 0, `score and write phases took time: ${phases.join(', ')}`)
  const batchSeconds = (await ts.scorer.registry.getSingleMetric('fleet_scorer_batch_seconds')!.get()).values.find(v => (v as { metricName?: string }).metricName === 'fleet_scorer_batch_seconds_sum')!.value
  assert.ok(Math.abs(phases.reduce((a, b) => a + b, 0) - batchSeconds) <= 0.001 * batchSeconds + 1e-6, `phases ${phases.join(' + ')} against the batches' ${batchSeconds} s`)
  const ready = await fetch(`http://127.0.0.1:${ts.opsPort}/readyz`)
  assert.equal(ready.status, 200)
  const text = await (await fetch(`http://127.0.0.1:${ts.opsPort}/metrics`)).text()
  assert.match(text, new RegExp(`fleet_scorer_model_info\\{version="${ts.scorer.modelVersion}",backend="(tensorflow|wasm)"`))
  assert.match(text, /fleet_scorer_consumer_lag\{partition="\d+"/)
})

test('bad records from a producer that bypassed the broker go to the DLQ with a reason; scoring goes on', async () => {
  const ts = await startTestScorer({ FLEET_SCORER_MAX_RECORD_BYTES: '8192' })
  cleanup.push(() => ts.stop())
  const id = `${prefix}-bad`
  const good = drive(id, 5_000, 3)
  const missing = JSON.parse(good[0]!.toString()) as Record<string, unknown>
  delete missing.coolantTempC
  const cases: Array<{ key: string | null, value: Buffer | null, reason: string }> = [
    { key: null, value: good[0]!, reason: 'bad_key' },
    { key: 'not/a-vehicle', value: good[0]!, reason: 'bad_key' },
    { key: id, value: Buffer.from('speed=12;rpm=2000'), reason: 'not_json' },
    { key: id, value: Buffer.from(JSON.stringify(missing)), reason: 'schema' },
    { key: id, value: Buffer.from(JSON.stringify({ ...missing, coolantTempC: 'hot' })), reason: 'schema' },
    { key: `${id}-other`, value: good[0]!, reason: 'vehicle_mismatch' },
    { key: id, value: null, reason: 'empty' },
    { key: id, value: Buffer.concat([good[0]!, Buffer.alloc(9_000, 0x20)]), reason: 'oversized' }
  ]
  for (const c of cases) await producer.send({ topic: KafkaTopics.telemetry, messages: [{ key: c.key, value: c.value }] })
  await producer.send({ topic: KafkaTopics.telemetry, messages: good.map(value => ({ key: id, value })) })

  const mine = () => dlq.records.map(r => JSON.parse(r.value.toString())).filter(r => r.source === `scorer:${ts.config.groupId}`)
  await dlq.waitFor(() => mine().length >= cases.length)
  await scores.waitFor(() => scoredSeqs(id).size === good.length)
  const got = mine()
  assert.equal(got.length, cases.length, 'one DLQ record per bad record')
  assert.deepEqual(got.map(r => r.reason).sort(), cases.map(c => c.reason).sort())
  for (const r of got) {
    assert.ok(typeof r.detail === 'string' && r.detail.length > 0, `${r.reason}: detail`)
    assert.equal(r.topic, KafkaTopics.telemetry)
  }
  assert.equal(got.find(r => r.reason === 'oversized').payloadTruncated, true)
  assert.equal(await ts.metric('fleet_scorer_dlq_total'), cases.length)
  assert.equal(await ts.metric('fleet_scorer_dlq_total', { reason: 'schema' }), 2)
  assert.equal(parseVehicleState(await redis.hgetall(vehicleStateKey(id)))?.seq, 2, 'the valid records were scored')
})

test('a new model version is picked up mid-stream without losing a message; a broken one is refused', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'fleet-model-'))
  cleanup.push(() => rm(dir, { recursive: true, force: true }))
  await cp('model', dir, { recursive: true })
  const ts = await startTestScorer({ FLEET_SCORER_MODEL_DIR: dir, FLEET_SCORER_WATCH_MODEL: 'true' })
  cleanup.push(() => ts.stop())
  const before = ts.scorer.modelVersion!
  const id = `${prefix}-reload`
  const payloads = drive(id, 6_000, 300)
  const metadataPath = join(dir, 'metadata.json')
  const metadata = JSON.parse(await readFile(metadataPath, 'utf8'))
  const next = `${before}-reloaded`
  const send = (value: Buffer) => producer.send({ topic: KafkaTopics.telemetry, messages: [{ key: id, value }] })
  // The first part is scored by the version in use; then the new version is written while the
  // stream goes on (the scorer's fetches may wait 250 ms, so the swap is awaited, not assumed),
  // and the rest comes after the swap.
  let i = 0
  for (; i < 100; i++) await send(payloads[i]!)
  await scores.waitFor(() => scoredSeqs(id).size === 100)
  await writeFile(metadataPath, JSON.stringify({ ...metadata, modelVersion: next }))
  for (const deadline = Date.now() + 15_000; ts.scorer.modelVersion !== next;) {
    assert.ok(Date.now() < deadline, 'the new version was not picked up within 15 s')
    if (i < payloads.length - 50) await send(payloads[i++]!)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  for (; i < payloads.length; i++) await send(payloads[i]!)
  // The scorers of earlier tests (groups of their own, the committed model) score this stream too,
  // so the shared collector may be complete before this scorer is: wait for this one's own count.
  for (const deadline = Date.now() + 30_000; await ts.metric('fleet_scorer_rows_scored_total') < payloads.length;) {
    assert.ok(Date.now() < deadline, 'this scorer scored the whole stream within 30 s')
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  await scores.waitFor(() => scoredSeqs(id).size === payloads.length && parsed<Score>(scores, id).some(s => s.modelVersion === next))
  assert.equal(ts.scorer.modelVersion, next)
  const versions = new Set(parsed<Score>(scores, id).map(s => s.modelVersion))
  assert.deepEqual([...versions].sort(), [before, next].sort(), 'both versions scored part of the stream')
  assert.equal(await ts.metric('fleet_scorer_model_info', { version: next }), 1)
  assert.equal(await ts.metric('fleet_scorer_model_info', { version: before }), 0)

  await writeFile(metadataPath, JSON.stringify({ ...metadata, modelVersion: 'broken', weightsSha256: 'f'.repeat(64) }))
  assert.equal(await ts.scorer.reloadModel(), false)
  assert.equal(ts.scorer.modelVersion, next, 'the broken model is refused; the current one stays')
  assert.ok(await ts.metric('fleet_scorer_model_reloads_total', { result: 'failed' }) >= 1)
})

test('results that cannot be written are retried, offsets not committed, until they are: nothing lost', async () => {
  const flaky = new Redis(REDIS_URL, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 })
  await flaky.connect()
  const ts = await startTestScorer({}, { redis: flaky })
  cleanup.push(async () => { await ts.stop(); flaky.disconnect() })
  const id = `${prefix}-retry`
  const payloads = drive(id, 7_000, 60)
  await producer.send({ topic: KafkaTopics.telemetry, messages: payloads.slice(0, 10).map(value => ({ key: id, value })) })
  await scores.waitFor(() => scoredSeqs(id).size === 10)

  // Redis goes away for this scorer: its client disconnects, and its batch writer's connection of
  // its own (redis-pipeline.ts) is cut, as an outage would cut it; neither comes back until the
  // client does (the writer reconnects to wherever the client is connected). Cutting only the
  // client left the writer's open connection writing, and the batch never failed.
  flaky.disconnect()
  await redis.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes')
  await producer.send({ topic: KafkaTopics.telemetry, messages: payloads.slice(10).map(value => ({ key: id, value })) })
  const deadline = Date.now() + 20_000
  while (await ts.metric('fleet_scorer_batch_failures_total') === 0) {
    assert.ok(Date.now() < deadline, 'the batch failed while Redis was away')
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  await flaky.connect()
  await scores.waitFor(() => scoredSeqs(id).size === payloads.length, 60_000)
  await new Promise(resolve => setTimeout(resolve, 500))
  const state = parseVehicleState(await redis.hgetall(vehicleStateKey(id)))
  assert.equal(state?.seq, payloads.length - 1, 'Redis holds the latest message once Redis is back')
  assert.equal(state?.telemetry, payloads.at(-1)!.toString())
})

test('a car moving to another scorer pod continues from the moving averages the last pod left in Redis', async () => {
  const first = await startTestScorer()
  const id = `${prefix}-moves`
  const payloads = drive(id, 8_000, 120)
  await producer.send({ topic: KafkaTopics.telemetry, messages: payloads.slice(0, 60).map(value => ({ key: id, value })) })
  await scores.waitFor(() => scoredSeqs(id).size === 60)
  const saved = JSON.parse((await redis.hget(vehicleStateKey(id), 'features'))!) as { start: number }
  assert.equal(saved.start, JSON.parse(payloads[0]!.toString()).ts, 'the stream start is part of the saved state')
  await first.stop()

  // The same consumer group: the second pod takes over the car's partition at the committed offset.
  const second = await startTestScorer({ FLEET_SCORER_GROUP_ID: first.config.groupId })
  cleanup.push(() => second.stop())
  await producer.send({ topic: KafkaTopics.telemetry, messages: payloads.slice(60).map(value => ({ key: id, value })) })
  await scores.waitFor(() => scoredSeqs(id).size === 120)
  const continued = JSON.parse((await redis.hget(vehicleStateKey(id), 'features'))!) as { start: number }
  assert.equal(continued.start, saved.start, 'the second pod did not start the car afresh')
  assert.equal(parseVehicleState(await redis.hgetall(vehicleStateKey(id)))?.seq, 119)
})
