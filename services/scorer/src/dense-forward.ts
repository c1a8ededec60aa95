// The autoencoder's forward pass as one fused matMul (+ bias) per dense layer on the model's own
// weights, instead of LayersModel.predict: predict adds a name scope, a batch slice and separate
// bias and reshape ops per layer, per micro-batch. One tensor in, one out, inside one tidy scope.
import type { LayersModel, Tensor, Tensor2D } from '@tensorflow/tfjs'
import type { Tf } from './tf-backend.js'

/** Activations tf.fused.matMul applies itself; tanh runs as an op of its own after it. */
const FUSED = new Set(['linear', 'relu', 'sigmoid'])

interface DenseLayer { kernel: Tensor2D, bias: Tensor, activation: string }

/** Reconstructions of `rows` × `width` standardised rows, as a tensor the caller disposes. */
export type Forward = (x: Float32Array, rows: number, width: number) => Tensor

/**
 * The model's forward pass; model.predict for a model that is not a stack of dense layers with
 * a bias and an activation in FUSED or tanh.
 */
export function createForward (tf: Tf, model: LayersModel): Forward {
  const layers = denseLayers(model)
  if (layers === null) return (x, rows, width) => tf.tidy(() => model.predict(tf.tensor2d(x, [rows, width]), { batchSize: rows }) as Tensor)
  return (x, rows, width) => tf.tidy(() => {
    let h: Tensor2D = tf.tensor2d(x, [rows, width])
    for (const l of layers) {
      const fused = FUSED.has(l.activation)
      h = tf.fused.matMul({ a: h, b: l.kernel, bias: l.bias, activation: fused ? l.activation as 'linear' : 'linear' }) as Tensor2D
      if (!fused) h = tf.tanh(h)
    }
    return h
  })
}

function denseLayers (model: LayersModel): DenseLayer[] | null {
  const out: DenseLayer[] = []
  for (const layer of model.layers) {
    const config = layer.getConfig()
    const activation = String(config.activation)
    const weights = layer.getWeights()
    if (layer.getClassName() !== 'Dense' || config.useBias !== true || weights.length !== 2 || weights[0]!.rank !== 2) return null
    if (!FUSED.has(activation) && activation !== 'tanh') return null
    out.push({ kernel: weights[0] as Tensor2D, bias: weights[1]!, activation })
  }
  return out.length > 0 ? out : null
}
