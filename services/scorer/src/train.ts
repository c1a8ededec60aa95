// `npm run train`: simulates normal driving, fits the standardisation, trains the autoencoder,
// measures each feature's reconstruction error, picks the anomaly threshold per reporting interval
// on held-out normal drives (calibrate.ts), and writes model/ (model.json, weights.bin, metadata.json). Reproducible from its seed.
//   npm run train -- [--seed 42] [--epochs 8] [--out model] [--backend wasm|tensorflow|cpu]
import { parseArgs } from 'node:util'
import { createHash } from 'node:crypto'
import { seededRandom } from '../../shared/src/seeded-random.js'
import { buildAutoencoder, rowScores, standardise, type ModelMetadata } from './autoencoder.js'
import { calibrate, calibratedVersion } from './calibrate.js'
import { normalDrives, quantile, simulateDrive, stack, type Drive } from './drive-data.js'
import { defaultFeatureSet, type FeatureSet } from './features.js'
import { saveModel } from './model-files.js'
import { loadTf, type BackendChoice } from './tf-backend.js'

const BATCH = 256
const SMOOTHING_TAU_S = 60
const SCORE_TOP_K = 1
/**
 * Reporting intervals of the simulated training cars (s). Sparser cars (the reference demo's
 * 10 s) are served by the per-interval thresholds of calibrate.ts: the features are time-aware,
 * only their noise grows, and what a sparse car needs is a threshold that knows it.
 */
const INTERVALS = [1, 1, 1, 2]

/**
 * Robust standardisation (median and interquartile range): most driving is a warm engine, so
 * coolant, tyre and battery signals are scaled by their spread in normal running, not by the
 * warm-up that would otherwise make a few degrees of overheating look like nothing.
 */
function fitNormalisation (x: Float32Array, width: number): ModelMetadata['normalisation'] {
  const n = x.length / width
  const mean: number[] = []
  const std: number[] = []
  const column = new Float64Array(n)
  for (let j = 0; j < width; j++) {
    for (let r = 0; r < n; r++) column[r] = x[r * width + j]!
    column.sort()
    const at = (q: number) => column[Math.min(n - 1, Math.floor(q * n))]!
    const median = at(0.5)
    const spread = (at(0.75) - at(0.25)) / 1.349
    const wide = (at(0.95) - at(0.05)) / 3.29
    mean.push(median)
    std.push(Math.max(spread, wide / 4, 1e-3 * Math.abs(median), 1e-3))
  }
  return { mean, std, clip: 10 }
}

function shuffleRows (x: Float32Array, width: number, rndSeed: number): Float32Array {
  const rnd = seededRandom(rndSeed)
  const n = x.length / width
  const order = Array.from({ length: n }, (_, i) => i)
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd.next() * (i + 1))
    const t = order[i]!
    order[i] = order[j]!
    order[j] = t
  }
  const out = new Float32Array(x.length)
  order.forEach((from, to) => out.set(x.subarray(from * width, from * width + width), to * width))
  return out
}

