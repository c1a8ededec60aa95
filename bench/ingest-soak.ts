// bench:ingest-soak — the broker's CPU per message at the soak's shape: thousands of cars, each
// connected on its own socket and publishing one QoS 1 message per interval (the simulator's lean
// client, as the soak drives it), into one fleet broker process (Kafka ingest, PUBACK after
// Kafka's ack) and into Debian's Mosquitto (writes nowhere), ROUNDS times in turn. The server's CPU
// comes from /proc/<pid>/stat over a window with every car connected. Prints and writes
// results/bench-ingest-soak.json. Needs the stack (scripts/stack.sh up).
//   CARS=5000 INTERVAL_MS=1000 HOLD_S=40 SIM_PROCS=2 ROUNDS=2 [CPU_PROF=dir] [OUT=…]
//   [BASELINE=/path/to/other/checkout] [VARIANTS='name[@/checkout][:FLEET_X=1 FLEET_Y=2];…'] npm run bench:ingest-soak
// BASELINE and VARIANTS: more fleet brokers in each round (the servers' order turns by one each
// round), so that a change is measured on vs off in one run: BASELINE another checkout's broker
// (e.g. main, or the commit before a change, in a git worktree); each variant a checkout's broker
// (this one by default) with more environment (e.g. another FLEET_INGEST_LINGER_MS).
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { cpus, loadavg } from 'node:os'
import { BROKER_NODE_FLAGS, metricValue, startBrokerProcess } from '../test/helpers/broker-process.js'
import { startMosquitto } from '../test/helpers/mosquitto.js'
import { startSimulators } from '../loadtest/sim-procs.js'
import { envNumber, loadShape, parseVariant, type Variant } from './load-shape.js'
import { cpuSeconds, cpuSecondsOr0, cpuSplit, machineBusySeconds, rssBytes, stackPid } from './proc-stats.js'

// the simulators provision their own cars in Redis, which they do only in development mode
process.env.FLEET_DEV_MODE ??= '1'
const { cars, intervalMs, holdS, rampPerS } = loadShape({ cars: 5_000, intervalMs: 1_000, holdS: 40, rampPerS: 1_000 })
const simProcs = envNumber('SIM_PROCS', Math.max(1, Math.ceil(cars / 5_000)))
const rounds = envNumber('ROUNDS', 2)
const prof = process.env.CPU_PROF
const root = new URL('..', import.meta.url).pathname

const brokers: Variant[] = [
  { name: 'fleet', env: {} },
  ...(process.env.BASELINE === undefined ? [] : [{ name: 'baseline', root: process.env.BASELINE, env: {} }]),
  ...(process.env.VARIANTS ?? '').split(';').filter(v => v.trim() !== '').map(parseVariant)
]
if (new Set(brokers.map(b => b.name)).size !== brokers.length || brokers.some(b => b.name === 'mosquitto')) throw new Error('VARIANTS: names must differ from each other, fleet, baseline and mosquitto')
const servers = [...brokers.map(b => b.name), 'mosquitto']
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
const round2 = (n: number) => Math.round(n * 100) / 100
/** Seconds the server's CPU is sampled with no car connected: what it costs per second regardless
 *  of traffic (timers, its Kafka consumer of vehicle.commands, heartbeats), spread over fewer
 *  messages the fewer a second brings. */
const idleS = envNumber('IDLE_S', 10)

interface Run { server: string, round: number, idleCores: number, recordsPerProduce: number | null, connected: number, ackedPerS: number, offeredPerS: number, errors: number, serverCores: number, serverUsPerMessage: number, serverSplitUs: { user: number, system: number, mainThread: number }, kafkaCores: number, kafkaUsPerMessage: number, loadGeneratorCores: number, loadGeneratorUsPerMessage: number, machineBusyCores: number, serverRssMB: number }

