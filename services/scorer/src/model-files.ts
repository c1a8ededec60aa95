// The model directory (`model/` at the repo root): model.json (tfjs layers format), weights.bin
// and metadata.json. Read and written with plain fs (the wasm and cpu backends have no file://
// handler). metadata.json is written last and names the weights' hash, so a reader that catches a
// directory mid-update refuses it and keeps its current model.
import { createHash } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { LayersModel } from '@tensorflow/tfjs'
import type { ModelMetadata } from './autoencoder.js'
import type { Tf } from './tf-backend.js'

export interface LoadedModel {
  model: LayersModel
  metadata: ModelMetadata
}

export class ModelFilesError extends Error {
  readonly code = 'MODEL_INVALID'
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

async function writeAtomic (path: string, data: string | Uint8Array): Promise<void> {
  await writeFile(`${path}.tmp`, data)
  await rename(`${path}.tmp`, path)
}

/** Writes the model; `metadata.weightsSha256` is filled in here. */
export async function saveModel (tf: Tf, model: LayersModel, dir: string, metadata: Omit<ModelMetadata, 'weightsSha256'>): Promise<ModelMetadata> {
  await mkdir(dir, { recursive: true })
  let full: ModelMetadata | null = null
  await model.save(tf.io.withSaveHandler(async artifacts => {
    const weights = new Uint8Array(artifacts.weightData as ArrayBuffer)
    full = { ...metadata, weightsSha256: sha256(weights) }
    await writeAtomic(join(dir, 'weights.bin'), weights)
    await writeAtomic(join(dir, 'model.json'), JSON.stringify({
      format: 'layers-model',
      generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
      convertedBy: null,
      modelTopology: artifacts.modelTopology,
      weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }]
    }))
    await writeAtomic(join(dir, 'metadata.json'), JSON.stringify(full, null, 2) + '\n')
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weights.byteLength } }
  }))
  if (full === null) throw new ModelFilesError('model was not saved')
  return full
}

function checkMetadata (m: ModelMetadata): void {
  const width = m.featureSet?.features?.length
  const problems: string[] = []
  if (typeof m.modelVersion !== 'string' || m.modelVersion === '') problems.push('modelVersion')
  if (!(width > 0)) problems.push('featureSet.features')
  for (const [name, arr] of [['normalisation.mean', m.normalisation?.mean], ['normalisation.std', m.normalisation?.std], ['errorScale', m.errorScale]] as const) {
    if (!Array.isArray(arr) || arr.length !== width || !arr.every(v => typeof v === 'number' && Number.isFinite(v))) problems.push(name)
  }
  if (!m.normalisation?.std?.every(v => v > 0) || !m.errorScale?.every(v => v > 0)) problems.push('std and errorScale must be > 0')
  if (!(Number.isFinite(m.threshold) && m.threshold > 0)) problems.push('threshold')
  if (problems.length > 0) throw new ModelFilesError(`metadata.json: bad ${problems.join(', ')}`)
}

export async function loadModel (tf: Tf, dir: string): Promise<LoadedModel> {
  const [topologyText, metadataText, weights] = await Promise.all([
    readFile(join(dir, 'model.json'), 'utf8'),
    readFile(join(dir, 'metadata.json'), 'utf8'),
    readFile(join(dir, 'weights.bin'))
  ])
  const metadata = JSON.parse(metadataText) as ModelMetadata
  checkMetadata(metadata)
  if (sha256(weights) !== metadata.weightsSha256) throw new ModelFilesError('weights.bin does not match metadata.json (model directory being updated?)')
  const topology = JSON.parse(topologyText) as { modelTopology: object, weightsManifest: Array<{ weights: import('@tensorflow/tfjs').io.WeightsManifestEntry[] }> }
  const weightData = weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength)
  const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: topology.modelTopology, weightSpecs: topology.weightsManifest[0]!.weights, weightData }))
  const inputWidth = (model.inputs[0]?.shape ?? [])[1]
  if (inputWidth !== metadata.featureSet.features.length) {
    model.dispose()
    throw new ModelFilesError(`model input width ${String(inputWidth)} differs from the ${metadata.featureSet.features.length} features in metadata.json`)
  }
  return { model, metadata }
}
