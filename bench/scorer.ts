// bench:scorer — (1) rows/s of scoring alone, without Kafka or Redis, per backend (one child
// process each: tfjs keeps one engine per process): inference alone per batch size; scoring
// (per-car features, inference, score and anomaly records) in 4,096-row micro-batches; the JSON
// parse and schema check before it; and both; (2) end to end against the stack: a producer process sends
// RATE msg/s of simulated telemetry (CARS cars, one of them failing) to vehicle.telemetry for
// DURATION_S; a scorer process (FLEET_SCORER_BACKEND, default auto) scores it.
// Latency = the scorer's scoredAt (vehicle.scores), or the anomaly's arrival on vehicle.anomalies,
// minus the message's car clock, stamped just before the producer sent it (same machine clock).
// Prints and writes results/bench-scorer.json. Needs the stack (scripts/stack.sh up).
//   RATE=10000 CARS=10000 DURATION_S=20 [E2E_ONLY=1] [OUT=results/x.json] npm run bench:scorer
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { Tensor } from '@tensorflow/tfjs'
import { Redis } from 'ioredis'
import { KafkaTopics } from '../services/shared/src/topics.js'
import { ANOMALOUS_KEY, SCORES_KEY, vehicleAnomaliesKey, vehicleStateKey } from '../services/shared/src/vehicle-state.js'
import { createVehicle, type Vehicle } from '../services/shared/src/vehicle-model.js'
import { rowScores, standardise } from '../services/scorer/src/autoencoder.js'
import { createRuntime, parseRecords, scoreRows, type TelemetryRecord } from '../services/scorer/src/batch-scoring.js'
import { simulateDrive } from '../services/scorer/src/drive-data.js'
import { loadModel } from '../services/scorer/src/model-files.js'
import { defaultTfjsNodeDir, loadTf, type BackendChoice } from '../services/scorer/src/tf-backend.js'
import { collect, testKafka } from '../test/helpers/kafka.js'
import { groupAtEnd, startTestScorer } from '../test/helpers/scorer.js'
import { cpuSeconds } from './proc-stats.js'

const root = new URL('..', import.meta.url).pathname
const modelDir = join(root, 'model')
const env = (k: string, d: number) => Number(process.env[k] ?? d)
const { values: args } = parseArgs({ options: { part: { type: 'string', default: 'main' }, backend: { type: 'string', default: 'wasm' }, prefix: { type: 'string', default: 'bench' }, group: { type: 'string', default: '' } } })
const q = (xs: number[], p: number) => {
  if (xs.length === 0) return null
  const s = [...xs].sort((a, b) => a - b)
  return Math.round(s[Math.min(s.length - 1, Math.floor(p * s.length))]! * 10) / 10
}

