// The anomaly threshold per reporting interval. A car reporting every 10 s has moving averages of
// ~3 messages where a 1 s car has ~30, and its score average (tau 60 s) moves 15 % per message
// instead of 1.6 %: the same smoothed score is far more common on a healthy sparse car. So each
// interval gets its own threshold by the same rule on held-out normal drives at that interval,
// and row scores are clipped first (scoreCap) so a single odd message cannot carry a sparse
// car over. `npm run train` ends with this; `npm run calibrate` redoes it for an existing model
// (weights untouched), reproducibly from the model's training seed.
//   npm run calibrate -- [--model model] [--backend wasm|tensorflow|cpu]
import { createHash } from 'node:crypto'
import { parseArgs } from 'node:util'
import type { LayersModel, Tensor } from '@tensorflow/tfjs'
import { rowScores, standardise, type ModelMetadata } from './autoencoder.js'
import { normalDrives, quantile, simulateDrive, smoothedDriveScores, type Drive } from './drive-data.js'
import { loadModel, saveModel } from './model-files.js'
import { loadTf, type BackendChoice, type Tf } from './tf-backend.js'

/** Intervals (s) calibrated; cars between two are interpolated, cars outside take the nearest. */
export const CALIBRATION_INTERVALS_S = [1, 2, 5, 10]
/** Held-out normal drives at 1 s; sparser intervals get proportionally more (same number of rows). */
const DRIVES_AT_1S = 60
const MAX_DRIVES = 600
/** Fraction of held-out normal rows below the threshold, before the margin. */
const THRESHOLD_QUANTILE = 0.9995
const THRESHOLD_MARGIN = 1.1
/** Row scores are clipped at this multiple of the 1 s threshold (before clipping). */
const CAP_FACTOR = 2

type ScoringParts = Pick<ModelMetadata, 'featureSet' | 'normalisation' | 'errorScale' | 'scoreTopK' | 'scoreSmoothingTauS' | 'scorePrior' | 'trainingSeed'>
export type Calibration = Pick<ModelMetadata, 'threshold' | 'thresholdRule'> & Required<Pick<ModelMetadata, 'thresholdByIntervalS' | 'scoreCap'>> & { heldOut: Record<string, unknown> }

/** Row scores of one drive through the model, as the scorer computes them. */
export function driveRowScores (tf: Tf, model: LayersModel, m: ScoringParts, drive: Drive): Float64Array {
  const width = m.featureSet.features.length
  const x = standardise(Float32Array.from(drive.features), width, m.normalisation)
  const input = tf.tensor2d(x, [drive.rows, width])
  const out = model.predict(input, { batchSize: 4_096 }) as Tensor
  const recon = out.dataSync() as Float32Array
  input.dispose()
  out.dispose()
  return rowScores(x, recon, width, m.errorScale, m.scoreTopK)
}

export function calibrate (tf: Tf, model: LayersModel, m: ScoringParts): Calibration {
  const byInterval = CALIBRATION_INTERVALS_S.map(intervalS => {
    const count = Math.min(MAX_DRIVES, DRIVES_AT_1S * intervalS)
    return {
      intervalS,
      drives: normalDrives(count, 3, m.trainingSeed, [intervalS]).map(spec => {
        const drive = simulateDrive(spec, m.featureSet)
        return { drive, rs: driveRowScores(tf, model, m, drive) }
      })
    }
  })
  const smoothAll = (drives: typeof byInterval[number]['drives'], cap: number) => {
    const rows: number[] = []
    const maxima: number[] = []
    for (const d of drives) {
      const s = smoothedDriveScores(d.rs, d.drive, m.scoreSmoothingTauS, m.scorePrior, { cap, scale: () => 1 })
      let max = 0
      for (const v of s) {
        rows.push(v)
        if (v > max) max = v
      }
      maxima.push(max)
    }
    return { rows, maxima }
  }
  const first = smoothAll(byInterval[0]!.drives, Number.POSITIVE_INFINITY)
  const scoreCap = CAP_FACTOR * quantile(first.rows, THRESHOLD_QUANTILE) * THRESHOLD_MARGIN
  const heldOut: Record<string, unknown> = {}
  let previous = 0
  const thresholdByIntervalS = byInterval.map(({ intervalS, drives }) => {
    const { rows, maxima } = smoothAll(drives, scoreCap)
    // Never below a denser interval's: a sparser car is no less noisy, and a lower figure is the
    // sampling noise of the top rows (seen: 2 s came out at 64 against 97 at 1 s).
    const threshold = previous = Math.max(previous, quantile(rows, THRESHOLD_QUANTILE) * THRESHOLD_MARGIN)
    // A threshold at or above the cap could never be crossed: no alarm for such cars at all.
    if (!(threshold < scoreCap)) throw new Error(`calibration: the ${intervalS} s threshold ${threshold} is not below the score cap ${scoreCap}`)
    heldOut[`${intervalS}s`] = {
      drives: drives.length,
      rows: rows.length,
      normalDrivesAboveThreshold: maxima.filter(v => v > threshold).length,
      smoothedScoreP50: quantile(rows, 0.5),
      smoothedScoreP99: quantile(rows, 0.99)
    }
    return { intervalS, threshold }
  })
  return {
    threshold: thresholdByIntervalS[0]!.threshold,
    thresholdRule: `per reporting interval (${CALIBRATION_INTERVALS_S.join(', ')} s): ${THRESHOLD_QUANTILE * 100}th percentile of the smoothed score (tau ${m.scoreSmoothingTauS} s, row scores clipped at ${CAP_FACTOR} × the unclipped 1 s threshold) over held-out normal drives at that interval (${DRIVES_AT_1S} × interval drives of 20–60 min, at most ${MAX_DRIVES}), × ${THRESHOLD_MARGIN}, never below a denser interval's; scores are reported in units of the 1 s threshold`,
    thresholdByIntervalS,
    scoreCap,
    heldOut
  }
}

/** A model's version names its calibration too, so the scorer's hot reload sees a recalibration. */
export function calibratedVersion (base: string, c: Calibration): string {
  const hash = createHash('sha256').update(JSON.stringify([c.scoreCap, c.thresholdByIntervalS])).digest('hex').slice(0, 6)
  return `${base.replace(/-c[0-9a-f]{6}$/, '')}-c${hash}`
}

async function main (): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      model: { type: 'string', default: 'model' },
      backend: { type: 'string', default: 'wasm' }
    }
  })
  const t0 = performance.now()
  const { tf } = await loadTf(args.backend as BackendChoice)
  const { model, metadata } = await loadModel(tf, args.model!)
  const c = calibrate(tf, model, metadata)
  const { weightsSha256: _, heldOut, ...rest } = metadata
  const saved = await saveModel(tf, model, args.model!, {
    ...rest,
    ...c,
    modelVersion: calibratedVersion(metadata.modelVersion, c),
    heldOut: { scaleDrives: heldOut.scaleDrives, thresholdByInterval: c.heldOut }
  })
  console.log(`[calibrate] ${saved.modelVersion}: cap ${c.scoreCap.toFixed(1)}, thresholds ${c.thresholdByIntervalS.map(p => `${p.intervalS} s ${p.threshold.toFixed(1)}`).join(', ')} (${((performance.now() - t0) / 1000).toFixed(1)} s) → ${args.model}/`)
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
