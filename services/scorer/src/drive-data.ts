// Simulated drives turned into feature rows, for training, evaluation and benchmarks: each drive
// is one car from shared/vehicle-model.ts, run through the same feature extractor the scorer uses.
import { createVehicle, type FailureSpec } from '../../shared/src/vehicle-model.js'
import type { Telemetry } from '../../shared/src/telemetry-schema.js'
import { smoothScore } from './autoencoder.js'
import { createFeatureExtractor, type FeatureSet } from './features.js'

export interface DriveSpec {
  vehicleId: string
  seed: number
  durationS: number
  /** Seconds between two messages of the car. */
  intervalS: number
  failure?: FailureSpec | null
}

export interface Drive {
  spec: DriveSpec
  rows: number
  /** rows × width raw (not normalised) features. */
  features: Float32Array
  /** Seconds since the drive started, per row. */
  elapsedS: Float32Array
  /** Failure severity per row (0 = healthy). */
  severity: Float32Array
  telemetry?: Telemetry[]
}

const START_TS = 1_767_225_600_000 // 2026-01-01, any fixed clock keeps drives reproducible

export function simulateDrive (spec: DriveSpec, set: FeatureSet, keepTelemetry = false): Drive {
  const car = createVehicle({ vehicleId: spec.vehicleId, seed: spec.seed, failure: spec.failure ?? null, startTs: START_TS })
  const extractor = createFeatureExtractor(set)
  const rows = Math.floor(spec.durationS / spec.intervalS)
  const features = new Float32Array(rows * extractor.width)
  const elapsedS = new Float32Array(rows)
  const severity = new Float32Array(rows)
  const telemetry: Telemetry[] = []
  for (let i = 0; i < rows; i++) {
    const t = car.next(spec.intervalS)
    extractor.push(t, features, i * extractor.width, 0)
    elapsedS[i] = car.elapsedS
    severity[i] = car.severity
    if (keepTelemetry) telemetry.push(t)
  }
  return { spec, rows, features, elapsedS, severity, ...(keepTelemetry ? { telemetry } : {}) }
}

/** Stacks the rows of several drives into one matrix. */
export function stack (drives: Drive[], width: number): Float32Array {
  const total = drives.reduce((n, d) => n + d.rows, 0)
  const out = new Float32Array(total * width)
  let at = 0
  for (const d of drives) {
    out.set(d.features, at)
    at += d.features.length
  }
  return out
}

export function quantile (values: ArrayLike<number>, q: number): number {
  const sorted = Float64Array.from(values).sort()
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

/** Smoothed score per row of one drive (one car), the way the scorer computes it. */
export function smoothedDriveScores (scores: Float64Array, drive: Drive, tauS: number, prior?: number): Float64Array {
  const out = new Float64Array(scores.length)
  let prev: number | undefined
  for (let i = 0; i < scores.length; i++) {
    prev = smoothScore(prev, scores[i]!, i === 0 ? 0 : drive.elapsedS[i]! - drive.elapsedS[i - 1]!, tauS, prior)
    out[i] = prev
  }
  return out
}
