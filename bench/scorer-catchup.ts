// bench:scorer-catchup — how fast one scorer process works off a backlog on a machine whose CPU
// is taken by other work, as in the soak (brokers, Kafka, Redis and the load generator all busy):
// RECORDS telemetry records of CARS cars (the soak's shape: 100,000 cars, a few messages each) are
// put in vehicle.telemetry ahead of a new consumer group, BUSY busy-loop processes at CPU priority
// 0 stand in for the other work, and a scorer process (its own defaults, plus each variant's
// environment) scores them. Per run: rows/s from start to caught up, the scorer's and Redis' CPU,
// and the scorer's time inside batches by phase (fleet_scorer_batch_phase_seconds_total).
// Variants run in turn each round, so that a change is measured on vs off in one sitting.
// Prints and writes results/bench-scorer-catchup.json. Needs the stack (scripts/stack.sh up).
//   RECORDS=300000 CARS=100000 BUSY=4 ROUNDS=2 VARIANTS='parts:FLEET_SCORER_OVERLAP_ROWS=2048;whole:FLEET_SCORER_OVERLAP_ROWS=0' npm run bench:scorer-catchup
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { cpus, loadavg } from 'node:os'
import { randomUUID } from 'node:crypto'
import { metricValue } from '../test/helpers/broker-process.js'
import { produceTelemetryBacklog } from '../test/helpers/kafka.js'
import { groupAtEnd } from '../test/helpers/scorer.js'
import { startServiceProcess } from '../test/helpers/service-process.js'
import { envNumber, parseVariant } from './load-shape.js'
import { cpuSeconds, cpuSecondsOr0, stackPid } from './proc-stats.js'

process.env.FLEET_DEV_MODE ??= '1'
process.env.FLEET_KAFKA_BROKERS ??= '127.0.0.1:19092'
process.env.FLEET_REDIS_URL ??= 'redis://127.0.0.1:16379'
const records = envNumber('RECORDS', 300_000)
const cars = envNumber('CARS', 100_000)
const busy = envNumber('BUSY', 4)
const rounds = envNumber('ROUNDS', 2)
const timeoutS = envNumber('TIMEOUT_S', 600)
const variants = (process.env.VARIANTS ?? 'parts:FLEET_SCORER_OVERLAP_ROWS=2048;whole:FLEET_SCORER_OVERLAP_ROWS=0').split(';').filter(v => v.trim() !== '').map(parseVariant)
if (variants.some(v => v.root !== undefined)) throw new Error('VARIANTS: this bench runs this checkout\'s scorer (name:FLEET_X=1, no @checkout)')
const root = new URL('..', import.meta.url).pathname
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
const round2 = (n: number) => Math.round(n * 100) / 100

function startBusy (): ChildProcess[] {
  return Array.from({ length: busy }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }))
}

interface Run { variant: string, round: number, rows: number, seconds: number, rowsPerS: number, scorerCores: number, scorerUsPerRow: number, redisCores: number, redisUsPerRow: number, batches: number, phaseSeconds: Record<string, number>, shareWriting: number, machineLoad1: number }

async function measure (variant: typeof variants[number], round: number): Promise<Run> {
  const prefix = `catchup-${variant.name}-${round}-${randomUUID().slice(0, 6)}`
  const groupId = `${prefix}-scorer`
  await groupAtEnd(groupId)
  // one message per car per 10 s of car time, as the soak's cars send
  await produceTelemetryBacklog({ count: records, cars, idPrefix: prefix, intervalMs: 10_000, seed: 25 })
  const hogs = startBusy()
  const redisPid = stackPid('redis')
  try {
    await sleep(1_000)
    const r0 = cpuSecondsOr0(redisPid)
    const t0 = performance.now()
    const sc = await startServiceProcess('scorer', { name: `scorer-${variant.name}`, env: { FLEET_SCORER_GROUP_ID: groupId, FLEET_SCORER_WATCH_MODEL: 'false', ...variant.env } })
    try {
      let text = ''
      for (;;) {
        text = await sc.metrics().catch(() => '')
        if (metricValue(text, 'fleet_scorer_rows_scored_total') >= records) break
        if (performance.now() - t0 > timeoutS * 1_000) throw new Error(`${variant.name}: ${metricValue(text, 'fleet_scorer_rows_scored_total')} of ${records} rows after ${timeoutS} s`)
        await sleep(250)
      }
      const seconds = (performance.now() - t0) / 1_000
      const scorerCpu = cpuSeconds(sc.child.pid!)
      const redisCpu = cpuSecondsOr0(redisPid) - r0
      const rows = metricValue(text, 'fleet_scorer_rows_scored_total')
      const phaseSeconds = Object.fromEntries(['prepare', 'score', 'write'].map(p => [p, round2(metricValue(text, 'fleet_scorer_batch_phase_seconds_total', `phase="${p}"`))]))
      const inBatches = Object.values(phaseSeconds).reduce((a, b) => a + b, 0)
      return {
        variant: variant.name,
        round,
        rows,
        seconds: round2(seconds),
        rowsPerS: Math.round(rows / seconds),
        scorerCores: round2(scorerCpu / seconds),
        scorerUsPerRow: round2(scorerCpu / rows * 1e6),
        redisCores: round2(redisCpu / seconds),
        redisUsPerRow: round2(redisCpu / rows * 1e6),
        batches: metricValue(text, 'fleet_scorer_batch_seconds_count'),
        phaseSeconds,
        shareWriting: round2(phaseSeconds.write! / inBatches),
        machineLoad1: round2(loadavg()[0]!)
      }
    } finally {
      await sc.kill('SIGTERM')
    }
  } finally {
    for (const h of hogs) h.kill('SIGKILL')
  }
}

const runs: Run[] = []
for (let round = 1; round <= rounds; round++) {
  // the variants' order turns by one each round
  const order = variants.map((_, i) => variants[(i + round - 1) % variants.length]!)
  for (const v of order) {
    const r = await measure(v, round)
    runs.push(r)
    console.log(`[round ${round}/${rounds}] ${r.variant}: ${r.rows} rows in ${r.seconds} s = ${r.rowsPerS} rows/s; scorer ${r.scorerCores} cores (${r.scorerUsPerRow} µs/row), Redis ${r.redisCores} cores (${r.redisUsPerRow} µs/row); ${r.batches} batches, phases ${JSON.stringify(r.phaseSeconds)} (writing ${Math.round(r.shareWriting * 100)} %); load ${r.machineLoad1}`)
  }
}
for (const v of variants) {
  const mine = runs.filter(r => r.variant === v.name).map(r => r.rowsPerS).sort((a, b) => a - b)
  console.log(`${v.name}: rows/s ${mine.join(' / ')}`)
}
const out = process.env.OUT ?? 'results/bench-scorer-catchup.json'
mkdirSync(dirname(`${root}${out}`), { recursive: true })
writeFileSync(`${root}${out}`, JSON.stringify({ bench: 'scorer-catchup', when: new Date().toISOString(), machine: { cpus: cpus().length, model: cpus()[0]?.model }, params: { records, cars, busy, rounds, variants }, runs }, null, 2) + '\n')
console.log(`→ ${out}`)
process.exit(0)