async function measure (server: Run['server'], round: number): Promise<Run> {
  const prefix = `soakb-${server}-${round}-${Date.now().toString(36)}`
  const broker = brokers.find(b => b.name === server)
  const fleet = broker !== undefined
    ? await startBrokerProcess(prefix, { FLEET_CONNECT_RATE_PER_S: '100000', ...broker.env }, {
      nodeArgs: prof === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${prof}/${server}-${round}`],
      ...(broker.root === undefined ? {} : { root: broker.root })
    })
    : null
  const mosq = fleet === null ? await startMosquitto() : null
  const pid = fleet?.child.pid ?? mosq!.child.pid!
  const port = fleet?.mqttPort ?? mosq!.port
  await sleep(2_000)
  const idle0 = cpuSeconds(pid)
  const i0 = performance.now()
  await sleep(idleS * 1_000)
  const idleCores = Math.round((cpuSeconds(pid) - idle0) / ((performance.now() - i0) / 1_000) * 1_000) / 1_000
  // lean cars without PUBACK samples in their reports: the load generator's cost stays as measured before
  const sims = startSimulators({ urls: [`mqtt://127.0.0.1:${port}`], prefix, cars, procs: simProcs, intervalMs, rampPerS, reportMs: 1_000, env: { FLEET_SIM_CLIENT: 'lean', FLEET_SIM_REPORT_SAMPLES: 'false' } })
  try {
    const connected = await sims.untilConnected(cars, performance.now() + (cars / rampPerS + 120) * 1_000, 500)
    if (connected < cars) throw new Error(`${server}: only ${connected} of ${cars} cars connected`)
    // Every car past its first message and the ramp's garbage collected before the window.
    await sleep(intervalMs + 5_000)
    const kafkaPid = stackPid('kafka')
    const simCpu = () => sims.children.reduce((n, c) => n + cpuSecondsOr0(c.pid), 0)
    const a0 = sims.acked()
    const batches0 = fleet === null ? null : produceBatches(await fleet.metrics())
    const split0 = { all: cpuSplit(pid), main: cpuSplit(pid, pid) }
    const c0 = { server: cpuSeconds(pid), kafka: cpuSecondsOr0(kafkaPid), load: simCpu(), busy: machineBusySeconds() }
    const t0 = performance.now()
    let connectedMin = sims.connected()
    for (let s = 0; s < holdS; s++) {
      await sleep(1_000)
      connectedMin = Math.min(connectedMin, sims.connected())
    }
    // The reports come each second: the acknowledged count moves with them.
    const secs = (performance.now() - t0) / 1_000
    const acked = sims.acked() - a0
    // three decimals: at 0.1–0.3 cores two would move µs per message by 2 at 5,000 msg/s
    const cores = (x: number) => Math.round(x / secs * 1_000) / 1_000
    const serverCores = cores(cpuSeconds(pid) - c0.server)
    const split1 = { all: cpuSplit(pid), main: cpuSplit(pid, pid) }
    const kafkaCores = fleet !== null ? cores(cpuSecondsOr0(kafkaPid) - c0.kafka) : 0
    const loadGeneratorCores = cores(simCpu() - c0.load)
    const ackedPerS = acked / secs
    const batches1 = fleet === null ? null : produceBatches(await fleet.metrics())
    const recordsPerProduce = batches0 === null || batches1 === null ? null : round2((batches1.records - batches0.records) / Math.max(1, batches1.requests - batches0.requests))
    const us = (c: number) => round2(c / ackedPerS * 1e6)
    // Where the server's CPU went: in its own code (user) or the kernel's (system: its socket
    // reads and writes; on loopback a write also does the receiving side's TCP work), and how much
    // of it on the main thread (a Node process's other threads: GC helpers, the compiler).
    const splitUs = (a: { user: number, system: number }, b: { user: number, system: number }) => us(cores(b.user - a.user + b.system - a.system))
    const serverSplitUs = {
      user: us(cores(split1.all.user - split0.all.user)),
      system: us(cores(split1.all.system - split0.all.system)),
      mainThread: splitUs(split0.main, split1.main)
    }
    return {
      server,
      round,
      idleCores,
      recordsPerProduce,
      connected: connectedMin,
      ackedPerS: Math.round(ackedPerS),
      offeredPerS: Math.round(cars * 1_000 / intervalMs),
      errors: sims.errors(),
      serverCores,
      serverUsPerMessage: us(serverCores),
      serverSplitUs,
      kafkaCores,
      kafkaUsPerMessage: us(kafkaCores),
      loadGeneratorCores,
      loadGeneratorUsPerMessage: us(loadGeneratorCores),
      machineBusyCores: cores(machineBusySeconds() - c0.busy),
      serverRssMB: Math.round(rssBytes(pid) / 2 ** 20)
    }
  } finally {
    await sims.stop()
    await (fleet?.kill('SIGTERM') ?? mosq!.stop())
  }
}

/** Kafka produce requests and their records so far (the broker's batch histogram). */
function produceBatches (metrics: string): { requests: number, records: number } {
  return { requests: metricValue(metrics, 'fleet_broker_kafka_batch_records_count'), records: metricValue(metrics, 'fleet_broker_kafka_batch_records_sum') }
}

const load1 = loadavg()[0]!
const runs: Run[] = []
for (let round = 1; round <= rounds; round++) {
  // each round starts one server later, so that none always runs first (a fresh Kafka segment,
  // another engineer's job just ended) or last
  const order = servers.map((_, i) => servers[(i + round - 1) % servers.length]!)
  for (const server of order) {
    const r = await measure(server, round)
    runs.push(r)
    console.log(`[round ${round}/${rounds}] ${server}: ${r.connected} cars, ${r.ackedPerS} of ${r.offeredPerS} msg/s acknowledged, server ${r.serverCores} cores = ${r.serverUsPerMessage} µs/msg (user ${r.serverSplitUs.user}, system ${r.serverSplitUs.system}, main thread ${r.serverSplitUs.mainThread})${server !== 'mosquitto' ? `, Kafka ${r.kafkaUsPerMessage} µs/msg, ${r.recordsPerProduce} records per produce request` : ''}, load generator ${r.loadGeneratorUsPerMessage} µs/msg, idle ${r.idleCores} cores, machine ${r.machineBusyCores} of ${cpus().length} busy, RSS ${r.serverRssMB} MB, errors ${r.errors}`)
    await sleep(3_000)
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!
const usOf = (server: string, key: 'serverUsPerMessage' | 'kafkaUsPerMessage' = 'serverUsPerMessage') => median(runs.filter(r => r.server === server).map(r => r[key]))
const mosqUs = usOf('mosquitto')
/** Each fleet broker's median µs per message and its ratio to Mosquitto's in the same round. */
const perBroker = Object.fromEntries(brokers.map(b => {
  const ratios = Array.from({ length: rounds }, (_, i) => {
    const f = runs.find(r => r.server === b.name && r.round === i + 1)!
    const m = runs.find(r => r.server === 'mosquitto' && r.round === i + 1)!
    return round2(f.serverUsPerMessage / m.serverUsPerMessage)
  })
  // The load generator does the same work per message whichever server it drives, so its own µs
  // per message in the same window tells how fast the shared machine was then (it moved by a
  // third within one run on 2026-12-06); the server's µs divided by it compares across windows.
  const perLoadGenerator = runs.filter(r => r.server === b.name).map(r => Math.round(r.serverUsPerMessage / r.loadGeneratorUsPerMessage * 1_000) / 1_000)
  return [b.name, { us: usOf(b.name), kafkaUs: usOf(b.name, 'kafkaUsPerMessage'), ratio: round2(usOf(b.name) / mosqUs), ratioPerRound: ratios, perLoadGenerator }]
}))
const mosqPerLoadGenerator = runs.filter(r => r.server === 'mosquitto').map(r => Math.round(r.serverUsPerMessage / r.loadGeneratorUsPerMessage * 1_000) / 1_000)
const fleetUs = perBroker.fleet!.us
for (const b of brokers) {
  const x = perBroker[b.name]!
  console.log(`server CPU per message (median of ${rounds}): ${b.name === 'fleet' ? 'fleet broker' : `${b.name} (${b.root ?? 'this checkout'}${Object.keys(b.env).length > 0 ? ` ${Object.entries(b.env).map(([k, v]) => `${k}=${v}`).join(' ')}` : ''})`} ${x.us} µs (+ Kafka ${x.kafkaUs} µs), Mosquitto ${mosqUs} µs: ×${x.ratio} (rounds ×${x.ratioPerRound.join(', ×')}; goal ≤ ×2); per µs of the load generator's ${x.perLoadGenerator.join(', ')} (Mosquitto ${mosqPerLoadGenerator.join(', ')})`)
}
const out = process.env.OUT ?? 'results/bench-ingest-soak.json'
mkdirSync(dirname(`${root}/${out}`), { recursive: true })
writeFileSync(`${root}/${out}`, JSON.stringify({
  bench: 'ingest-soak',
  when: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model, load1AtStart: round2(load1), note: 'a shared 2-core machine: the load generator runs on it too' },
  shape: { cars, intervalMs, holdS, simProcs, client: 'lean (services/simulator)', qos: 1, payload: 'simulated telemetry JSON (~600 B)' },
  brokerNodeFlags: BROKER_NODE_FLAGS,
  brokers,
  serverUsPerMessage: { fleet: fleetUs, mosquitto: mosqUs, ratio: perBroker.fleet!.ratio, ratioPerRound: perBroker.fleet!.ratioPerRound, fleetKafka: perBroker.fleet!.kafkaUs },
  perBroker,
  mosquittoPerLoadGenerator: mosqPerLoadGenerator,
  runs
}, null, 2) + '\n')
console.log(`→ ${out}`)
process.exit(0)
