// soak — the whole workload on this machine: as many broker processes as the fleet needs (one
// process may hold at most 20,000 open files here), a scorer, the commander and the api, all as
// their own OS processes on the local stack (real Kafka and Redis), and a simulated fleet (Node
// simulator processes) ramped to CARS cars that each publish QoS 1 telemetry every INTERVAL_MS and
// answer commands. It holds for HOLD_S while operators send commands through the api to a sample
// of cars every COMMAND_EVERY_S. Every SAMPLE_S it records connected cars, acknowledged msg/s,
// PUBACK p50/p99, publish→score (the car's clock to the scorer's write, sampled from Redis),
// command round trips (POST → acknowledged), the scorer's consumer lag, and CPU and RSS per
// process; at the end it prints a summary, writes results/soak.json and a chart of the run over
// time (docs/images/soak.svg). Bounded in time; stops everything it started.
//   CARS=100000 INTERVAL_MS=10000 HOLD_S=600 [SIM_CLIENT=lean|mqttjs|go] [SIM_NICE=0..19] [SCORERS=1] [SCORER_NICE=-20..0]
//   [BROKER_CPU_PROF=dir] [BROKER_NODE_ARGS='--trace-gc'] [BROKER_LOG_DIR=dir] npm run soak
import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, setPriority } from 'node:os'
import { Redis } from 'ioredis'
import { writeChart } from '../bench/chart.js'
import { envNumber, loadShape } from '../bench/load-shape.js'
import { cpuSecondsOr0, rssBytes, stackPid } from '../bench/proc-stats.js'
import { vehicleStateKey } from '../services/shared/src/vehicle-state.js'
import { metricValue, startBrokerProcesses, type BrokerProcess } from '../test/helpers/broker-process.js'
import { groupAtEnd } from '../test/helpers/scorer.js'
import { startServiceProcess } from '../test/helpers/service-process.js'
import { goGenerator, pct, simClientOf, startSimulators } from './sim-procs.js'

// A load run on a development stack: its simulators provision their own credentials.
process.env.FLEET_DEV_MODE ??= '1'

const { cars, intervalMs, holdS, rampPerS } = loadShape({ cars: 100_000, intervalMs: 10_000, holdS: 600, rampPerS: 800 })
const carsPerBroker = envNumber('CARS_PER_BROKER', 17_000)
// The load generator counts too: by default each car is fleet's lean MQTT client in a Node
// simulator process; SIM_CLIENT=go runs the Go fleet (loadtest/k6/cmd/fleet-cars), which holds up
// to ~19,000 cars per process (the open-files limit) at a fraction of the CPU (docs/benchmarks.md).
const simClient = simClientOf(process.env)
const carsPerSim = envNumber('CARS_PER_SIM', simClient === 'go' ? 19_000 : 12_500)
const brokers = envNumber('BROKERS', Math.max(1, Math.ceil(cars / carsPerBroker)))
const simProcs = envNumber('SIM_PROCS', Math.max(1, Math.ceil(cars / carsPerSim)))
// SIM_NICE: the simulators' CPU priority. On a real deployment the cars are elsewhere; at 10 the
// system under test gets the CPU first and a starved load generator shows as a lower offered rate.
const simNice = envNumber('SIM_NICE', 0)
const scorerCount = envNumber('SCORERS', 1)
// SCORER_NICE (e.g. -5): the scorer's CPU priority. On Kubernetes its pod's CPU request is its
// cgroup weight; here it is one process among some twenty and the kernel shares the CPU per
// process, so a negative nice value stands in for that request (each step ~1.25× the weight).
const scorerNice = envNumber('SCORER_NICE', 0)
const sampleS = envNumber('SAMPLE_S', 5)
const commandEveryS = envNumber('COMMAND_EVERY_S', 5)
const commandSample = envNumber('COMMAND_SAMPLE', 10)
const out = process.env.OUT ?? 'results/soak.json'
const chartPath = process.env.CHART ?? 'docs/images/soak.svg'
const root = new URL('..', import.meta.url).pathname
const redisUrl = process.env.FLEET_REDIS_URL ?? 'redis://127.0.0.1:16379'
const prefix = `soak-${Date.now().toString(36)}`
const OPERATOR_KEY = `soak-operator-${randomUUID().replaceAll('-', '')}`
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
const round2 = (x: number) => Math.round(x * 100) / 100
const round3 = (x: number) => Math.round(x * 1_000) / 1_000
const MB = 2 ** 20
const quiet = { FLEET_LOG_LEVEL: 'warn' }

