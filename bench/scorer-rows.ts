// bench:scorer-rows — the scorer's CPU per row on its whole in-process path (parse and schema
// check, features, inference, scores, each car's Redis state, history and ranking) at fixed batch
// shapes, against the stack's Redis, without Kafka (its fetch and produce are per batch, and
// bench:scorer measures them end to end). Two fleet shapes: 10,000 cars at 1 msg/s (bench:scorer's)
// and 100,000 cars at 1 msg per 10 s (the soak's), 2,500-row batches; each in a child process per
// node flag set (NODE_ARGS_SETS, `;`-separated), ROUNDS times interleaved. Prints and writes
// results/bench-scorer-rows.json.
//   [ROUNDS=2] [BATCHES=80] [NODE_ARGS_SETS=';--max-semi-space-size=64'] npm run bench:scorer-rows
import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { createLogger } from '../services/shared/src/logger.js'
import { createRegistry } from '../services/shared/src/metrics.js'
import { createVehicle, type Vehicle } from '../services/shared/src/vehicle-model.js'
import { createBatchProcessor } from '../services/scorer/src/batch-processor.js'
import { createRuntime, type TelemetryRecord } from '../services/scorer/src/batch-scoring.js'
import { createHistoryWriter } from '../services/scorer/src/car-history.js'
import { RedisPipeline, targetOf } from '../services/scorer/src/redis-pipeline.js'
import { loadModel } from '../services/scorer/src/model-files.js'
import { loadScorerConfig } from '../services/scorer/src/scorer-config.js'
import { createScorerMetrics } from '../services/scorer/src/scorer-metrics.js'
import { loadTf, type BackendChoice } from '../services/scorer/src/tf-backend.js'
import { cpuSecondsOr0, stackPid } from './proc-stats.js'

const root = new URL('..', import.meta.url).pathname
const env = (k: string, d: number) => Number(process.env[k] ?? d)
const { values: args } = parseArgs({ options: { part: { type: 'string', default: 'main' }, shape: { type: 'string', default: '' } } })
const BATCH_ROWS = 2_500
const SHAPES: Record<string, { cars: number, intervalS: number }> = {
  '10k cars × 1 msg/s': { cars: 10_000, intervalS: 1 },
  '100k cars × 1 msg/10 s': { cars: 100_000, intervalS: 10 }
}

