// One micro-batch from records to results: parse and validate, adopt cars another pod scored
// before, score, then write each car's latest state, history and anomalies to Redis and the
// anomalies (scores, DLQ records) to Kafka. Resolves only once both writes are acknowledged.
import type { Redis } from 'ioredis'
import type { Message } from 'kafkajs'
import type { Logger } from '../../shared/src/logger.js'
import { KafkaTopics } from '../../shared/src/topics.js'
import { KNOWN_VEHICLES_KEY, knownMembers } from '../../shared/src/vehicle-index.js'
import { ANOMALOUS_KEY, ANOMALY_HISTORY, SCORES_KEY, vehicleAnomaliesKey, vehicleStateFields, vehicleStateKey } from '../../shared/src/vehicle-state.js'
import type { HistoryWriter } from './car-history.js'
import { parseRecords, scoreRows, type ModelRuntime, type ScoredRow, type TelemetryRecord, type Parsed, type ValidRow } from './batch-scoring.js'
import type { ScorerConfig } from './scorer-config.js'
import type { ScorerMetrics } from './scorer-metrics.js'
import { createWriteBatch, type WriteArg } from './redis-batch.js'
import type { RedisPipeline } from './redis-pipeline.js'

export interface BatchProcessorDeps {
  config: Pick<ScorerConfig, 'maxRecordBytes' | 'maxBatchRows' | 'overlapRows' | 'publishScores' | 'stateTtlS'>
  redis: Redis
  /** The batch writes' own connection to the Redis `redis` is connected to. */
  pipeline: RedisPipeline
  history: HistoryWriter
  metrics: ScorerMetrics
  log: Logger
  clock: () => number
  /** Names the scorer in DLQ records. */
  source: string
  /** Sends the batch's Kafka records; resolves once acknowledged. */
  produce: (topicMessages: Array<{ topic: string, messages: Message[] }>) => Promise<void>
}

/** How often a car's moving averages and its key's TTL are refreshed in Redis. */
const FEATURES_SAVE_MS = 30_000
const EXPIRE_REFRESH_MS = 60_000
/**
 * A car's place in the fleet ranking (the scores zset the api sorts by) is written when it is
 * anomalous or its flag changed, when its score moved by more than RANK_MOVE of its threshold
 * since it was last ranked, and at least every RANK_REFRESH_MS otherwise. Re-ranking a member of a
 * 100,000-member zset was a third of Redis' time at the soak's 10,000 msg/s (~2.7 ms per 512
 * members), for healthy cars whose smoothed score barely moves.
 */
export const RANK_REFRESH_MS = 30_000
export const RANK_MOVE = 0.05

/** Whether a car's score goes into the ranking now (`last`: what was last written for it; undefined for a car new to this pod). */
export function rankingDue (last: { anomalous: boolean, rankedAt: number, rankedScore: number } | undefined, score: { score: number, threshold: number, anomalous: boolean }, now: number): boolean {
  if (last === undefined || score.anomalous || last.anomalous !== score.anomalous || now - last.rankedAt >= RANK_REFRESH_MS) return true
  // NaN compares false: a score that cannot be compared is written
  return !(Math.abs(score.score - last.rankedScore) <= RANK_MOVE * score.threshold)
}

/**
 * Splits a batch's rows into about rows / `partRows` parts (1 when `partRows` is 0 or the batch is
 * no larger), every car's rows in one part and in their order (its features and its one state
 * write per batch need them together).
 */
export function splitByCar (rows: ValidRow[], partRows: number): ValidRow[][] {
  const n = partRows <= 0 ? 1 : Math.ceil(rows.length / partRows)
  if (n <= 1) return [rows]
  const parts: ValidRow[][] = Array.from({ length: n }, () => [])
  for (const r of rows) {
    const id = r.telemetry.vehicleId
    let h = 0x811c9dc5 // FNV-1a
    for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193)
    parts[(h >>> 0) % n]!.push(r)
  }
  return parts.filter(p => p.length > 0)
}

