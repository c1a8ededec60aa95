// The anomaly model: a dense autoencoder over standardised feature rows, and the arithmetic around
// it that is the same in training, evaluation and the scorer: standardise, score a row by its
// reconstruction error (each feature's error in units of that feature's typical error on normal
// data, so noisy signals do not drown quiet ones), smooth the score per car over time, explain it.
import { FAILURE_MODES, FAILURE_SIGNALS, type FailureMode } from '../../shared/src/vehicle-model.js'
import type { FeatureSet } from './features.js'
import type { Tf } from './tf-backend.js'

export interface ModelMetadata {
  modelVersion: string
  createdAt: string
  trainingSeed: number
  featureSet: FeatureSet
  normalisation: { mean: number[], std: number[], clip: number }
  /** Root mean square reconstruction error per feature (standardised units) on held-out normal rows. */
  errorScale: number[]
  /** A row's score is the mean of its scoreTopK largest scaled squared errors (0 = all features). */
  scoreTopK: number
  /** The score compared with the threshold is this moving average of the row scores per car. */
  scoreSmoothingTauS: number
  /** Where a car's moving average starts: the median row score of held-out normal data. */
  scorePrior?: number
  /** The threshold for a car reporting every second; the scorer reports scores in its units. */
  threshold: number
  thresholdRule: string
  /**
   * Thresholds calibrated on normal drives at each reporting interval, ascending: a sparse car's
   * moving averages are noisier, so the same smoothed score means less at 10 s than at 1 s.
   * Absent in older models (one threshold for every car).
   */
  thresholdByIntervalS?: Array<{ intervalS: number, threshold: number }>
  /** Row scores are clipped to this before smoothing, so one odd message moves a sparse car's
   * average (15 % per message at 10 s) no further than one message of a 1 s car does. */
  scoreCap?: number
  /** sha256 of weights.bin: a half-written model directory is refused, not loaded. */
  weightsSha256: string
  architecture: { layers: number[], activation: string }
  training: Record<string, unknown>
  heldOut: Record<string, unknown>
}

export interface Contribution { feature: string, share: number }

/** Layer widths from the input to the bottleneck; the decoder mirrors them. */
export function buildAutoencoder (tf: Tf, width: number, hidden: number[], seed: number) {
  const model = tf.sequential()
  const layers = [...hidden, ...hidden.slice(0, -1).reverse()]
  layers.forEach((units, i) => {
    model.add(tf.layers.dense({
      units,
      activation: i === hidden.length - 1 ? 'linear' : 'tanh',
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed + i }),
      ...(i === 0 ? { inputShape: [width] } : {})
    }))
  })
  model.add(tf.layers.dense({ units: width, activation: 'linear', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 99 }) }))
  return model
}

/** In place: (x − mean) / std, clipped so one absurd value cannot dominate a batch. */
export function standardise (rows: Float32Array, width: number, norm: ModelMetadata['normalisation']): Float32Array {
  const { clip } = norm
  const mean = Float64Array.from(norm.mean)
  const inv = Float64Array.from(norm.std, s => 1 / s)
  for (let o = 0; o < rows.length; o += width) {
    for (let j = 0; j < width; j++) {
      const z = (rows[o + j]! - mean[j]!) * inv[j]!
      rows[o + j] = z > clip ? clip : z < -clip ? -clip : z
    }
  }
  return rows
}

/**
 * Row scores: the mean of the `topK` largest (reconstruction error / errorScale)² of the row, or
 * of all features when topK is 0. A failure usually moves one to a few signals: averaging over
 * every feature would dilute it by the width of the row.
 */
export function rowScores (x: Float32Array, recon: ArrayLike<number>, width: number, errorScale: number[], topK = 0, out = new Float64Array(x.length / width)): Float64Array {
  const inv = errorScale.map(s => 1 / (s * s))
  const k = topK > 0 && topK < width ? topK : 0
  const top = new Float64Array(k)
  for (let r = 0, o = 0; o < x.length; r++, o += width) {
    let sum = 0
    top.fill(0)
    for (let j = 0; j < width; j++) {
      const e = recon[o + j]! - x[o + j]!
      const v = e * e * inv[j]!
      if (k === 0) {
        sum += v
        continue
      }
      // Insert into the k largest so far (k is small: a few comparisons).
      if (v <= top[k - 1]!) continue
      let i = k - 1
      while (i > 0 && top[i - 1]! < v) {
        top[i] = top[i - 1]!
        i--
      }
      top[i] = v
    }
    if (k > 0) for (let i = 0; i < k; i++) sum += top[i]!
    out[r] = sum / (k === 0 ? width : k)
  }
  return out
}