// ---- processes -------------------------------------------------------------------------------
interface Proc { role: string, name: string, pid: () => number | undefined }
const procs: Proc[] = []

// fleet's topics, on a stack that has never run `npm start` (idempotent)
execFileSync(process.execPath, ['--import', 'tsx', `${root}/scripts/kafka-topics.ts`], { stdio: 'inherit' })
console.log(`soak: ${cars} cars every ${intervalMs / 1_000} s (${Math.round(cars / (intervalMs / 1_000))} msg/s) over ${brokers} broker processes, ${simProcs} simulator processes; ramp ${rampPerS}/s, hold ${holdS} s`)
// BROKER_CPU_PROF=dir: each broker process writes a V8 CPU profile there when it stops.
// BROKER_NODE_ARGS: node flags of the brokers besides the production ones (e.g. --trace-gc);
// BROKER_LOG_DIR: each broker's output goes to broker-<i>.log there instead of this process's.
const brokerProf = process.env.BROKER_CPU_PROF
const brokerNodeArgs = [...(process.env.BROKER_NODE_ARGS ?? '').split(' ').filter(a => a !== ''), ...(brokerProf === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${brokerProf}`])]
const brokerLogDir = process.env.BROKER_LOG_DIR
if (brokerLogDir !== undefined) mkdirSync(brokerLogDir, { recursive: true })
const pods: BrokerProcess[] = await startBrokerProcesses(Array.from({ length: brokers }, (_, i) => `${prefix}-broker-${i}`), {
  ...quiet,
  FLEET_MAX_CONNECTIONS: '19500',
  FLEET_CONNECT_RATE_PER_S: '100000',
  FLEET_CONNECT_RATE_PER_ADDRESS: '100000'
}, i => ({ nodeArgs: brokerNodeArgs, ...(brokerLogDir === undefined ? {} : { logFile: `${brokerLogDir}/broker-${i}.log` }) }))
pods.forEach((p, i) => procs.push({ role: 'brokers', name: `broker-${i}`, pid: () => p.child.pid }))

const scorerGroup = `${prefix}-scorer`
await groupAtEnd(scorerGroup)
// SCORERS processes in one consumer group split vehicle.telemetry's partitions, as scorer pods do.
const scorerProcs = await Promise.all(Array.from({ length: scorerCount }, (_, i) =>
  startServiceProcess('scorer', { name: scorerCount === 1 ? 'scorer' : `scorer-${i}`, env: { ...quiet, FLEET_SCORER_GROUP_ID: scorerGroup, FLEET_SCORER_WATCH_MODEL: 'false' } })))
for (const sc of scorerProcs) {
  procs.push({ role: 'scorer', name: sc.name, pid: () => sc.child.pid })
  if (scorerNice !== 0 && sc.child.pid !== undefined) setPriority(sc.child.pid, scorerNice)
}
const commander = await startServiceProcess('commander', {
  env: { ...quiet, FLEET_COMMANDER_ID: `${prefix}-commander`, FLEET_COMMANDER_GROUP: `${prefix}-commander` }
})
procs.push({ role: 'commander + api', name: 'commander', pid: () => commander.child.pid })
const api = await startServiceProcess('api', {
  env: { ...quiet, FLEET_API_KEYS: `soak:operator:${OPERATOR_KEY}`, FLEET_API_COMMAND_RATE_LIMIT_PER_MIN: '100000', FLEET_API_RATE_LIMIT_PER_MIN: '1000000' }
})
const apiPort = api.port
procs.push({ role: 'commander + api', name: 'api', pid: () => api.child.pid })
procs.push({ role: 'kafka', name: 'kafka', pid: () => stackPid('kafka') })
// The stack's Kafka stops its JIT at C1 unless started otherwise (scripts/stack.sh): on C2 it took
// 0.24 instead of 0.35 cores in a 60,000-car soak (docs/benchmarks.md). Say which this run had.
const kafkaJit = (() => {
  try { return readFileSync(`/proc/${stackPid('kafka')}/cmdline`, 'utf8').includes('TieredStopAtLevel=1') ? 'C1' : 'C2' } catch { return 'unknown' }
})()
if (kafkaJit === 'C1') console.log('soak: Kafka runs on its C1 JIT (the stack\'s default); for steady-state figures start it with `npm run stack -- down kafka && FLEET_KAFKA_JVM_OPTS=-XX:+UseSerialGC npm run stack -- up kafka`')
procs.push({ role: 'redis', name: 'redis', pid: () => stackPid('redis') })

// What earlier runs left in Redis is work for this one (their cars' state, ranking and history):
// say so, and keep the figure with the results. Read before this run provisions its own cars.
const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 })
await redis.connect()
const redisKeysAtStart = await redis.dbsize()
if (redisKeysAtStart > 50_000) console.log(`soak: Redis already holds ${redisKeysAtStart.toLocaleString('en')} keys from earlier runs; for figures of this fleet alone start from an empty one (redis-cli -u $FLEET_REDIS_URL flushdb, or a fresh stack)`)

const go = simClient === 'go' ? await goGenerator({ redisUrl, prefix, cars, procs: simProcs }) : undefined
const sims = startSimulators({ urls: pods.map(p => `mqtt://127.0.0.1:${p.mqttPort}`), prefix, cars, procs: simProcs, intervalMs, rampPerS, reportMs: sampleS * 1_000, nice: simNice, env: { FLEET_SIM_CLIENT: simClient }, ...(go === undefined ? {} : { go }) })
sims.children.forEach((c, i) => procs.push({ role: 'load generator', name: `simulator-${i}`, pid: () => c.pid }))
procs.push({ role: 'load generator', name: 'soak (this process)', pid: () => process.pid })

// ---- probes ----------------------------------------------------------------------------------
const carId = (i: number) => `${prefix}-${String(i).padStart(5, '0')}`

/** publish→score: the car's clock (ts) to the scorer's write (scoredAt) of the latest message of random cars. */
let scoreLatency: number[] = []
const seenScore = new Map<string, number>()
async function probeScores () {
  const pipe = redis.pipeline()
  const ids = Array.from({ length: 300 }, () => carId(Math.floor(Math.random() * cars)))
  for (const id of ids) pipe.hmget(vehicleStateKey(id), 'ts', 'scoredAt')
  const res = await pipe.exec()
  res?.forEach(([err, v], k) => {
    const [ts, scoredAt] = (v ?? []) as [string | null, string | null]
    if (err !== null || ts === null || scoredAt === null) return
    if (seenScore.get(ids[k]!) === Number(ts)) return
    seenScore.set(ids[k]!, Number(ts))
    scoreLatency.push(Date.parse(scoredAt) - Number(ts))
  })
}

/** Commands from an operator through the api to random connected cars, followed to acknowledged. */
let commandRtt: number[] = []
const commandStats = { sent: 0, acknowledged: 0, failed: 0, httpErrors: 0, pending: 0 }
async function sendCommand () {
  const id = carId(Math.floor(Math.random() * cars))
  const t0 = performance.now()
  commandStats.pending++
  try {
    const r = await fetch(`http://127.0.0.1:${apiPort}/v1/vehicles/${id}/commands`, { method: 'POST', headers: { authorization: `Bearer ${OPERATOR_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ type: 'flash-lights', ttlSeconds: 120 }) })
    if (r.status !== 201) { commandStats.httpErrors++; return }
    commandStats.sent++
    const { commandId } = await r.json() as { commandId: string }
    const deadline = performance.now() + 120_000
    while (performance.now() < deadline) {
      const g = await fetch(`http://127.0.0.1:${apiPort}/v1/vehicles/${id}/commands/${commandId}?waitSeconds=30`, { headers: { authorization: `Bearer ${OPERATOR_KEY}` } })
      const { status } = await g.json() as { status: string }
      if (status === 'acknowledged') { commandStats.acknowledged++; commandRtt.push(performance.now() - t0); return }
      if (['rejected', 'expired', 'failed'].includes(status)) { commandStats.failed++; return }
    }
    commandStats.failed++
  } catch {
    commandStats.httpErrors++
  } finally {
    commandStats.pending--
  }
}

async function scorerLag (): Promise<number | null> {
  try {
    let lag = 0
    for (const sc of scorerProcs) lag += metricValue(await sc.metrics(), 'fleet_scorer_consumer_lag')
    return lag
  } catch { return null }
}

// ---- sampling --------------------------------------------------------------------------------
interface Sample { t: number, phase: 'ramp' | 'hold', connected: number, ackedPerS: number, pubackP50: number | null, pubackP99: number | null, tickLateP99: number | null, scoreP99: number | null, commandRttP99: number | null, scorerLag: number | null, cores: Record<string, number>, rssMB: Record<string, number>, machineLoad1: number }
const samples: Sample[] = []
const cpuAt = new Map<string, number>()
const tick = { t: performance.now() }
const procCpu = (p: Proc) => cpuSecondsOr0(p.pid())
const procRss = (p: Proc) => { try { const pid = p.pid(); return pid === undefined ? 0 : rssBytes(pid) } catch { return 0 } }
const t0 = performance.now()
let phase: 'ramp' | 'hold' = 'ramp'
let lastScoreIdx = 0
let lastRttIdx = 0
async function sample () {
  const now = performance.now()
  const secs = (now - tick.t) / 1_000
  const cores: Record<string, number> = {}
  const rssMB: Record<string, number> = {}
  for (const p of procs) {
    const c = procCpu(p)
    const d = (c - (cpuAt.get(p.name) ?? c)) / secs
    cpuAt.set(p.name, c)
    cores[p.role] = round2((cores[p.role] ?? 0) + d)
    rssMB[p.role] = Math.round((rssMB[p.role] ?? 0) + procRss(p) / MB)
  }
  tick.t = now
  const w = sims.window(now - sampleS * 1_000 - 500)
  const s = scoreLatency.slice(lastScoreIdx).sort((a, b) => a - b)
  lastScoreIdx = scoreLatency.length
  const r = commandRtt.slice(lastRttIdx).sort((a, b) => a - b)
  lastRttIdx = commandRtt.length
  const row: Sample = { t: Math.round((now - t0) / 1_000), phase, connected: sims.connected(), ackedPerS: w.ackedPerS, pubackP50: pct(w.samples, 0.5), pubackP99: pct(w.samples, 0.99), tickLateP99: pct(w.tickLate, 0.99), scoreP99: pct(s, 0.99), commandRttP99: pct(r, 0.99), scorerLag: await scorerLag(), cores, rssMB, machineLoad1: round2(loadavg()[0]!) }
  samples.push(row)
  console.log(`t=${row.t}s ${phase} connected ${row.connected} acked ${row.ackedPerS}/s PUBACK p99 ${row.pubackP99} ms (generator late p99 ${row.tickLateP99} ms) score p99 ${row.scoreP99} ms cmd p99 ${row.commandRttP99} ms lag ${row.scorerLag} cores ${JSON.stringify(cores)}`)
}
for (const p of procs) cpuAt.set(p.name, procCpu(p))
const sampler = setInterval(() => { sample().catch(err => console.error('sample failed', err)) }, sampleS * 1_000)
const scoreProbe = setInterval(() => { probeScores().catch(() => {}) }, 1_000)

/**
 * Counters over all broker processes that say where a PUBACK can wait besides the car and the
 * network: Kafka produce requests by ack time (cumulative buckets), and V8 GC pauses by kind.
 */
async function brokerWaits (): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  const add = (k: string, v: number) => { out[k] = (out[k] ?? 0) + v }
  for (const b of pods) {
    const text = await b.metrics().catch(() => '')
    add('produceRequests', metricValue(text, 'fleet_broker_kafka_produce_seconds_count'))
    // prom-client resets its event-loop delay histogram at each scrape: this is since the last one
    out.eventLoopDelayMaxSeconds = Math.max(out.eventLoopDelayMaxSeconds ?? 0, metricValue(text, 'fleet_nodejs_eventloop_lag_max_seconds'))
    add('eventLoopDelayP99SecondsSum', metricValue(text, 'fleet_nodejs_eventloop_lag_p99_seconds'))
    for (const le of ['0.1', '0.25', '0.5', '1']) add(`produceAckedWithin${le}s`, metricValue(text, 'fleet_broker_kafka_produce_seconds_bucket', `le="${le}"`))
    // each car message from its read to Kafka's ack: the broker's share of the car's PUBACK wait
    add('recordsAcked', metricValue(text, 'fleet_broker_ingest_ack_seconds_count'))
    for (const le of ['0.05', '0.1', '0.25', '0.5', '1']) add(`recordAckedWithin${le}s`, metricValue(text, 'fleet_broker_ingest_ack_seconds_bucket', `le="${le}"`))
    for (const kind of ['minor', 'major', 'incremental']) {
      add(`gc_${kind}_count`, metricValue(text, 'fleet_nodejs_gc_duration_seconds_count', `kind="${kind}"`))
      add(`gc_${kind}_seconds`, metricValue(text, 'fleet_nodejs_gc_duration_seconds_sum', `kind="${kind}"`))
      const within = metricValue(text, 'fleet_nodejs_gc_duration_seconds_bucket', `kind="${kind}"`, 'le="0.1"')
      add(`gc_${kind}_over0.1s`, metricValue(text, 'fleet_nodejs_gc_duration_seconds_count', `kind="${kind}"`) - within)
    }
  }
  return out
}

/**
 * Where the scorers' time goes (summed over them): rows, batches, and the wall time inside batches
 * by phase (prepare, score, write: fleet_scorer_batch_phase_seconds_total); the hold's time left
 * over is the scorer waiting for its next fetch.
 */
async function scorerTime (): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  const add = (k: string, v: number) => { out[k] = (out[k] ?? 0) + v }
  for (const sc of scorerProcs) {
    const text = await sc.metrics().catch(() => '')
    add('rows', metricValue(text, 'fleet_scorer_rows_scored_total'))
    add('batches', metricValue(text, 'fleet_scorer_batch_seconds_count'))
    for (const phase of ['prepare', 'score', 'write']) add(`${phase}Seconds`, metricValue(text, 'fleet_scorer_batch_phase_seconds_total', `phase="${phase}"`))
  }
  return out
}

/**
 * The kernel's TCP counters (/proc/net/snmp, /proc/net/netstat) that would show a PUBACK or a
 * PUBLISH waiting in the network stack: retransmissions and their timeouts, drops for want of
 * memory or backlog. On loopback all of them should stay near 0.
 */
const TCP_COUNTERS = ['RetransSegs', 'TCPTimeouts', 'TCPLossProbes', 'TCPLostRetransmit', 'TCPMemoryPressures', 'PruneCalled', 'RcvPruned', 'TCPRcvQDrop', 'TCPBacklogDrop', 'TCPZeroWindowDrop', 'ListenOverflows', 'TCPAbortOnMemory', 'InSegs', 'OutSegs']
function tcpCounters (): Record<string, number> {
  const out: Record<string, number> = {}
  for (const file of ['/proc/net/snmp', '/proc/net/netstat']) {
    let lines: string[]
    try { lines = readFileSync(file, 'utf8').split('\n') } catch { continue }
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const names = lines[i]!.split(/\s+/)
      const values = lines[i + 1]!.split(/\s+/)
      if (names[0] !== 'Tcp:' && names[0] !== 'TcpExt:') continue
      names.forEach((n, j) => { if (TCP_COUNTERS.includes(n)) out[n] = Number(values[j]) })
    }
  }
  return out
}

/** The ramp as a connect storm: what the brokers refused or took, how late they ran, the listen
 *  queues' overflows and the errors the cars saw, from the start of the ramp to its end. */
async function rampFigures (tcpAtStart: Record<string, number>): Promise<Record<string, unknown>> {
  const connects: Record<string, number> = {}
  let lateMaxSeconds = 0
  for (const b of pods) {
    const text = await b.metrics()
    for (const line of text.split('\n')) {
      const m = /^fleet_broker_connects_total\{.*result="([a-z_]+)".*\} (\S+)$/.exec(line)
      if (m !== null) connects[m[1]!] = (connects[m[1]!] ?? 0) + Number(m[2])
    }
    lateMaxSeconds = Math.max(lateMaxSeconds, metricValue(text, 'fleet_nodejs_eventloop_lag_max_seconds'))
  }
  const rampSamples = samples.filter(x => x.phase === 'ramp' && x.pubackP99 !== null)
  const p99s = rampSamples.map(x => x.pubackP99!).sort((a, b) => a - b)
  return {
    connectsByResult: connects,
    listenOverflows: (tcpCounters().ListenOverflows ?? 0) - (tcpAtStart.ListenOverflows ?? 0),
    carErrors: sims.errors(),
    pubackP99MsOfSamples: { median: pct(p99s, 0.5), max: p99s.at(-1) ?? null },
    brokerEventLoopDelayMaxSecondsLastScrape: round3(lateMaxSeconds),
    note: 'from the start of the ramp to its end: CONNECT results summed over the brokers (accepted, refused by reason), the kernel\'s listen-queue overflows, errors the cars saw, the p99 PUBACK of each sample'
  }
}

// ---- ramp, hold ------------------------------------------------------------------------------
const rampDeadline = t0 + (cars / rampPerS + 180) * 1_000
const tcpRamp0 = tcpCounters()
await sims.untilConnected(cars, rampDeadline, 1_000)
const rampS = Math.round((performance.now() - t0) / 1_000)
const ramp = await rampFigures(tcpRamp0)
console.log(`soak: the ramp: ${JSON.stringify(ramp)}`)
console.log(`ramp: ${sims.connected()} of ${cars} cars connected after ${rampS} s; letting every car start publishing`)
await sleep(intervalMs + 5_000)
phase = 'hold'
scoreLatency = []
commandRtt = []
lastScoreIdx = 0
lastRttIdx = 0
const hold0 = performance.now()
const errors0 = sims.errors()
const brokerWaits0 = await brokerWaits()
const scorerTime0 = await scorerTime()
const tcp0 = tcpCounters()
const cpu0 = new Map(procs.map(p => [p.name, procCpu(p)]))
const connectedDuringHold: number[] = []
const commander$ = setInterval(() => {
  connectedDuringHold.push(sims.connected())
  for (let i = 0; i < commandSample; i++) void sendCommand()
}, commandEveryS * 1_000)
await sleep(holdS * 1_000)
clearInterval(commander$)
const holdSecs = (performance.now() - hold0) / 1_000
const w = sims.window(hold0)
const perProcess = procs.map(p => ({ role: p.role, name: p.name, cores: round2((procCpu(p) - (cpu0.get(p.name) ?? 0)) / holdSecs), rssMB: Math.round(procRss(p) / MB) }))
const peakRss: Record<string, number> = {}
for (const s of samples) for (const [k, v] of Object.entries(s.rssMB)) peakRss[k] = Math.max(peakRss[k] ?? 0, v)
const lagDuringHold = samples.filter(s => s.phase === 'hold' && s.scorerLag !== null).map(s => s.scorerLag!)
const holdSamples = samples.filter(s => s.phase === 'hold')
const scoreSorted = [...scoreLatency].sort((a, b) => a - b)
const rttSorted = [...commandRtt].sort((a, b) => a - b)
const connectedEnd = sims.connected()
// let in-flight command round trips finish (bounded)
const drainDeadline = Date.now() + 35_000
while (commandStats.pending > 0 && Date.now() < drainDeadline) await sleep(250)
clearInterval(sampler)
clearInterval(scoreProbe)

const tcpDuringHold = Object.fromEntries(Object.entries(tcpCounters()).map(([k, v]) => [k, v - (tcp0[k] ?? 0)]))
const brokerWaits1 = await brokerWaits()
const scorerTime1 = await scorerTime()
const scorerDuringHold: Record<string, number | string> = Object.fromEntries(Object.entries(scorerTime1).map(([k, v]) => [k, round2(v - (scorerTime0[k] ?? 0))]))
{
  const inBatches = ['prepare', 'score', 'write'].reduce((n, k) => n + (scorerDuringHold[`${k}Seconds`] as number), 0)
  scorerDuringHold.rowsPerS = Math.round((scorerDuringHold.rows as number) / holdSecs)
  scorerDuringHold.shareInBatches = round3(inBatches / (holdSecs * scorerCount))
  scorerDuringHold.note = 'summed over the scorers, from their /metrics at the start and end of the hold: rows scored, micro-batches, and the wall time inside batches by phase (prepare: parse, check, adopt cars from Redis; score: features, inference, results; write: waiting for Redis and Kafka to take them); shareInBatches: that time over the hold (per scorer), the rest it waited for fetches'
}
const waitsDuringHold = Object.fromEntries(Object.entries(brokerWaits1).map(([k, v]) => [k, k.startsWith('eventLoop') ? round3(v) : round2(v - (brokerWaits0[k] ?? 0))]))

const byRole: Record<string, number> = {}
for (const p of perProcess) byRole[p.role] = round2((byRole[p.role] ?? 0) + p.cores)
const summary = {
  soak: true,
  when: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model },
  redisKeysAtStart,
  params: { cars, intervalMs, holdS, brokers, scorers: scorerCount, simulatorProcesses: simProcs, simulatorClient: simClient, simulatorNice: simNice, scorerNice, rampPerS, commandEveryS, commandSample, kafkaJit },
  rampSeconds: rampS,
  ramp,
  connectedCars: { end: connectedEnd, minDuringHold: Math.min(...connectedDuringHold, connectedEnd) },
  offeredPerSecond: Math.round(cars / (intervalMs / 1_000)),
  ackedPerSecond: w.ackedPerS,
  pubackMs: { p50: pct(w.samples, 0.5), p99: pct(w.samples, 0.99), samples: w.samples.length },
  ...(w.tickLate.length === 0 ? {} : { generatorTickLateMs: { p50: pct(w.tickLate, 0.5), p99: pct(w.tickLate, 0.99), max: w.tickLate.at(-1), note: 'how late the Go generator\'s loops fired the cars\' ticks: what a PUBACK also waits in the generator before it is read and timed' } }),
  publishToScoreMs: { p50: pct(scoreSorted, 0.5), p99: pct(scoreSorted, 0.99), samples: scoreSorted.length, note: 'car clock (telemetry ts) to the scorer\'s Redis write (scoredAt) of the latest message of ~300 random cars per second' },
  commandRoundTripMs: { p50: pct(rttSorted, 0.5), p99: pct(rttSorted, 0.99), ...commandStats, note: 'operator POST → api → Kafka → broker → car → ack → Kafka → commander → Redis → long-poll answers acknowledged' },
  scorerLag: { max: lagDuringHold.length ? Math.max(...lagDuringHold) : null, end: lagDuringHold.at(-1) ?? null },
  errors: sims.errors() - errors0,
  cores: { byRole, total: round2(Object.values(byRole).reduce((a, b) => a + b, 0)), loadGeneratorShare: round2((byRole['load generator'] ?? 0) / cpus().length) },
  peakRssMB: peakRss,
  perProcess,
  scorerDuringHold,
  brokersDuringHold: { ...waitsDuringHold, note: 'summed over the broker processes, from their /metrics at the start and end of the hold: Kafka produce requests by how long their ack took, V8 GC pauses by kind (what may hold a PUBACK besides Kafka); recordAckedWithin*: car messages by the time from their read to Kafka\'s ack (the broker\'s share of the PUBACK wait); eventLoopDelay*: the largest / the sum over brokers of the p99 event-loop delay over the hold (prom-client resets it per scrape)' },
  tcpDuringHold: { ...tcpDuringHold, note: 'the kernel\'s TCP counters over the hold, the whole machine (/proc/net/snmp, /proc/net/netstat)' },
  holdMachineLoad1: holdSamples.length ? round2(holdSamples.reduce((a, s) => a + s.machineLoad1, 0) / holdSamples.length) : null,
  samples
}
console.log(`soak: brokers during the hold: ${JSON.stringify(waitsDuringHold)}`)
console.log(`soak: scorer during the hold: ${JSON.stringify({ ...scorerDuringHold, note: undefined })}`)
console.log(`soak: TCP during the hold: ${JSON.stringify(tcpDuringHold)}`)
console.log(`soak: ${summary.connectedCars.end} cars connected (min ${summary.connectedCars.minDuringHold} during the hold), ${summary.ackedPerSecond} of ${summary.offeredPerSecond} msg/s acknowledged, PUBACK p50 ${summary.pubackMs.p50} / p99 ${summary.pubackMs.p99} ms, publish→score p50 ${summary.publishToScoreMs.p50} / p99 ${summary.publishToScoreMs.p99} ms, command round trip p50 ${summary.commandRoundTripMs.p50} / p99 ${summary.commandRoundTripMs.p99} ms (${commandStats.acknowledged}/${commandStats.sent} acknowledged, ${commandStats.failed} failed, ${commandStats.httpErrors} HTTP errors), scorer lag max ${summary.scorerLag.max}, errors ${summary.errors}; cores ${JSON.stringify(byRole)}; peak RSS MB ${JSON.stringify(peakRss)}`)