export function createBatchProcessor (deps: BatchProcessorDeps) {
  const { config, redis, history, metrics, log, clock, source } = deps
  /**
   * What this pod last wrote per car, so that per message Redis gets only what moved: the
   * anomalous set and the hash's slow fields on changes, the TTL and the moving averages (for
   * another pod) now and then. A car new to this pod gets everything.
   */
  const written = new Map<string, { anomalous: boolean, failureMode: string | null, modelVersion: string, threshold: number, expireAt: number, featuresAt: number, rankedAt: number, rankedScore: number }>()

  /** Cars another scorer pod scored before: continue from the moving averages it left in Redis. */
  async function adoptCars (rt: ModelRuntime, ids: string[]): Promise<void> {
    if (ids.length === 0) return
    const pipe = redis.pipeline()
    for (const id of ids) pipe.hget(vehicleStateKey(id), 'features')
    const res = await pipe.exec()
    res?.forEach(([err, state], i) => {
      if (err === null && typeof state === 'string') rt.extractor.importState(ids[i]!, state)
    })
  }

  /**
   * Scores `rows` (all rows of the cars in them, in order) and builds their results: the Redis
   * writes (each car's latest state once, history, ranking, anomalies) and the Kafka records.
   */
  function scorePart (rt: ModelRuntime, rows: ValidRow[], dlq: Parsed['dlq'], now: number) {
    const { scored, inferenceMs } = scoreRows(rt, rows, config.maxBatchRows, now)

    const anomalies: Message[] = []
    const scores: Message[] = []
    const latest = new Map<string, ScoredRow>()
    for (const s of scored) {
      latest.set(s.score.vehicleId, s)
      if (s.anomaly !== null) {
        anomalies.push({ key: s.score.vehicleId, value: JSON.stringify(s.anomaly) })
        metrics.anomalies.inc({ mode: s.failureMode ?? 'unknown' })
      }
      if (config.publishScores) scores.push({ key: s.score.vehicleId, value: JSON.stringify(s.score) })
    }
    const topicMessages = [
      { topic: KafkaTopics.anomalies, messages: anomalies },
      { topic: KafkaTopics.scores, messages: scores },
      { topic: KafkaTopics.telemetryDlq, messages: dlq.map(d => ({ key: d.key, value: JSON.stringify(d.record), headers: { reason: d.record.reason } })) }
    ].filter(t => t.messages.length > 0)

    const pipe = createWriteBatch()
    const ranking: Array<string | number> = []
    const newCars: string[] = []
    for (const [id, s] of latest) {
      const key = vehicleStateKey(id)
      let w = written.get(id)
      const first = w === undefined
      const rank = rankingDue(w, s.score, now)
      // a car first written by this process joins the known set (once: a no-op if it is in it)
      if (first) newCars.push(id)
      if (w === undefined) written.set(id, w = { anomalous: s.score.anomalous, failureMode: s.failureMode, modelVersion: s.score.modelVersion, threshold: s.score.threshold, expireAt: 0, featuresAt: 0, rankedAt: 0, rankedScore: 0 })
      if (rank) {
        ranking.push(s.score.score, id)
        w.rankedAt = now
        w.rankedScore = s.score.score
      }
      // Every message moves these; the rest of the hash only when it changes (Redis time per car
      // is most of a batch's cost: 10 fields cost twice what 6 do). The telemetry goes as the
      // bytes Kafka delivered (valid telemetry is ASCII: the same text, never decoded).
      const args: WriteArg[] = [
        'telemetry', s.row.bytes,
        'seq', s.score.seq,
        'ts', s.score.ts,
        'score', s.score.score,
        'rowScore', s.score.rowScore,
        'scoredAt', s.score.scoredAt
      ]
      if (first || w.anomalous !== s.score.anomalous || w.failureMode !== s.failureMode || w.modelVersion !== s.score.modelVersion || w.threshold !== s.score.threshold) {
        const all = vehicleStateFields({ telemetry: '', seq: 0, ts: 0, score: 0, rowScore: 0, scoredAt: '', threshold: s.score.threshold, anomalous: s.score.anomalous, failureMode: s.failureMode, modelVersion: s.score.modelVersion })
        args.push('threshold', all.threshold!, 'anomalous', all.anomalous!, 'failureMode', all.failureMode!, 'modelVersion', all.modelVersion!)
        if (first || w.anomalous !== s.score.anomalous) {
          if (s.score.anomalous) pipe.sadd(ANOMALOUS_KEY, id)
          else pipe.srem(ANOMALOUS_KEY, id)
        }
        w.anomalous = s.score.anomalous
        w.failureMode = s.failureMode
        w.modelVersion = s.score.modelVersion
        w.threshold = s.score.threshold
      }
      if (now - w.featuresAt >= FEATURES_SAVE_MS) {
        const features = rt.extractor.exportState(id)
        if (features !== null) args.push('features', features)
        w.featuresAt = now
      }
      pipe.hset(key, ...args)
      if (now - w.expireAt >= EXPIRE_REFRESH_MS) {
        pipe.expire(key, config.stateTtlS)
        w.expireAt = now
      }
    }
    if (ranking.length > 0) pipe.zadd(SCORES_KEY, ranking)
    if (newCars.length > 0) pipe.zadd(KNOWN_VEHICLES_KEY, knownMembers(newCars))
    history.append(pipe, scored, now)
    for (const s of scored) {
      if (s.anomaly === null) continue
      const key = vehicleAnomaliesKey(s.score.vehicleId)
      pipe.lpush(key, JSON.stringify(s.anomaly))
      pipe.ltrim(key, 0, ANOMALY_HISTORY - 1)
      pipe.expire(key, config.stateTtlS)
    }
    return { scored, inferenceMs, pipe, topicMessages }
  }

  async function process (rt: ModelRuntime, records: TelemetryRecord[]): Promise<void> {
    const t0 = performance.now()
    const now = clock()
    const parsed = parseRecords(records, config.maxRecordBytes, source, now)
    const unknown = new Set<string>()
    for (const r of parsed.rows) if (!rt.extractor.has(r.telemetry.vehicleId)) unknown.add(r.telemetry.vehicleId)
    await adoptCars(rt, [...unknown])
    const t1 = performance.now()

    // The batch in parts of different cars: a part's results are sent before the next part is
    // scored, so that Redis and Kafka take them while the scorer goes on (one Redis connection and
    // one producer: they arrive in order). Waiting for the whole batch's writes at once left the
    // scorer idle half of a batch at 100,000 cars, with Redis short of CPU (docs/scorer.md).
    const parts = splitByCar(parsed.rows, config.overlapRows)
    let inferenceMs = 0
    let rowsScored = 0
    let redisMs = 0
    let kafkaMs = 0
    const writes: Array<Promise<unknown>> = []
    // one produce at a time: the idempotent producer numbers a partition's records as it builds a request
    let produced: Promise<void> = Promise.resolve()
    try {
      for (let i = 0; i < parts.length; i++) {
        const part = scorePart(rt, parts[i]!, i === 0 ? parsed.dlq : [], now)
        inferenceMs += part.inferenceMs
        rowsScored += part.scored.length
        const tw = performance.now()
        writes.push(
          part.pipe.send(deps.pipeline).then(() => { redisMs = performance.now() - tw }, (err: Error) => { throw new Error(`redis: ${err.message}`) }),
          produced = produced.then(() => deps.produce(part.topicMessages)).finally(() => { kafkaMs = performance.now() - tw })
        )
      }
    } catch (err) {
      // a later part failed to score: the earlier parts' writes settle first (none left unhandled)
      await Promise.allSettled(writes)
      throw err
    }
    const t2 = performance.now()
    // every write settles before the batch fails: none is left running into the retry
    const settled = await Promise.allSettled(writes)
    const failed = settled.find(r => r.status === 'rejected')
    if (failed !== undefined) throw failed.reason

    const done = clock()
    for (const r of parsed.rows) {
      const age = (done - Number(r.record.timestamp)) / 1_000
      if (age >= 0) metrics.recordAgeSeconds.observe(age)
    }
    for (const d of parsed.dlq) metrics.dlq.inc({ reason: d.record.reason })
    if (parsed.dlq.length > 0) {
      const reasons: Record<string, number> = {}
      for (const d of parsed.dlq) reasons[d.record.reason] = (reasons[d.record.reason] ?? 0) + 1
      log.warn({ count: parsed.dlq.length, reasons }, 'invalid telemetry records sent to the DLQ')
    }
    metrics.rowsScored.inc(rowsScored)
    if (rowsScored > 0) {
      metrics.batchRows.observe(rowsScored)
      metrics.inferenceSeconds.observe(inferenceMs / 1_000)
    }
    const t3 = performance.now()
    metrics.batchSeconds.observe((t3 - t0) / 1_000)
    metrics.batchPhaseSeconds.inc({ phase: 'prepare' }, (t1 - t0) / 1_000)
    metrics.batchPhaseSeconds.inc({ phase: 'score' }, (t2 - t1) / 1_000)
    metrics.batchPhaseSeconds.inc({ phase: 'write' }, (t3 - t2) / 1_000)
    metrics.cars.set(rt.extractor.cars)
    log.debug({ records: records.length, parts: parts.length, prepareMs: Math.round(t1 - t0), scoreMs: Math.round(t2 - t1), inferenceMs: Math.round(inferenceMs), writeMs: Math.round(t3 - t2), redisMs: Math.round(redisMs), kafkaMs: Math.round(kafkaMs) }, 'batch scored')
  }

  return {
    process,
    /** Forgets what it wrote for cars the feature extractor no longer holds (evicted as quiet). */
    forget (keep: (vehicleId: string) => boolean): void {
      for (const id of written.keys()) if (!keep(id)) written.delete(id)
    }
  }
}

export type BatchProcessor = ReturnType<typeof createBatchProcessor>
