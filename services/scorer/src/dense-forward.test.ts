// The fused forward pass gives model.predict's reconstructions for the committed model and for
// each activation it fuses or runs after the matMul, and a model it cannot fuse is predicted as before.
import assert from 'node:assert/strict'
import { before, test } from 'node:test'
import type { LayersModel, Tensor } from '@tensorflow/tfjs'
import { standardise } from './autoencoder.js'
import { createForward } from './dense-forward.js'
import { simulateDrive } from './drive-data.js'
import { loadModel } from './model-files.js'
import { loadTf, type Tf } from './tf-backend.js'

const MODEL_DIR = new URL('../../../model', import.meta.url).pathname
let tf: Tf

before(async () => {
  tf = (await loadTf('wasm')).tf
})

/** Largest absolute difference between the fused pass and model.predict on `x`. */
function worstDifference (model: LayersModel, x: Float32Array, rows: number, width: number): number {
  const out = createForward(tf, model)(x, rows, width)
  const got = out.dataSync()
  out.dispose()
  const ref = tf.tidy(() => model.predict(tf.tensor2d(x, [rows, width])) as Tensor)
  const want = ref.dataSync()
  ref.dispose()
  assert.equal(got.length, rows * width)
  let worst = 0
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!))
  return worst
}

test('the committed model: the same reconstructions as model.predict, and no tensor left behind', async () => {
  const { model, metadata } = await loadModel(tf, MODEL_DIR)
  const width = metadata.featureSet.features.length
  const drive = simulateDrive({ vehicleId: 'f', seed: 5, durationS: 300, intervalS: 1 }, metadata.featureSet)
  const x = standardise(Float32Array.from(drive.features), width, metadata.normalisation)
  const forward = createForward(tf, model)
  forward(x, drive.rows, width).dispose()
  const tensors = tf.memory().numTensors
  forward(x, drive.rows, width).dispose()
  assert.equal(tf.memory().numTensors, tensors)
  assert.ok(worstDifference(model, x, drive.rows, width) < 1e-5)
  model.dispose()
})

test('relu, sigmoid and tanh layers, and a model with a layer it cannot fuse', () => {
  const x = Float32Array.from({ length: 40 * 6 }, (_, i) => Math.sin(i))
  const dense = (activation: 'relu' | 'sigmoid' | 'tanh' | 'linear', inputShape?: number[]) => tf.layers.dense({ units: 6, activation, ...(inputShape === undefined ? {} : { inputShape }), kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }), biasInitializer: 'ones' })
  const m = tf.sequential({ layers: [dense('relu', [6]), dense('sigmoid'), dense('tanh'), dense('linear')] })
  assert.ok(worstDifference(m, x, 40, 6) < 1e-5)
  const other = tf.sequential({ layers: [dense('relu', [6]), tf.layers.dropout({ rate: 0.5 }), dense('linear')] })
  assert.ok(worstDifference(other, x, 40, 6) < 1e-6)
})
