// Picks the TensorFlow.js backend at start: tfjs-node (native libtensorflow) where it was built and
// loads, else the wasm backend; `cpu` (pure JS) only on request. tfjs-node lives outside the
// project's node_modules (scripts/build-tfjs-node.sh), so it brings its own copy of tfjs and the
// whole process then uses that copy: callers take `tf` from here, never import it themselves.
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { homedir } from 'node:os'
import { join } from 'node:path'

export type Tf = typeof import('@tensorflow/tfjs')
export type BackendChoice = 'auto' | 'tensorflow' | 'wasm' | 'cpu'
export const BACKEND_CHOICES = ['auto', 'tensorflow', 'wasm', 'cpu'] as const

export interface LoadedTf {
  tf: Tf
  /** tf.getBackend() after setup: tensorflow, wasm or cpu. */
  backend: string
  /** Why this backend (e.g. why tfjs-node was not used). */
  reason: string
}

export const TFJS_NODE_VERSION = '4.22.0'
export const defaultTfjsNodeDir = () => join(process.env.FLEET_CACHE_DIR ?? join(homedir(), '.cache', 'fleet'), `tfjs-node-${TFJS_NODE_VERSION}`)

export interface TfOptions {
  /**
   * Threads libtensorflow computes with (its intra- and inter-op pools; read once, at load).
   * Unset: TensorFlow's default, one per core. The wasm and cpu backends use one thread anyway.
   */
  threads?: number
}

function loadNative (dir: string, o: TfOptions): Tf {
  if (!existsSync(join(dir, 'node_modules', '@tensorflow', 'tfjs-node'))) throw new Error(`not built in ${dir} (bash scripts/build-tfjs-node.sh)`)
  // libtensorflow writes an INFO line about CPU features to stderr at load unless told not to.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2'
  // TensorFlow reads these when its eager context starts (tensorflow/core/common_runtime/process_util.cc).
  if (o.threads !== undefined) process.env.TF_NUM_INTRAOP_THREADS = process.env.TF_NUM_INTEROP_THREADS = String(o.threads)
  return createRequire(join(dir, 'package.json'))('@tensorflow/tfjs-node') as Tf
}

let loaded: Promise<LoadedTf> | null = null
let loadedChoice: string | null = null

/** Loads TensorFlow.js once per process (backends are process-wide in tfjs). */
export function loadTf (choice: BackendChoice, nativeDir = defaultTfjsNodeDir(), o: TfOptions = {}): Promise<LoadedTf> {
  const key = `${choice}:${nativeDir}:${o.threads ?? ''}`
  if (loaded !== null) {
    if (loadedChoice !== key) return loaded.then(l => ({ ...l, reason: `${l.reason}; already loaded in this process (asked for ${choice})` }))
    return loaded
  }
  loadedChoice = key
  loaded = (async () => {
    let reason = `FLEET_SCORER_BACKEND=${choice}`
    if (choice === 'auto' || choice === 'tensorflow') {
      try {
        const tf = loadNative(nativeDir, o)
        await tf.ready()
        if (tf.getBackend() === 'tensorflow') return { tf, backend: 'tensorflow', reason: `${reason}: tfjs-node loaded from ${nativeDir}` }
        reason += ': tfjs-node loaded but did not register its backend'
      } catch (err) {
        if (choice === 'tensorflow') throw new Error(`tfjs-node unavailable: ${(err as Error).message}`)
        reason += `: tfjs-node unavailable (${(err as Error).message.split('\n')[0]})`
      }
    }
    const tf = await import('@tensorflow/tfjs')
    if (choice === 'cpu') {
      await tf.setBackend('cpu')
    } else {
      await import('@tensorflow/tfjs-backend-wasm')
      if (!await tf.setBackend('wasm')) throw new Error('the wasm backend did not initialise')
      if (choice === 'auto') reason += ', using wasm'
    }
    await tf.ready()
    return { tf: tf as unknown as Tf, backend: tf.getBackend(), reason }
  })()
  return loaded
}