/** Child: rows/s of scoring alone on one backend; prints JSON. */
async function scoringAlone (backend: BackendChoice) {
  const { tf, backend: got } = await loadTf(backend)
  const { model, metadata } = await loadModel(tf, modelDir)
  const width = metadata.featureSet.features.length
  const drive = simulateDrive({ vehicleId: 'b', seed: 1, durationS: 16_384, intervalS: 1 }, metadata.featureSet)
  const pool = standardise(drive.features, width, metadata.normalisation)
  const inference: Record<string, number> = {}
  for (const batch of [256, 1_024, 4_096, 16_384]) {
    const x = pool.subarray(0, batch * width)
    const once = () => {
      const out = tf.tidy(() => model.predict(tf.tensor2d(x, [batch, width]), { batchSize: batch }) as Tensor)
      const recon = out.dataSync()
      out.dispose()
      rowScores(x, recon as Float32Array, width, metadata.errorScale, metadata.scoreTopK)
    }
    for (let i = 0; i < 3; i++) once()
    const runs: number[] = []
    for (let r = 0; r < 5; r++) {
      let n = 0
      const t0 = performance.now()
      while (performance.now() - t0 < 300) { once(); n += batch }
      runs.push(n / ((performance.now() - t0) / 1_000))
    }
    inference[batch] = Math.round(q(runs, 0.5)!)
  }
  // The whole path per message: 4,096 cars × 8 messages, scored in 4,096-row micro-batches.
  const cars = Array.from({ length: 4_096 }, (_, i) => createVehicle({ vehicleId: `b-${i}`, seed: i, startTs: 1_760_000_000_000 }))
  const batches: TelemetryRecord[][] = []
  for (let k = 0; k < 8; k++) batches.push(cars.map(c => ({ partition: 0, offset: '0', key: Buffer.from(c.vehicleId), value: Buffer.from(JSON.stringify(c.next(1))), timestamp: '0' })))
  const full: number[] = []
  const parseOnly: number[] = []
  const scoreOnly: number[] = []
  for (let pass = 0; pass < 5; pass++) {
    const rt = createRuntime(tf, model, metadata)
    let rows = 0
    let parseMs = 0
    let scoreMs = 0
    for (const b of batches) {
      const t0 = performance.now()
      const parsed = parseRecords(b, 65_536, 'bench').rows
      const t1 = performance.now()
      rows += scoreRows(rt, parsed, 8_192).scored.length
      parseMs += t1 - t0
      scoreMs += performance.now() - t1
    }
    if (pass === 0) continue
    full.push(rows / ((parseMs + scoreMs) / 1_000))
    parseOnly.push(rows / (parseMs / 1_000))
    scoreOnly.push(rows / (scoreMs / 1_000))
  }
  process.stdout.write(JSON.stringify({
    backend: got,
    inferenceRowsPerS: inference,
    scoringRowsPerS: Math.round(q(scoreOnly, 0.5)!),
    parseAndValidateRowsPerS: Math.round(q(parseOnly, 0.5)!),
    fullPathRowsPerS: Math.round(q(full, 0.5)!)
  }))
}

/** Child: sends RATE msg/s for DURATION_S from CARS simulated cars (car 0 failing); prints the count. */
async function produce (prefix: string) {
  const rate = env('RATE', 10_000)
  const carsN = env('CARS', 10_000)
  const durationS = env('DURATION_S', 20)
  const cars: Vehicle[] = Array.from({ length: carsN }, (_, i) => createVehicle({
    vehicleId: `${prefix}-${i}`,
    seed: 90_000 + i,
    failure: i === 0 ? { mode: 'battery_degradation', onsetS: 0, developS: 60 } : null
  }))
  // The failing car is already well into its failure when the bench starts.
  for (let s = 0; s < 900; s++) cars[0]!.next(1)
  const producer = testKafka().producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const tickMs = 10
  const perTick = rate * tickMs / 1_000
  const start = Date.now()
  const cpuStart = process.cpuUsage()
  let sent = 0
  let next = 0
  const inflight: Array<Promise<unknown>> = []
  while (Date.now() - start < durationS * 1_000) {
    const due = Math.floor((Date.now() - start) / tickMs + 1) * perTick
    const messages = []
    while (sent + messages.length < due) {
      const car = cars[next]!
      next = (next + 1) % cars.length
      messages.push({ key: car.vehicleId, value: JSON.stringify(car.next(carsN / rate, Date.now())) })
    }
    if (messages.length > 0) {
      inflight.push(producer.send({ topic: KafkaTopics.telemetry, messages, acks: -1 }))
      sent += messages.length
      if (inflight.length > 50) await inflight.shift()
    }
    await new Promise(resolve => setTimeout(resolve, Math.max(0, start + Math.floor((Date.now() - start) / tickMs + 1) * tickMs - Date.now())))
  }
  await Promise.all(inflight)
  const seconds = (Date.now() - start) / 1_000
  const cpu = process.cpuUsage(cpuStart)
  await producer.disconnect()
  process.stdout.write(JSON.stringify({ sent, seconds, cores: (cpu.user + cpu.system) / 1e6 / seconds }))
}

