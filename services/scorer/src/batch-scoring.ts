// The scorer's logic without Kafka or Redis: validate a micro-batch of vehicle.telemetry records
// (bad ones become DLQ records with a reason), turn the good ones into feature rows per car, run
// the autoencoder once per batch, and say for each message its score, whether it is an anomaly,
// which features carry it and which failure it looks like.
import type { LayersModel } from '@tensorflow/tfjs'
import type { Anomaly, Score } from '../../shared/src/anomaly-schema.js'
import { dlqRecord, type DlqRecord } from '../../shared/src/dlq-record.js'
import { parseTelemetry, type Telemetry } from '../../shared/src/telemetry-schema.js'
import { isVehicleId, KafkaTopics } from '../../shared/src/topics.js'
import type { FailureMode } from '../../shared/src/vehicle-model.js'
import { contributions, createScoreCalibration, guessFailureMode, rowScores, standardise, type ModelMetadata, type ScoreCalibration } from './autoencoder.js'
import { createForward, type Forward } from './dense-forward.js'
import { createFeatureExtractor, type FeatureExtractor } from './features.js'
import { decodeTelemetry } from '../../shared/src/telemetry-decode.js'
import type { Tf } from './tf-backend.js'

export interface TelemetryRecord {
  partition: number
  offset: string
  key: Buffer | null
  value: Buffer | null
  /** Kafka record timestamp (ms, as a string): when the broker received the message. */
  timestamp: string
}

/** `bytes`: the record's value as received (what Redis gets as the car's latest message). */
export interface ValidRow { record: TelemetryRecord, telemetry: Telemetry, bytes: Buffer }

export interface Parsed {
  rows: ValidRow[]
  dlq: Array<{ key: string, record: DlqRecord }>
}

/** Splits records into valid telemetry and DLQ records; never throws. */
export function parseRecords (records: TelemetryRecord[], maxBytes: number, source: string, now = Date.now()): Parsed {
  const rows: ValidRow[] = []
  const dlq: Parsed['dlq'] = []
  // Not a closure per record: this loop runs for every message.
  const refuse = (record: TelemetryRecord, key: string, reason: string, detail: string) => dlq.push({
    key: isVehicleId(key) ? key : 'unknown',
    record: dlqRecord({ vehicleId: key.slice(0, 64), topic: KafkaTopics.telemetry, reason, detail, receivedAt: now, source, payload: record.value })
  })
  for (const record of records) {
    const key = record.key?.toString('utf8') ?? ''
    if (!isVehicleId(key)) {
      refuse(record, key, 'bad_key', record.key === null ? 'record has no key' : 'key is not a vehicle id')
      continue
    }
    if (record.value === null) {
      refuse(record, key, 'empty', 'record has no value')
      continue
    }
    // The fast path vouches for what cars normally send; the rest (and every refusal) is
    // parseTelemetry's verdict.
    const fast = record.value.byteLength <= maxBytes ? decodeTelemetry(record.value, key, record.key!) : null
    if (fast !== null) {
      rows.push({ record, telemetry: fast, bytes: record.value })
      continue
    }
    const parsed = parseTelemetry(record.value, key, maxBytes)
    if (parsed.ok) rows.push({ record, telemetry: parsed.value, bytes: record.value })
    else refuse(record, key, parsed.reason, parsed.detail)
  }
  return { rows, dlq }
}

/** A loaded model with everything needed to score: swapped as a whole on hot reload. */
export interface ModelRuntime {
  tf: Tf
  model: LayersModel
  /** The model's forward pass (dense-forward.ts). */
  forward: Forward
  metadata: ModelMetadata
  extractor: FeatureExtractor
  names: string[]
  fields: string[]
  calibration: ScoreCalibration
}

export function createRuntime (tf: Tf, model: LayersModel, metadata: ModelMetadata, previous?: ModelRuntime): ModelRuntime {
  // Per-car moving averages carry over to a new model that reads the same features.
  const same = previous !== undefined && JSON.stringify(previous.metadata.featureSet) === JSON.stringify(metadata.featureSet)
  return {
    tf,
    model,
    forward: createForward(tf, model),
    metadata,
    extractor: same ? previous.extractor : createFeatureExtractor(metadata.featureSet),
    names: metadata.featureSet.features.map(f => f.name),
    fields: metadata.featureSet.features.map(f => f.field),
    calibration: createScoreCalibration(metadata)
  }
}

export interface ScoredRow {
  row: ValidRow
  score: Score
  /** Set when the message is an anomaly. */
  anomaly: Anomaly | null
  failureMode: FailureMode | null
}

export interface ScoredBatch {
  scored: ScoredRow[]
  inferenceMs: number
}

/**
 * Scores rows (in partition order) with one tensor per `maxRows`. Feature state moves per car in
 * message order, so all rows of one car must come through here in order.
 */
export function scoreRows (rt: ModelRuntime, rows: ValidRow[], maxRows: number, now = Date.now()): ScoredBatch {
  const { forward, metadata, extractor, calibration } = rt
  const width = extractor.width
  const scored: ScoredRow[] = []
  let inferenceMs = 0
  const scoredAt = new Date(now).toISOString()
  for (let start = 0; start < rows.length; start += maxRows) {
    const chunk = rows.slice(start, start + maxRows)
    const x = new Float32Array(chunk.length * width)
    for (let i = 0; i < chunk.length; i++) extractor.push(chunk[i]!.telemetry, x, i * width, now)
    standardise(x, width, metadata.normalisation)
    const t0 = performance.now()
    // Read the result outside tf.tidy: dataSync() inside a tidy scope measured 7–20× slower.
    const out = forward(x, chunk.length, width)
    const recon = out.dataSync()
    out.dispose()
    inferenceMs += performance.now() - t0
    const rs = rowScores(x, recon as Float32Array, width, metadata.errorScale, metadata.scoreTopK ?? 0)
    for (let i = 0; i < chunk.length; i++) {
      const row = chunk[i]!
      const t = row.telemetry
      const rowScore = rs[i]!
      // In units of the 1 s threshold whatever the car's reporting interval (ModelMetadata.thresholdByIntervalS).
      const smoothed = extractor.smooth(t.vehicleId, t.ts, rowScore < calibration.cap ? rowScore : calibration.cap, metadata.scoreSmoothingTauS, metadata.scorePrior) *
        calibration.scale(extractor.intervalS(t.vehicleId))
      const anomalous = smoothed > metadata.threshold
      const score: Score = {
        vehicleId: t.vehicleId,
        seq: t.seq,
        ts: t.ts,
        scoredAt,
        score: round4(smoothed),
        rowScore: round4(rowScore),
        threshold: round4(metadata.threshold),
        anomalous,
        modelVersion: metadata.modelVersion
      }
      if (!anomalous) {
        scored.push({ row, score, anomaly: null, failureMode: null })
        continue
      }
      const failureMode = guessFailureMode(x, recon as Float32Array, i, width, metadata.errorScale, rt.fields)
      scored.push({
        row,
        score,
        failureMode,
        anomaly: {
          ...score,
          anomalous: true,
          topFeatures: contributions(x, recon as Float32Array, i, width, metadata.errorScale, rt.names, 3),
          failureModeGuess: failureMode,
          source: { partition: row.record.partition, offset: row.record.offset }
        }
      })
    }
  }
  return { scored, inferenceMs }
}

const round4 = (n: number) => Math.round(n * 10_000) / 10_000