async function main (): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      seed: { type: 'string', default: '42' },
      epochs: { type: 'string', default: '8' },
      out: { type: 'string', default: 'model' },
      backend: { type: 'string', default: 'wasm' },
      hidden: { type: 'string', default: '48,24,8' }
    }
  })
  const seed = Number(args.seed)
  const epochs = Number(args.epochs)
  const HIDDEN = args.hidden!.split(',').map(Number)
  const t0 = performance.now()
  const { tf, backend } = await loadTf(args.backend as BackendChoice)
  const set: FeatureSet = defaultFeatureSet()
  const width = set.features.length

  const trainDrives = normalDrives(120, 1, seed, INTERVALS).map(d => simulateDrive(d, set))
  const scaleDrives = normalDrives(30, 2, seed, INTERVALS).map(d => simulateDrive(d, set))
  const xRaw = stack(trainDrives, width)
  const rows = xRaw.length / width
  const normalisation = fitNormalisation(xRaw, width)
  const x = shuffleRows(standardise(xRaw, width, normalisation), width, seed)
  console.log(`[train] ${trainDrives.length} normal drives, ${rows} rows × ${width} features (simulated in ${((performance.now() - t0) / 1000).toFixed(1)} s), backend ${backend}`)

  const model = buildAutoencoder(tf, width, HIDDEN, seed)
  model.compile({ optimizer: tf.train.adam(0.003), loss: 'meanSquaredError' })
  const xs = tf.tensor2d(x, [rows, width])
  const tFit = performance.now()
  const history = await model.fit(xs, xs, {
    epochs,
    batchSize: BATCH,
    shuffle: false,
    verbose: 0,
    callbacks: { onEpochEnd: async (epoch, logs) => { console.log(`[train] epoch ${epoch + 1}/${epochs} loss ${logs?.loss?.toFixed(5)}`) } }
  })
  xs.dispose()
  const fitS = (performance.now() - tFit) / 1000

  const reconstruct = (drive: Drive): { x: Float32Array, recon: Float32Array } => {
    const xd = standardise(Float32Array.from(drive.features), width, normalisation)
    const input = tf.tensor2d(xd, [drive.rows, width])
    const out = model.predict(input, { batchSize: 4_096 }) as import('@tensorflow/tfjs').Tensor
    const recon = out.dataSync() as Float32Array
    input.dispose()
    out.dispose()
    return { x: xd, recon }
  }

  // Each feature's typical error on normal data not used for fitting.
  const sq = new Float64Array(width)
  let n = 0
  const scaled = scaleDrives.map(d => {
    const r = reconstruct(d)
    for (let i = 0; i < r.x.length; i++) sq[i % width]! += (r.recon[i]! - r.x[i]!) ** 2
    n += d.rows
    return r
  })
  const errorScale = Array.from(sq, s => Math.max(Math.sqrt(s / n), 1e-3))
  const prior = quantile(scaled.flatMap(r => Array.from(rowScores(r.x, r.recon, width, errorScale, SCORE_TOP_K))), 0.5)

  const weightsHash = createHash('sha256')
  for (const w of model.getWeights()) weightsHash.update(new Uint8Array((w.dataSync() as Float32Array).buffer))
  const scoring = { featureSet: set, normalisation, errorScale, scoreTopK: SCORE_TOP_K, scoreSmoothingTauS: SMOOTHING_TAU_S, scorePrior: prior, trainingSeed: seed }
  const { heldOut: thresholdHeldOut, ...calibration } = calibrate(tf, model, scoring)
  const baseVersion = `ae-${new Date().toISOString().slice(0, 10).replaceAll('-', '')}-s${seed}-${weightsHash.digest('hex').slice(0, 8)}`
  const metadata = await saveModel(tf, model, args.out!, {
    ...scoring,
    ...calibration,
    modelVersion: calibratedVersion(baseVersion, { ...calibration, heldOut: thresholdHeldOut }),
    createdAt: new Date().toISOString(),
    architecture: { layers: [width, ...HIDDEN, ...HIDDEN.slice(0, -1).reverse(), width], activation: 'tanh (bottleneck and output linear)' },
    training: {
      backend,
      drives: trainDrives.length,
      rows,
      intervalsS: INTERVALS,
      epochs,
      batchSize: BATCH,
      optimizer: 'adam(0.003)',
      loss: history.history.loss?.map(v => Number(Number(v).toFixed(5))),
      fitSeconds: Number(fitS.toFixed(1))
    },
    heldOut: { scaleDrives: scaleDrives.length, thresholdByInterval: thresholdHeldOut }
  })
  console.log(`[train] ${metadata.modelVersion}: threshold ${metadata.threshold.toFixed(3)} (${metadata.thresholdRule}); fit ${fitS.toFixed(1)} s, total ${((performance.now() - t0) / 1000).toFixed(1)} s → ${args.out}/`)
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