/**
 * Time-aware exponential smoothing: `prev` decays over `tauS` towards `score`. A car's first score
 * starts from `prior` (a typical normal score) as if one second had passed, so a single odd first
 * message cannot raise an alarm before the average has anything to average.
 */
export function smoothScore (prev: number | undefined, score: number, dtS: number, tauS: number, prior?: number): number {
  if (tauS <= 0) return score
  if (prev === undefined) {
    if (prior === undefined) return score
    prev = prior
    dtS = 1
  }
  if (dtS <= 0) return prev
  return prev + (1 - Math.exp(-dtS / tauS)) * (score - prev)
}

export interface ScoreCalibration {
  /** Row scores above this are clipped before smoothing (Infinity when the model has none). */
  cap: number
  /**
   * Factor that puts a car's smoothed score in units of the 1 s threshold, from the car's
   * typical reporting interval (s; NaN when not known yet: the sparsest calibrated interval's,
   * the strictest). Interpolated in log(interval) between calibrated intervals, clamped outside.
   */
  scale: (intervalS: number) => number
}

export function createScoreCalibration (m: Pick<ModelMetadata, 'threshold' | 'thresholdByIntervalS' | 'scoreCap'>): ScoreCalibration {
  const cap = m.scoreCap !== undefined && m.scoreCap > 0 ? m.scoreCap : Number.POSITIVE_INFINITY
  const table = m.thresholdByIntervalS ?? []
  if (table.length === 0) return { cap, scale: () => 1 }
  const logIv = Float64Array.from(table, p => Math.log(p.intervalS))
  const factor = Float64Array.from(table, p => m.threshold / p.threshold)
  const last = table.length - 1
  const strictest = Math.min(...factor)
  return {
    cap,
    scale (intervalS) {
      if (!(intervalS > 0)) return strictest
      const l = Math.log(intervalS)
      if (l <= logIv[0]!) return factor[0]!
      if (l >= logIv[last]!) return factor[last]!
      let i = 1
      while (logIv[i]! < l) i++
      const w = (l - logIv[i - 1]!) / (logIv[i]! - logIv[i - 1]!)
      return factor[i - 1]! + w * (factor[i]! - factor[i - 1]!)
    }
  }
}

/** The features that make up most of a row's score, largest first. */
export function contributions (x: Float32Array, recon: ArrayLike<number>, row: number, width: number, errorScale: number[], names: string[], top = 3): Contribution[] {
  const o = row * width
  const parts: Array<{ j: number, v: number }> = []
  let total = 0
  for (let j = 0; j < width; j++) {
    const e = (recon[o + j]! - x[o + j]!) / errorScale[j]!
    const v = e * e
    total += v
    parts.push({ j, v })
  }
  parts.sort((a, b) => b.v - a.v)
  return parts.slice(0, top).map(p => ({ feature: names[p.j]!, share: total > 0 ? Math.round(p.v / total * 1_000) / 1_000 : 0 }))
}

/**
 * The failure mode whose signals carry the largest part of the error (FAILURE_SIGNALS), or null
 * when driving signals (speed, rpm, throttle, intake air temperature) dominate.
 */
export function guessFailureMode (x: Float32Array, recon: ArrayLike<number>, row: number, width: number, errorScale: number[], fields: string[]): FailureMode | null {
  const o = row * width
  const byMode = new Map<FailureMode, number>()
  let other = 0
  for (let j = 0; j < width; j++) {
    const e = (recon[o + j]! - x[o + j]!) / errorScale[j]!
    const mode = modeOfField.get(fields[j]!)
    if (mode === undefined) other += e * e
    else byMode.set(mode, (byMode.get(mode) ?? 0) + e * e)
  }
  let best: FailureMode | null = null
  let bestV = other
  for (const [mode, v] of byMode) {
    if (v > bestV) {
      best = mode
      bestV = v
    }
  }
  return best
}

const modeOfField = new Map<string, FailureMode>()
for (const mode of FAILURE_MODES) for (const f of FAILURE_SIGNALS[mode]) modeOfField.set(f, mode)
