// Simulated drives turned into feature rows, for training, evaluation and benchmarks: each drive
// is one car from shared/vehicle-model.ts, run through the same feature extractor the scorer uses.
import { createVehicle, type FailureSpec } from '../../shared/src/vehicle-model.js'
import { seededRandom } from '../../shared/src/seeded-random.js'
import type { Telemetry } from '../../shared/src/telemetry-schema.js'
import { smoothScore, type ScoreCalibration } from './autoencoder.js'
import { createFeatureExtractor, nextLogInterval, type FeatureSet } from './features.js'

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

/** `count` normal drives of 20–60 min, each reporting at one of `intervals` (s), reproducible from the seeds. */
export function normalDrives (count: number, namespace: number, seedBase: number, intervals: number[]): DriveSpec[] {
  const rnd = seededRandom(seedBase * 7_919 + namespace)
  return Array.from({ length: count }, (_, i) => {
    const intervalS = rnd.pick(intervals)
    return { vehicleId: `train-${namespace}-${i}`, seed: (seedBase * 100_003 + namespace * 1_000_000 + i) % 2_000_000_000, durationS: Math.round(rnd.between(20, 60)) * 60, intervalS }
  })
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

/**
 * Smoothed score per row of one drive (one car), the way the scorer computes it: row scores
 * clipped at the calibration's cap, smoothed, then scaled for the car's reporting interval.
 */
export function smoothedDriveScores (scores: Float64Array, drive: Drive, tauS: number, prior?: number, calibration?: ScoreCalibration): Float64Array {
  const out = new Float64Array(scores.length)
  const cap = calibration?.cap ?? Number.POSITIVE_INFINITY
  let prev: number | undefined
  let logInterval = Number.NaN
  for (let i = 0; i < scores.length; i++) {
    const dtS = i === 0 ? 0 : drive.elapsedS[i]! - drive.elapsedS[i - 1]!
    if (dtS > 0) logInterval = nextLogInterval(logInterval, dtS)
    prev = smoothScore(prev, Math.min(cap, scores[i]!), dtS, tauS, prior)
    out[i] = calibration === undefined ? prev : prev * calibration.scale(Math.exp(logInterval))
  }
  return out
}