// CPU_PROF=dir: the scorer and producer children write V8 CPU profiles to dir/scorer and dir/produce
// (node --cpu-prof; one file per thread, the largest is the main thread).
const profileDir = process.env.CPU_PROF
// SCORER_NODE_ARGS: node flags for the scorer child (default none, as the chart and the soak run it).
const scorerNodeArgs = (process.env.SCORER_NODE_ARGS ?? '').split(/\s+/).filter(a => a !== '')
function child (part: string, extra: string[] = [], extraEnv: Record<string, string> = {}) {
  const prof = profileDir !== undefined && (part === 'scorer' || part === 'produce') ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}/${part}`] : []
  const nodeArgs = part === 'scorer' ? scorerNodeArgs : []
  return [process.execPath, [...prof, ...nodeArgs, '--import', 'tsx', fileURLToPath(import.meta.url), '--part', part, ...extra], { env: { ...process.env, ...extraEnv }, encoding: 'utf8' as const, maxBuffer: 16 << 20 }] as const
}

async function main () {
  const backends = ['wasm', ...(existsSync(join(defaultTfjsNodeDir(), '.built')) ? ['tensorflow'] : [])]
  const alone: unknown[] = []
  for (const backend of process.env.E2E_ONLY === '1' ? [] : backends) {
    const [cmd, argv, opts] = child('scoring', ['--backend', backend])
    const r = spawnSync(cmd, argv, opts)
    if (r.status !== 0) throw new Error(`scoring on ${backend} failed: ${r.stderr}`)
    const res = JSON.parse(r.stdout)
    alone.push(res)
    console.log(`scoring alone, ${res.backend}: inference rows/s by batch ${JSON.stringify(res.inferenceRowsPerS)}; scoring (features, inference, score and anomaly records) ${res.scoringRowsPerS} rows/s; JSON parse + schema check ${res.parseAndValidateRowsPerS} rows/s; both ${res.fullPathRowsPerS} rows/s`)
  }

  const rate = env('RATE', 10_000)
  const prefix = `bench-${Date.now().toString(36)}`
  const group = `fleet-bench-scorer-${prefix}`
  await groupAtEnd(group)
  // The scorer runs in a process of its own, as in a pod; this one only produces and measures.
  const [scmd, sargv] = child('scorer', ['--group', group])
  const publishScores = process.env.FLEET_SCORER_PUBLISH_SCORES ?? 'false'
  // stdin stays open while this process lives: the scorer exits when it closes, so a crashed
  // bench leaves no scorer behind.
  const scorer = spawn(scmd, sargv, { env: process.env, stdio: ['pipe', 'pipe', 'inherit'] })
  process.once('exit', () => scorer.kill('SIGKILL'))
  const info = await new Promise<{ opsPort: number, backend: string, modelVersion: string }>((resolve, reject) => {
    // Its stdout carries its logs too; the info line is marked.
    let buf = ''
    scorer.stdout.on('data', d => {
      buf += d
      let nl
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        if (line.startsWith('SCORER ')) resolve(JSON.parse(line.slice(7)))
        else process.stderr.write(line + '\n')
      }
    })
    scorer.on('exit', code => reject(new Error(`scorer exited with ${code}`)))
  })
  const anomalyLat: number[] = []
  // Arrival times on vehicle.anomalies, in the collector's order (keep() runs as each arrives).
  const arrivals: number[] = []
  const anomalies = await collect(KafkaTopics.anomalies, key => {
    if (!key.startsWith(prefix)) return false
    arrivals.push(Date.now())
    return true
  })
  const scrape = async () => {
    const text = await (await fetch(`http://127.0.0.1:${info.opsPort}/metrics`)).text()
    return (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN)
  }
  const load0 = loadavg()[0]!
  const stackDir = process.env.FLEET_STACK_DIR ?? join(root, '.stack')
  const parties = { scorer: scorer.pid!, kafka: pidOf(join(stackDir, 'kafka', 'pid')), redis: pidOf(join(stackDir, 'redis', 'pid')) }
  const cpu0 = cpuOf(parties)
  const self0 = process.cpuUsage()
  const machine0 = machineCpu()
  const t0 = Date.now()
  const [cmd, argv, opts] = child('produce', ['--prefix', prefix])
  const producer = spawn(cmd, argv, { env: opts.env, stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  producer.stdout.on('data', d => { out += d })
  const producerDone = new Promise(resolve => producer.on('exit', resolve))
  // Ten thousand cars new to the scorer at once make a start-up burst: the steady state is
  // measured from WARMUP_S on, as the difference of two scrapes of the histogram.
  const warmupS = env('WARMUP_S', 5)
  await new Promise(resolve => setTimeout(resolve, warmupS * 1_000))
  const atWarm = ageBuckets(await (await fetch(`http://127.0.0.1:${info.opsPort}/metrics`)).text())
  // The scorer's CPU per row in the steady state: from the warm-up on, when every car is known.
  const cpuWarm = cpuOf(parties)
  const rowsWarm = (await scrape())('fleet_scorer_rows_scored_total')
  const anomaliesAtWarm = anomalies.records.length
  await producerDone
  const { sent, seconds, cores: producerCores } = JSON.parse(out) as { sent: number, seconds: number, cores: number }
  for (const deadline = Date.now() + 120_000; (await scrape())('fleet_scorer_rows_scored_total') < sent;) {
    if (Date.now() > deadline) throw new Error('the scorer did not score everything within 120 s')
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  // CPU of each party over the run (producer start to everything scored), in cores.
  const wallS = (Date.now() - t0) / 1_000
  const cpu1 = cpuOf(parties)
  const self1 = process.cpuUsage(self0)
  const machine1 = machineCpu()
  const round2 = (x: number) => Math.round(x * 100) / 100
  const cores = {
    scorer: round2((cpu1.scorer - cpu0.scorer) / wallS),
    producer: round2(producerCores),
    kafka: round2((cpu1.kafka - cpu0.kafka) / wallS),
    redis: round2((cpu1.redis - cpu0.redis) / wallS),
    benchConsumer: round2((self1.user + self1.system) / 1e6 / wallS),
    machineBusy: round2((machine1.busy - machine0.busy) / wallS),
    machineTotal: cpus().length
  }
  const scorerCores = cores.scorer
  const rowsEnd = (await scrape())('fleet_scorer_rows_scored_total')
  const usPerRow = (party: keyof typeof parties) => Math.round((cpu1[party] - cpuWarm[party]) * 1e6 / (rowsEnd - rowsWarm) * 10) / 10
  const steadyCpuUsPerRow = {
    scorer: usPerRow('scorer'),
    kafka: usPerRow('kafka'),
    redis: usPerRow('redis'),
    rows: rowsEnd - rowsWarm,
    note: `CPU µs per row scored from WARMUP_S (${warmupS} s) to the end, when the cars are known to the scorer (Kafka's share includes the producer's and the bench consumer's work)`
  }
  await new Promise(resolve => setTimeout(resolve, 1_000))
  anomalies.records.forEach((r, i) => anomalyLat.push(arrivals[i]! - (JSON.parse(r.value.toString()) as { ts: number }).ts))
  const metricsText = await (await fetch(`http://127.0.0.1:${info.opsPort}/metrics`)).text()
  const metric = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(metricsText)?.[1] ?? NaN)
  const all = ageBuckets(metricsText)
  const steady = all.map((b, i) => ({ le: b.le, n: b.n - (atWarm[i]?.n ?? 0) }))
  const latency = (buckets: typeof all) => ({ p50: ageQuantile(buckets, 0.5), p95: ageQuantile(buckets, 0.95), p99: ageQuantile(buckets, 0.99), p999: ageQuantile(buckets, 0.999), messages: buckets.at(-1)?.n ?? 0 })
  const steadyAnomalyLat = anomalyLat.slice(anomaliesAtWarm)
  const e2e = {
    backend: info.backend,
    rateTarget: rate,
    cars: env('CARS', 10_000),
    sent,
    sentPerS: Math.round(sent / seconds),
    scored: metric('fleet_scorer_rows_scored_total'),
    anomalies: anomalies.records.length,
    anomaliesOnlyFromTheFailingCar: anomalies.records.every(r => r.key === `${prefix}-0`),
    produceToResultsWrittenMs: { steadyState: latency(steady), wholeRunWithStartup: latency(all) },
    produceToAnomalyOnKafkaMs: { steadyState: { p50: q(steadyAnomalyLat, 0.5), p99: q(steadyAnomalyLat, 0.99), anomalies: steadyAnomalyLat.length }, wholeRunWithStartup: { p50: q(anomalyLat, 0.5), p99: q(anomalyLat, 0.99) } },
    warmupS,
    meanBatchRows: Math.round(metric('fleet_scorer_batch_rows_sum') / metric('fleet_scorer_batch_rows_count')),
    meanInferenceMs: Math.round(metric('fleet_scorer_inference_seconds_sum') / metric('fleet_scorer_inference_seconds_count') * 10_000) / 10,
    meanBatchMs: Math.round(metric('fleet_scorer_batch_seconds_sum') / metric('fleet_scorer_batch_seconds_count') * 10_000) / 10,
    scorerProcessCores: Math.round(scorerCores * 100) / 100,
    steadyCpuUsPerRow,
    coresByParty: { ...cores, otherWork: round2(cores.machineBusy - cores.scorer - cores.producer - cores.kafka - cores.redis - cores.benchConsumer) },
    loadAverage1m: { atStart: Math.round(load0 * 100) / 100, atEnd: Math.round(loadavg()[0]! * 100) / 100 }
  }
  console.log(`end to end at ${e2e.sentPerS} msg/s from ${e2e.cars} cars (scorer process on ${e2e.backend}): after ${warmupS} s of start-up: produce→results written p50 ${e2e.produceToResultsWrittenMs.steadyState.p50} ms, p95 ${e2e.produceToResultsWrittenMs.steadyState.p95} ms, p99 ${e2e.produceToResultsWrittenMs.steadyState.p99} ms (whole run p99 ${e2e.produceToResultsWrittenMs.wholeRunWithStartup.p99} ms); produce→anomaly on Kafka p50 ${e2e.produceToAnomalyOnKafkaMs.steadyState.p50} ms, p99 ${e2e.produceToAnomalyOnKafkaMs.steadyState.p99} ms (${e2e.anomalies} anomalies, only from the failing car: ${e2e.anomaliesOnlyFromTheFailingCar}); mean batch ${e2e.meanBatchRows} rows in ${e2e.meanBatchMs} ms (inference ${e2e.meanInferenceMs} ms); cores: scorer ${cores.scorer}, producer ${cores.producer}, kafka ${cores.kafka}, redis ${cores.redis}, bench consumer ${cores.benchConsumer}, other ${e2e.coresByParty.otherWork} (machine ${cores.machineBusy} of ${cores.machineTotal}); steady state CPU per row: scorer ${steadyCpuUsPerRow.scorer} µs, Kafka ${steadyCpuUsPerRow.kafka} µs, Redis ${steadyCpuUsPerRow.redis} µs; machine load ${e2e.loadAverage1m.atStart} → ${e2e.loadAverage1m.atEnd}`)
  await anomalies.stop()
  const exited = new Promise(resolve => scorer.on('exit', resolve))
  scorer.kill('SIGTERM')
  const timer = setTimeout(() => scorer.kill('SIGKILL'), 15_000)
  await exited
  clearTimeout(timer)
  await removeCarState(prefix, env('CARS', 10_000))
  mkdirSync(join(root, 'results'), { recursive: true })
  const outFile = process.env.OUT ?? join(root, 'results', 'bench-scorer.json')
  writeFileSync(outFile, JSON.stringify({
    bench: 'scorer',
    when: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, loadAverage1mAtEnd: Math.round(loadavg()[0]! * 100) / 100, note: 'the 2 cores are shared with Kafka, the producer, the measuring consumers and other work' },
    model: info.modelVersion,
    scoringAlone: alone,
    endToEnd: { ...e2e, producer: 'a separate process (kafkajs, acks=all, 10 ms ticks), straight to vehicle.telemetry', scorer: `a separate process (createScorer; vehicle.scores ${publishScores === 'true' ? 'on' : 'off, the default'})`, latency: 'produceToResultsWritten: from the Kafka record timestamp (set by the producer at send) to the batch\'s Redis and Kafka writes acknowledged, from the scorer\'s fleet_scorer_record_age_seconds histogram (interpolated within buckets); produceToAnomalyOnKafka: from the car clock stamped just before sending to the anomaly\'s arrival at a consumer, exact' }
  }, null, 2) + '\n')
  console.log(`→ ${outFile}`)
  process.exit(0)
}

