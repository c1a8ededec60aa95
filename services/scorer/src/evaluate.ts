// `npm run evaluate`: scores held-out simulated drives (seeds never used in training), healthy and
// with each failure mode, exactly as the scorer would (same features, standardisation, smoothing
// and threshold), and reports per mode: ROC AUC, precision, recall, F1, false-positive rate and
// detection delay from onset. Prints a table per reporting interval and writes
// results/evaluate-<interval>s.json for each.
//   npm run evaluate -- [--model model] [--intervals 1,5,10 | --interval 10] [--drives 40] [--out-dir results]
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { parseArgs } from 'node:util'
import { seededRandom } from '../../shared/src/seeded-random.js'
import { DEFAULT_DEVELOP_S, FAILURE_MODES, type FailureMode } from '../../shared/src/vehicle-model.js'
import type { LayersModel } from '@tensorflow/tfjs'
import { createScoreCalibration, guessFailureMode, rowScores, standardise, type ModelMetadata } from './autoencoder.js'
import { simulateDrive, smoothedDriveScores, type Drive, type DriveSpec } from './drive-data.js'
import { loadModel } from './model-files.js'
import { loadTf, type BackendChoice, type Tf } from './tf-backend.js'

/** Rows of a failing drive count as positives from this severity on; rows in between are left out. */
const DEVELOPED = 0.25
const DRIVE_S = 45 * 60

/** ROC AUC by ranks (Mann–Whitney U), ties averaged. */
export function rocAuc (pos: ArrayLike<number>, neg: ArrayLike<number>): number {
  const all = new Float64Array(pos.length + neg.length)
  const isPos = new Uint8Array(all.length)
  all.set(Array.from(pos))
  all.set(Array.from(neg), pos.length)
  isPos.fill(1, 0, pos.length)
  const order = Array.from(all.keys()).sort((a, b) => all[a]! - all[b]!)
  let rankSum = 0
  for (let i = 0; i < order.length;) {
    let j = i
    while (j + 1 < order.length && all[order[j + 1]!] === all[order[i]!]) j++
    const rank = (i + j) / 2 + 1
    for (let k = i; k <= j; k++) if (isPos[order[k]!] === 1) rankSum += rank
    i = j + 1
  }
  return (rankSum - pos.length * (pos.length + 1) / 2) / (pos.length * neg.length)
}

const pct = (xs: number[], q: number) => {
  if (xs.length === 0) return null
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!
}
const r3 = (n: number | null) => n === null ? null : Math.round(n * 1_000) / 1_000

async function main (): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      model: { type: 'string', default: 'model' },
      interval: { type: 'string' },
      intervals: { type: 'string', default: '1,5,10' },
      drives: { type: 'string', default: '40' },
      seed: { type: 'string', default: '7' },
      'out-dir': { type: 'string', default: 'results' },
      backend: { type: 'string', default: 'wasm' }
    }
  })
  const intervals = (args.interval ?? args.intervals!).split(',').map(Number)
  if (intervals.some(s => !(s > 0))) throw new Error(`--interval(s): seconds between messages, > 0 (got ${args.interval ?? args.intervals})`)
  const { tf, backend } = await loadTf(args.backend as BackendChoice)
  const { model, metadata } = await loadModel(tf, args.model!)
  const summary: string[] = ['| interval | ROC AUC | lowest mode AUC | normal drives with an alarm | message FP rate | delay median (s) per mode |', '|---|---|---|---|---|---|']
  for (const intervalS of intervals) {
    const out = `${args['out-dir']}/evaluate-${intervalS}s.json`
    const r = await evaluateAt(tf, backend, model, metadata, intervalS, Number(args.drives), Number(args.seed), out)
    const modes = Object.entries(r.perMode)
    summary.push(`| ${intervalS} s | ${r.overall.rocAuc} | ${Math.min(...modes.map(([, m]) => m.rocAuc ?? 0))} | ${r.overall.normalDrivesWithAnyAlarm} | ${(100 * r.overall.falsePositiveRateNormalRows!).toFixed(3)} % | ${modes.map(([k, m]) => `${k} ${m.detectionDelayS.median}`).join(', ')} |`)
  }
  if (intervals.length > 1) console.log(['', ...summary].join('\n'))
}

