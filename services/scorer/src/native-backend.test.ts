// The optional native backend (tfjs-node, built by scripts/build-tfjs-node.sh) gives the same
// row scores as wasm for the committed model. Skipped, and reported as skipped, where it is
// not built.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'
import { rowScores, standardise } from './autoencoder.js'
import { simulateDrive } from './drive-data.js'
import { loadModel } from './model-files.js'
import { defaultTfjsNodeDir, loadTf, type Tf } from './tf-backend.js'

const MODEL_DIR = new URL('../../../model', import.meta.url).pathname
const built = existsSync(join(defaultTfjsNodeDir(), '.built'))
// CI builds it and sets FLEET_TEST_REQUIRE_OPTIONAL=1: there a missing build fails the test instead of skipping it.
const requireOptional = process.env.FLEET_TEST_REQUIRE_OPTIONAL === '1'

/** Row scores of one simulated drive with the committed model on `backend`. */
async function driveScores (backend: 'tensorflow' | 'wasm'): Promise<number[]> {
  const { tf } = await loadTf(backend)
  const { model, metadata } = await loadModel(tf, MODEL_DIR)
  const width = metadata.featureSet.features.length
  const drive = simulateDrive({ vehicleId: 'n', seed: 3, durationS: 600, intervalS: 1 }, metadata.featureSet)
  const x = standardise(Float32Array.from(drive.features), width, metadata.normalisation)
  const out = tf.tidy(() => model.predict(tf.tensor2d(x, [drive.rows, width]), { batchSize: drive.rows }) as ReturnType<Tf['tensor2d']>)
  const recon = out.dataSync()
  out.dispose()
  return Array.from(rowScores(x, recon as Float32Array, width, metadata.errorScale, metadata.scoreTopK))
}

/** In a child process: the process's threads once tfjs-node is loaded with `threads` and has run an op. */
function threadsWith (threads: number): number {
  const child = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], { env: { ...process.env, FLEET_TEST_TF_THREADS: String(threads) }, encoding: 'utf8' })
  assert.equal(child.status, 0, child.stderr)
  return Number(child.stdout)
}

if (process.env.FLEET_TEST_SCORES_BACKEND === 'wasm') {
  // Child mode: tfjs keeps one engine per process, so wasm's figures come from a second process.
  process.stdout.write(JSON.stringify(await driveScores('wasm')))
} else if (process.env.FLEET_TEST_TF_THREADS !== undefined) {
  const { tf } = await loadTf('tensorflow', defaultTfjsNodeDir(), { threads: Number(process.env.FLEET_TEST_TF_THREADS) })
  tf.matMul(tf.ones([256, 256]), tf.ones([256, 256])).dataSync()
  process.stdout.write(String(readdirSync('/proc/self/task').length))
} else {
  test('FLEET_SCORER_TF_THREADS sizes libtensorflow\'s thread pools', { skip: built || requireOptional ? false : 'tfjs-node not built (bash scripts/build-tfjs-node.sh)' }, () => {
    const one = threadsWith(1)
    const four = threadsWith(4)
    // Each of the two pools (intra- and inter-op) holds `threads` threads.
    assert.ok(four - one >= 4, `threads with 1: ${one}, with 4: ${four}`)
  })

  test('tfjs-node loads as the tensorflow backend and scores like wasm', { skip: built || requireOptional ? false : 'tfjs-node not built (bash scripts/build-tfjs-node.sh)' }, async () => {
    const native = await loadTf('tensorflow')
    assert.equal(native.backend, 'tensorflow')
    const p = await driveScores('tensorflow')
    const child = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], { env: { ...process.env, FLEET_TEST_SCORES_BACKEND: 'wasm' }, encoding: 'utf8', maxBuffer: 16 << 20 })
    assert.equal(child.status, 0, child.stderr)
    const q = JSON.parse(child.stdout) as number[]
    assert.equal(p.length, q.length)
    let worst = 0
    for (let i = 0; i < p.length; i++) worst = Math.max(worst, Math.abs(p[i]! - q[i]!) / Math.max(1, q[i]!))
    assert.ok(worst < 1e-3, `largest relative difference ${worst}`)
  })
}