/** Child: CPU µs per row of createBatchProcessor at one shape; prints JSON. */
async function child (shapeName: string) {
  const shape = SHAPES[shapeName]!
  const config = loadScorerConfig({ ...process.env, FLEET_LOG_LEVEL: 'silent' })
  const { tf, backend } = await loadTf((process.env.FLEET_SCORER_BACKEND ?? 'auto') as BackendChoice)
  const { model, metadata } = await loadModel(tf, join(root, 'model'))
  const rt = createRuntime(tf, model, metadata)
  const redis = new Redis(config.redisUrl)
  const prefix = `rows-${process.pid}`
  await new Promise(resolve => redis.once('ready', resolve))
  const pipeline = new RedisPipeline(() => targetOf(redis))
  const processor = createBatchProcessor({
    config,
    redis,
    pipeline,
    history: createHistoryWriter({ length: config.historyLength, everyMs: config.historyEveryMs, ttlS: config.historyTtlS }),
    metrics: createScorerMetrics(createRegistry('bench')),
    log: createLogger('bench', 'silent'),
    clock: Date.now,
    source: 'bench',
    produce: async () => {}
  })
  const startTs = Date.now() - 3_600_000
  const cars: Vehicle[] = Array.from({ length: shape.cars }, (_, i) => createVehicle({ vehicleId: `${prefix}-${i}`, seed: i, startTs }))
  let next = 0
  // Cars report in turn, as a fleet with evenly spread clocks does.
  const batch = (): TelemetryRecord[] => Array.from({ length: BATCH_ROWS }, () => {
    const car = cars[next]!
    next = (next + 1) % cars.length
    return { partition: 0, offset: '0', key: Buffer.from(car.vehicleId), value: Buffer.from(JSON.stringify(car.next(shape.intervalS))), timestamp: String(Date.now()) }
  })
  const redisPid = stackPid('redis')
  // Warm-up: every car seen once (its first write carries the whole hash), the JIT settled.
  const warm = Math.ceil(shape.cars / BATCH_ROWS) + 10
  for (let i = 0; i < warm; i++) await processor.process(rt, batch())
  // The measured batches are made first, so that the car model's work and garbage stay out.
  const batches = Array.from({ length: env('BATCHES', 80) }, batch)
  const n = batches.length
  let cpuUs = 0
  let redisS = 0
  const t0 = performance.now()
  for (const records of batches) {
    const r0 = cpuSecondsOr0(redisPid)
    const c0 = process.cpuUsage()
    await processor.process(rt, records)
    const c = process.cpuUsage(c0)
    redisS += cpuSecondsOr0(redisPid) - r0
    cpuUs += c.user + c.system
  }
  const wallMs = performance.now() - t0
  for (let i = 0; i < shape.cars; i += 1_000) {
    const ids = cars.slice(i, i + 1_000).map(c => c.vehicleId)
    await redis.del(...ids.flatMap(id => [`fleet:state:${id}`, `fleet:history:${id}`, `fleet:anomalies:${id}`]))
    await redis.zrem('fleet:scores', ...ids)
    await redis.srem('fleet:anomalous', ...ids)
  }
  pipeline.close()
  redis.disconnect()
  const rows = n * BATCH_ROWS
  process.stdout.write(JSON.stringify({ backend, scorerUsPerRow: round1(cpuUs / rows), redisUsPerRow: round1(redisS * 1e6 / rows), batchMs: round1(wallMs / n) }))
  process.exit(0)
}

const round1 = (x: number) => Math.round(x * 10) / 10

function main () {
  const sets = (process.env.NODE_ARGS_SETS ?? ';--max-semi-space-size=64').split(';').map(s => s.trim())
  const rounds = env('ROUNDS', 2)
  const runs: Array<{ shape: string, nodeArgs: string, round: number, backend: string, scorerUsPerRow: number, redisUsPerRow: number, batchMs: number }> = []
  for (let round = 1; round <= rounds; round++) {
    for (const shape of Object.keys(SHAPES)) {
      for (const nodeArgs of sets) {
        const r = spawnSync(process.execPath, [...nodeArgs.split(/\s+/).filter(a => a !== ''), '--import', 'tsx', fileURLToPath(import.meta.url), '--part', 'child', '--shape', shape], { encoding: 'utf8', env: process.env, maxBuffer: 1 << 20 })
        if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`)
        const res = JSON.parse(r.stdout)
        runs.push({ shape, nodeArgs, round, ...res })
        console.log(`${shape}, node ${nodeArgs || '(no flags)'}, round ${round}: scorer ${res.scorerUsPerRow} µs/row, Redis ${res.redisUsPerRow} µs/row, ${res.batchMs} ms per ${BATCH_ROWS}-row batch (${res.backend})`)
      }
    }
  }
  const out = process.env.OUT ?? join(root, 'results', 'bench-scorer-rows.json')
  mkdirSync(join(root, 'results'), { recursive: true })
  writeFileSync(out, JSON.stringify({
    bench: 'scorer-rows',
    when: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, loadAverage1mAtEnd: round1(loadavg()[0]!), note: 'CPU time of the scorer process (process.cpuUsage around each batch) and of redis-server (/proc), per row; the 2 cores may be shared with other work' },
    batchRows: BATCH_ROWS,
    path: 'parse + schema check, features, inference, scores, Redis writes (state hash, ranking, history); no Kafka',
    runs
  }, null, 2) + '\n')
  console.log(`→ ${out}`)
}

if (args.part === 'child') await child(args.shape!)
else main()