const pidOf = (file: string) => existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) : NaN

/**
 * Removes what the scorer wrote to Redis for the bench's cars (their state hashes, anomaly lists,
 * ranking and anomalous-set entries): each run's cars are new ones, and left behind they would
 * swell the ranking and the keyspace that later runs and the api walk.
 */
async function removeCarState (prefix: string, cars: number): Promise<void> {
  const redis = new Redis(process.env.FLEET_REDIS_URL ?? 'redis://127.0.0.1:16379', { maxRetriesPerRequest: 2 })
  try {
    for (let i = 0; i < cars; i += 1_000) {
      const ids = Array.from({ length: Math.min(1_000, cars - i) }, (_, k) => `${prefix}-${i + k}`)
      await redis.pipeline()
        .del(...ids.map(vehicleStateKey), ...ids.map(vehicleAnomaliesKey))
        .zrem(SCORES_KEY, ...ids)
        .srem(ANOMALOUS_KEY, ...ids)
        .exec()
    }
  } finally {
    redis.disconnect()
  }
}

/** CPU seconds of each process so far (NaN for one that is not there). */
function cpuOf<K extends string> (pids: Record<K, number>): Record<K, number> {
  const out = {} as Record<K, number>
  for (const k of Object.keys(pids) as K[]) {
    try { out[k] = cpuSeconds(pids[k]) } catch { out[k] = NaN }
  }
  return out
}