await sims.stop()
await Promise.all([...scorerProcs, commander, api].map(c => c.kill('SIGTERM')))
await Promise.all(pods.map(p => p.kill('SIGTERM')))
redis.disconnect()

mkdirSync(`${root}/results`, { recursive: true })
writeFileSync(`${root}/${out}`, JSON.stringify(summary, null, 2) + '\n')
const series = samples.flatMap(s => [
  { t: s.t, what: 'connected cars (k)', value: s.connected / 1_000 },
  { t: s.t, what: 'acknowledged msg/s (k)', value: s.ackedPerS / 1_000 },
  { t: s.t, what: 'PUBACK p99 (ms)', value: s.pubackP99 },
  { t: s.t, what: 'publish→score p99 (ms)', value: s.scoreP99 },
  { t: s.t, what: 'command round trip p99 (ms)', value: s.commandRttP99 },
  { t: s.t, what: 'scorer lag (records)', value: s.scorerLag }
])
const coreSeries = samples.flatMap(s => Object.entries(s.cores).map(([role, value]) => ({ t: s.t, role, value })))
const holdStart = samples.find(s => s.phase === 'hold')?.t ?? 0
await writeChart(`${root}/${chartPath}`, {
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  title: { text: `soak — ${cars.toLocaleString('en')} cars, QoS 1 every ${intervalMs / 1_000} s, ${brokers} brokers + ${scorerCount === 1 ? 'scorer' : `${scorerCount} scorers`} + commander + api on one ${cpus().length}-core machine`, subtitle: `${summary.when.slice(0, 10)}; ramp then hold from t=${holdStart} s; load generator on the same machine` },
  vconcat: [
    {
      data: { values: series },
      facet: { field: 'what', type: 'nominal', title: null, sort: ['connected cars (k)', 'acknowledged msg/s (k)', 'PUBACK p99 (ms)', 'publish→score p99 (ms)', 'command round trip p99 (ms)', 'scorer lag (records)'] },
      columns: 3,
      spec: { width: 260, height: 130, mark: { type: 'line', interpolate: 'monotone' }, encoding: { x: { field: 't', type: 'quantitative', title: 'seconds' }, y: { field: 'value', type: 'quantitative', title: null } } },
      resolve: { scale: { y: 'independent' } }
    },
    { width: 880, height: 160, data: { values: coreSeries }, mark: 'area', encoding: { x: { field: 't', type: 'quantitative', title: 'seconds' }, y: { field: 'value', type: 'quantitative', stack: 'zero', title: 'CPU cores by role' }, color: { field: 'role', type: 'nominal', title: null, legend: { orient: 'bottom', columns: 6 } } } }
  ]
} as never)
console.log(`wrote ${out} and ${chartPath}`)
process.exit(0)
