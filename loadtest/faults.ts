// npm run faults — the fault matrix under load. Each scenario starts the system as real OS
// processes (broker processes, api, commander, scorers where needed) on a Kafka and Redis of its
// own (never the shared stack: ports 28192/28193/28379, below the ephemeral range, state in /tmp/fleet-faults-stack, Kafka
// in a network namespace when run as root), puts a simulated fleet on it (CARS cars, QoS 1 every
// INTERVAL_MS, persistent sessions, spread over the brokers), sends commands through the api,
// injects its fault and measures with independent evidence: acknowledged (car, seq) pairs not in
// vehicle.telemetry (lost) or there twice (duplicates), time until the acknowledged rate is back
// at ≥ 90 % of before, commands not acknowledged or received twice, what the cars saw. Results
// are merged by scenario into results/faults.json. Bounded in time; stops everything it started.
//   FAULTS=kafka-stop,redis-stop,broker-kill,broker-drain,brokers-rolling,broker-join,scorer-kill,commander-kill,kafka-slow,dlq-flood npm run faults
//   [CARS=2000 BROKERS=3 SIM_PROCS=2 INTERVAL_MS=1000 BROKER_SLOTS=1,0,1,2,… (which broker each car
//   starts on and moves to: loadtest/broker-slots.ts) OBSERVE_S=60 OUT=results/faults.json]
// `npm run faults -- --topology replicated` (or FAULTS_TOPOLOGY=replicated) runs the matrix of
// production's shape instead: three Kafka nodes (replication 3, min ISR 2), Redis with a replica
// and Sentinels, the services on Sentinel; results in results/faults-replicated.json.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { runDlqFlood, dlqFloodTitle } from './fault-dlq.js'
import { brokerSlotsOf } from './broker-slots.js'
import { runFaultScenario, type RunOptions } from './fault-harness.js'
import { scenarios } from './fault-scenarios.js'
import { createFaultStack, netnsAvailable, type FaultStack } from './fault-stack.js'
import { replicatedScenarios } from './fault-scenarios-replicated.js'
import { createReplicatedFaultStack, isReplicated } from './fault-stack-replicated.js'

// A load run on a development stack: its simulators provision their own credentials.
process.env.FLEET_DEV_MODE ??= '1'

const env = (k: string, d: number) => Number(process.env[k] ?? d)
const root = new URL('..', import.meta.url).pathname
const topologyArg = process.argv.indexOf('--topology')
const topology = topologyArg > 0 ? process.argv[topologyArg + 1] : (process.env.FAULTS_TOPOLOGY ?? 'single')
if (topology !== 'single' && topology !== 'replicated') throw new Error(`--topology: single or replicated, not "${topology}"`)
const replicated = topology === 'replicated'
const matrix = replicated ? replicatedScenarios : scenarios
const all = replicated ? matrix.map(s => s.name) : [...matrix.map(s => s.name), 'dlq-flood']
const picked = (process.env.FAULTS ?? 'all') === 'all' ? all : process.env.FAULTS!.split(',').map(s => s.trim()).filter(Boolean)
for (const p of picked) if (!all.includes(p)) throw new Error(`FAULTS: unknown scenario "${p}" (${all.join(', ')})`)
const out = process.env.OUT ?? (replicated ? 'results/faults-replicated.json' : 'results/faults.json')

const o: RunOptions = {
  cars: env('CARS', 2_000),
  simProcs: env('SIM_PROCS', 2),
  intervalMs: env('INTERVAL_MS', 1_000),
  rampPerS: env('RAMP_PER_S', 1_000),
  brokers: env('BROKERS', 3),
  warmS: env('WARM_S', 10),
  baselineS: env('BASELINE_S', 20),
  observeS: env('OBSERVE_S', 60),
  commandsPerS: env('COMMANDS_PER_S', 10),
  commandCars: env('COMMAND_CARS', 200),
  workDir: process.env.FAULTS_WORK_DIR ?? `${root}results/tmp/faults`,
  brokerSlots: brokerSlotsOf(process.env.BROKER_SLOTS, env('BROKERS', 3))
}
if (o.brokers < 2) throw new Error('BROKERS must be at least 2 (scenarios end broker 1)')

const netns = process.env.FAULTS_NETNS !== '0' && await netnsAvailable()
// FAULTS_REDIS_HOST (say 127.0.35.2) keeps Redis's ports clear of a busy machine's ephemeral
// source ports, which are taken on 127.0.0.1.
// Replicated: Kafka nodes on FAULTS_KAFKA_PORT + 0/10/20 (+1 their controllers), Redis master,
// replica and Sentinels on FAULTS_REDIS_PORT + 0…4.
const stack: FaultStack = replicated
  ? createReplicatedFaultStack({
    dir: process.env.FAULTS_STACK_DIR ?? '/tmp/fleet-faults-stack-replicated',
    kafkaPort: env('FAULTS_KAFKA_PORT', 28292),
    redisPort: env('FAULTS_REDIS_PORT', 28479),
    redisHost: process.env.FAULTS_REDIS_HOST ?? '127.0.0.1',
    netns
  })
  : createFaultStack({
    dir: process.env.FAULTS_STACK_DIR ?? '/tmp/fleet-faults-stack',
    kafkaPort: env('FAULTS_KAFKA_PORT', 28192),
    kafkaControllerPort: env('FAULTS_KAFKA_CONTROLLER_PORT', 28193),
    redisPort: env('FAULTS_REDIS_PORT', 28379),
    redisHost: process.env.FAULTS_REDIS_HOST ?? '127.0.0.1',
    netns
  })