/** Busy CPU seconds of the whole machine (all cores) from /proc/stat. */
function machineCpu (): { busy: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal ...
  const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!
  return { busy: busy / 100 }
}

type Buckets = Array<{ le: number, n: number }>

/** The scorer's record-age histogram (cumulative buckets) from a /metrics page. */
function ageBuckets (text: string): Buckets {
  return [...text.matchAll(/^fleet_scorer_record_age_seconds_bucket\{le="([^"]+)"[^}]*\} (\S+)$/gm)].map(m => ({ le: m[1] === '+Inf' ? Infinity : Number(m[1]), n: Number(m[2]) }))
}

/** A quantile (ms) of cumulative buckets, interpolated within its bucket. */
function ageQuantile (buckets: Buckets, p: number): number | null {
  const want = p * (buckets.at(-1)?.n ?? 0)
  let prevLe = 0
  let prevN = 0
  for (const b of buckets) {
    if (b.n >= want && b.n > 0) return b.le === Infinity ? null : Math.round((prevLe + (b.le - prevLe) * (want - prevN) / Math.max(1, b.n - prevN)) * 1_000)
    prevLe = b.le
    prevN = b.n
  }
  return null
}

/** Child: one scorer in its own consumer group; prints its ops port once running, stops on SIGTERM. */
async function runScorer (groupId: string) {
  const ts = await startTestScorer({ FLEET_SCORER_GROUP_ID: groupId, FLEET_SCORER_BACKEND: process.env.FLEET_SCORER_BACKEND ?? 'auto', FLEET_LOG_LEVEL: process.env.FLEET_LOG_LEVEL ?? 'warn', FLEET_SCORER_PUBLISH_SCORES: process.env.FLEET_SCORER_PUBLISH_SCORES ?? 'false' })
  process.stdout.write('SCORER ' + JSON.stringify({ opsPort: ts.opsPort, backend: ts.scorer.backend, modelVersion: ts.scorer.modelVersion }) + '\n')
  const stop = () => { ts.stop().then(() => process.exit(0), () => process.exit(1)) }
  process.once('SIGTERM', stop)
  process.stdin.on('end', stop)
  process.stdin.resume()
}

if (args.part === 'scoring') await scoringAlone(args.backend as BackendChoice)
else if (args.part === 'scorer') await runScorer(args.group!)
else if (args.part === 'produce') await produce(args.prefix!)
else await main()