interface ModeResult { rocAuc: number | null, detectionDelayS: { median: number | null, p90: number | null, max: number | null }, [k: string]: unknown }

async function evaluateAt (tf: Tf, backend: string, model: LayersModel, metadata: ModelMetadata, intervalS: number, perMode: number, seed: number, outFile: string) {
  const args = { seed: String(seed), out: outFile }
  const calibration = createScoreCalibration(metadata)
  const set = metadata.featureSet
  const width = set.features.length
  const fields = set.features.map(f => f.field)
  const rnd = seededRandom(Number(args.seed) * 31 + 5)
  const spec = (i: number, failure: DriveSpec['failure']): DriveSpec =>
    ({ vehicleId: `eval-${i}`, seed: 1_500_000_000 + Number(args.seed) * 10_000 + i, durationS: DRIVE_S, intervalS, failure })

  const normal: DriveSpec[] = Array.from({ length: perMode * 2 }, (_, i) => spec(i, null))
  const failing: DriveSpec[] = []
  for (const mode of FAILURE_MODES) {
    for (let k = 0; k < perMode; k++) failing.push(spec(normal.length + failing.length, { mode, onsetS: Math.round(rnd.between(8, 20) * 60) }))
  }

  interface Scored { drive: Drive, smoothed: Float64Array, guesses: Array<FailureMode | null> }
  const score = (d: DriveSpec): Scored => {
    const drive = simulateDrive(d, set)
    const x = standardise(Float32Array.from(drive.features), width, metadata.normalisation)
    const input = tf.tensor2d(x, [drive.rows, width])
    const out = model.predict(input, { batchSize: 4_096 }) as import('@tensorflow/tfjs').Tensor
    const recon = out.dataSync() as Float32Array
    input.dispose()
    out.dispose()
    const smoothed = smoothedDriveScores(rowScores(x, recon, width, metadata.errorScale, metadata.scoreTopK ?? 0), drive, metadata.scoreSmoothingTauS, metadata.scorePrior, calibration)
    const guesses = Array.from(smoothed, (s, i) => s > metadata.threshold ? guessFailureMode(x, recon, i, width, metadata.errorScale, fields) : null)
    return { drive, smoothed, guesses }
  }

  const t0 = performance.now()
  const normalScored = normal.map(score)
  const failingScored = failing.map(score)
  const thr = metadata.threshold
  const negatives: number[] = []
  for (const s of normalScored) for (const v of s.smoothed) negatives.push(v)
  const normalFalseRows = negatives.filter(v => v > thr).length
  const normalDrivesAlarmed = normalScored.filter(s => s.smoothed.some(v => v > thr)).length

  const perModeResults: Record<string, ModeResult> = {}
  const allPos: number[] = []
  const allPosAfterOnset: number[] = []
  let tpAll = 0
  let fnAll = 0
  for (const mode of FAILURE_MODES) {
    const scored = failingScored.filter(s => s.drive.spec.failure?.mode === mode)
    const pos: number[] = []
    const afterOnset: number[] = []
    const preOnsetNeg: number[] = []
    const delays: number[] = []
    const severityAtDetection: number[] = []
    let guessed = 0
    let guessedRight = 0
    let earlyAlarmDrives = 0
    for (const s of scored) {
      const onset = s.drive.spec.failure!.onsetS
      let detected = false
      let early = false
      for (let i = 0; i < s.drive.rows; i++) {
        const v = s.smoothed[i]!
        const sev = s.drive.severity[i]!
        if (s.drive.elapsedS[i]! < onset) {
          preOnsetNeg.push(v)
          if (v > thr) early = true
          continue
        }
        afterOnset.push(v)
        if (sev >= DEVELOPED) pos.push(v)
        if (v > thr) {
          if (!detected) {
            detected = true
            delays.push(s.drive.elapsedS[i]! - onset)
            severityAtDetection.push(sev)
          }
          const g = s.guesses[i]
          if (g !== undefined) {
            guessed++
            if (g === mode) guessedRight++
          }
        }
      }
      if (early) earlyAlarmDrives++
    }
    const tp = pos.filter(v => v > thr).length
    const fn = pos.length - tp
    tpAll += tp
    fnAll += fn
    // Precision against an equal mix: this mode's developed rows and the normal drives' rows.
    const fp = normalFalseRows + preOnsetNeg.filter(v => v > thr).length
    const precision = tp + fp === 0 ? 1 : tp / (tp + fp)
    const recall = pos.length === 0 ? 0 : tp / pos.length
    perModeResults[mode] = {
      drives: scored.length,
      rocAuc: r3(rocAuc(pos, negatives)),
      rocAucAllRowsAfterOnset: r3(rocAuc(afterOnset, negatives)),
      precision: r3(precision),
      recall: r3(recall),
      f1: r3(precision + recall === 0 ? 0 : 2 * precision * recall / (precision + recall)),
      drivesDetected: delays.length,
      drivesAlarmedBeforeOnset: earlyAlarmDrives,
      detectionDelayS: { median: pct(delays, 0.5), p90: pct(delays, 0.9), max: pct(delays, 1) },
      severityAtDetectionMedian: r3(pct(severityAtDetection, 0.5)),
      modeGuessAccuracy: r3(guessed === 0 ? null : guessedRight / guessed)
    }
    allPos.push(...pos)
    allPosAfterOnset.push(...afterOnset)
  }
  const overallPrecision = tpAll / (tpAll + normalFalseRows * FAILURE_MODES.length)
  const overallRecall = tpAll / (tpAll + fnAll)
  const result = {
    modelVersion: metadata.modelVersion,
    backend,
    threshold: thr,
    intervalS,
    /** The threshold on this interval's scale (scores are reported in units of the 1 s one). */
    thresholdAtInterval: r3(thr / calibration.scale(intervalS)),
    scoreCap: metadata.scoreCap ?? null,
    driveMinutes: DRIVE_S / 60,
    setup: `${normal.length} normal drives and ${perMode} per failure mode (onset 8–20 min, developing over ${Object.entries(DEFAULT_DEVELOP_S).map(([m, s]) => `${m} ${s} s`).join(', ')}), held-out seeds; positives = rows of failing drives with severity ≥ ${DEVELOPED}; negatives = every row of the normal drives; the score is the smoothed score the scorer compares with the threshold`,
    overall: {
      rocAuc: r3(rocAuc(allPos, negatives)),
      rocAucAllRowsAfterOnset: r3(rocAuc(allPosAfterOnset, negatives)),
      precision: r3(overallPrecision),
      recall: r3(overallRecall),
      f1: r3(2 * overallPrecision * overallRecall / (overallPrecision + overallRecall)),
      falsePositiveRateNormalRows: Math.round(normalFalseRows / negatives.length * 1e6) / 1e6,
      normalRowsWithAlarm: `${normalFalseRows}/${negatives.length}`,
      normalDrivesWithAnyAlarm: `${normalDrivesAlarmed}/${normal.length}`
    },
    perMode: perModeResults,
    seconds: Math.round((performance.now() - t0) / 100) / 10
  }
  await mkdir(dirname(args.out!), { recursive: true })
  await writeFile(args.out!, JSON.stringify(result, null, 2) + '\n')

  console.log(`model ${metadata.modelVersion} (${backend}), threshold ${thr.toFixed(3)}, messages every ${intervalS} s`)
  console.log(`normal drives: ${normal.length}; row false-positive rate ${(100 * normalFalseRows / negatives.length).toFixed(3)} %; drives with any alarm ${normalDrivesAlarmed}`)
  console.log('| mode | ROC AUC | AUC (all rows after onset) | precision | recall | F1 | detected | delay median / p90 (s) | mode guess |')
  console.log('|---|---|---|---|---|---|---|---|---|')
  for (const [mode, m] of Object.entries(perModeResults) as Array<[string, any]>) {
    console.log(`| ${mode} | ${m.rocAuc} | ${m.rocAucAllRowsAfterOnset} | ${m.precision} | ${m.recall} | ${m.f1} | ${m.drivesDetected}/${m.drives} | ${m.detectionDelayS.median} / ${m.detectionDelayS.p90} | ${m.modeGuessAccuracy} |`)
  }
  const o = result.overall
  console.log(`| overall | ${o.rocAuc} | ${o.rocAucAllRowsAfterOnset} | ${o.precision} | ${o.recall} | ${o.f1} | | | |`)
  console.log(`→ ${args.out} (${result.seconds} s)`)
  return result
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