// Every process started from here (brokers, services, simulators, our Kafka clients) uses it.
Object.assign(process.env, stack.serviceEnv)
if (!netns && picked.includes('kafka-partition')) console.warn('[faults] kafka-partition needs root and ip (Kafka node 3 in a network namespace): it will be reported as not run')
if (!netns && picked.includes('kafka-slow')) console.warn('[faults] kafka-slow needs root, ip and tc (a network namespace for Kafka): it will be reported as not run')

let downing: Promise<void> | null = null
const down = () => (downing ??= stack.down())
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    console.error(`[faults] ${sig}: stopping the fault stack`)
    void down().finally(() => process.exit(130))
  })
}

interface Stored { updated?: string, machine?: unknown, runs: Record<string, unknown> }
const load = (): Stored => { try { return JSON.parse(readFileSync(`${root}${out}`, 'utf8')) as Stored } catch { return { runs: {} } } }
const round2 = (x: number) => Math.round(x * 100) / 100

console.log(`[faults] ${topology} topology; scenarios: ${picked.join(', ')}; ${o.cars} cars over ${o.brokers} brokers; Kafka at ${stack.serviceEnv.FLEET_KAFKA_BROKERS}${netns ? ' (network namespace)' : ''}, Redis at ${stack.serviceEnv.FLEET_REDIS_URL}`)
mkdirSync(o.workDir, { recursive: true })
let failed = 0
try {
  await stack.up()
  for (const name of picked) {
    const loadBefore = loadavg().map(round2)
    const when = new Date().toISOString()
    let result: unknown
    try {
      if (name === 'dlq-flood') {
        result = await runDlqFlood(stack, o)
      } else if (name === 'kafka-slow' && !netns) {
        result = { scenario: name, notRun: 'needs root, ip and tc: Kafka runs in a network namespace whose link tc throttles' }
      } else if (name === 'kafka-partition' && !netns) {
        result = { scenario: name, notRun: 'needs root and ip: Kafka node 3 runs in a network namespace whose link is cut' }
      } else {
        result = await runFaultScenario(matrix.find(s => s.name === name)!, stack, o)
      }
    } catch (err) {
      failed++
      console.error(`[faults] ${name} failed: ${(err as Error).stack ?? String(err)}`)
      result = { scenario: name, title: name === 'dlq-flood' ? dlqFloodTitle : matrix.find(s => s.name === name)?.title, error: (err as Error).message }
      // A failed scenario may have left Kafka or Redis stopped or throttled: put them back.
      await stack.unthrottleKafka().catch(() => {})
      if (isReplicated(stack)) await stack.healNode3().catch(() => {})
      await stack.startKafka().catch(() => {})
      await stack.startRedis().catch(() => {})
    }
    const stored = load()
    stored.updated = new Date().toISOString()
    stored.machine = { cpus: cpus().length, model: cpus()[0]?.model }
    stored.runs[name] = { when, loadavgBefore: loadBefore, loadavgAfter: loadavg().map(round2), params: { ...o, workDir: undefined, netns }, command: `FAULTS=${name} npm run faults${replicated ? ' -- --topology replicated' : ''}`, ...(result as object) }
    mkdirSync(`${root}results`, { recursive: true })
    writeFileSync(`${root}${out}`, JSON.stringify(stored, null, 2) + '\n')
    console.log(`[faults] ${name}: ${summary(result)}`)
  }
} finally {
  await down()
}
process.exit(failed > 0 ? 1 : 0)

function summary (r: unknown): string {
  const x = r as Record<string, any>
  if (x.error !== undefined) return `FAILED: ${x.error}`
  if (x.notRun !== undefined) return `not run: ${x.notRun}`
  if (x.phases !== undefined) {
    return x.phases.map((p: any) => `${p.phase}: ${p.validAckedPerS} valid msg/s, PUBACK p50 ${p.pubackMs.p50} / p99 ${p.pubackMs.p99} ms, lost ${p.telemetry.ackedLost}, dup ${p.telemetry.duplicates}, DLQ ${p.dlqRecords} of ${p.invalidAcked} invalid acked`).join('; ') +
      `; flood/clean: rate ×${x.floodVsClean.validAckedPerS}, p99 ×${x.floodVsClean.pubackP99}`
  }
  const c = x.commands
  return `acked ${x.telemetry.acked}, lost ${x.telemetry.ackedLost}, duplicates ${x.telemetry.duplicates} (${x.telemetry.duplicatesResentByCars} resent by cars, ${x.telemetry.duplicatesWrittenTwice} written twice); baseline ${x.throughput.baselineAckedPerS} msg/s, lowest ${x.throughput.lowestAckedPerS}, recovered in ${x.throughput.recoverS} s; commands ${c.accepted} accepted (${c.acceptedSlow} as 202, ${c.slowThenFailed} of those then failed; ${c.refused} refused; api answer p99 ${c.answerMs.p99} ms, max ${c.answerMs.max} ms), ${c.lost} not acknowledged, ${c.receivedTwice} received twice; cars: ${x.cars.disconnects} disconnects, ${x.cars.reconnects} reconnects, PUBACK p99 ${x.cars.pubackMsBefore.p99} → ${x.cars.pubackMsDuringFault.p99} ms` +
    (x.scoring !== undefined ? `; unscored ${x.scoring.unscored} of ${x.scoring.telemetryRecords}, rescored ${x.scoring.scoredMoreThanOnce}` : '')
}
