// bench:ingest — M cars publish QoS 1 telemetry into one broker process with real Kafka ingest for
// a fixed time, then the same load generator and the same message against Debian's Mosquitto
// (which writes nowhere); ROUNDS such pairs in turn, since on this 2-core machine one run differs
// from the next by up to ±15 %. Prints and writes results/bench-ingest.json: per round acknowledged
// messages/s, PUBACK latency p50/p99, CPU per message of the server, Kafka and the load
// generator, RSS, and the fleet/Mosquitto ratio; the median round is the headline. Needs the
// stack (scripts/stack.sh up).
//   CARS=50 INFLIGHT=100 DURATION_S=20 LOAD_PROCS=1 ROUNDS=3 PEER=mosquitto|none [CPU_PROF=dir]
//   BROKER_NODE_ARGS='--flag …' BASELINE=/path/to/other/checkout npm run bench:ingest
// BASELINE: also run that checkout's broker each round (e.g. main in a git worktree), same load.
// CPU_PROF=dir: the broker process writes a V8 CPU profile there (node --cpu-prof).
// BROKER_NODE_ARGS: node flags of the broker besides the production ones (BROKER_NODE_FLAGS).
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { BROKER_NODE_FLAGS } from '../test/helpers/broker-process.js'
import { describe, runIngest, type IngestResult } from './ingest-run.js'

const env = (k: string, d: number) => Number(process.env[k] ?? d)
const load = { cars: env('CARS', 50), inflight: env('INFLIGHT', 100), durationS: env('DURATION_S', 20), loadProcs: env('LOAD_PROCS', 1) }
const rounds = env('ROUNDS', 3)
const load1 = loadavg()[0]!
const prof = process.env.CPU_PROF
const nodeArgs = (process.env.BROKER_NODE_ARGS ?? '').split(' ').filter(a => a !== '')
// This checkout's broker, and a baseline checkout's if asked (BASELINE).
const baseline = process.env.BASELINE
const clients = ['fleet', ...(baseline === undefined ? [] : ['baseline'])]
const withPeer = (process.env.PEER ?? 'mosquitto') === 'mosquitto'

const round2 = (n: number) => Math.round(n * 100) / 100
const ratio = (a: number, b: number | undefined) => b === undefined || b === 0 ? null : round2(a / b)
/** CPU µs per acknowledged message: the server's, Kafka's, the load generator's. */
const perMessage = (r: IngestResult) => {
  const us = (cores: number) => round2(cores / r.ackedPerSecond * 1e6)
  return { serverUs: us(r.brokers.reduce((n, b) => n + b.cpuCores, 0)), kafkaUs: us(r.cpu.kafkaCores), loadGeneratorUs: us(r.cpu.loadGeneratorCores) }
}
const pause = () => new Promise(resolve => setTimeout(resolve, 3_000))

interface Round { fleet: Record<string, IngestResult>, mosquitto: IngestResult | null, ratio: number | null, ratioByClient: Record<string, number | null> | null }
const done: Round[] = []
for (let i = 0; i < rounds; i++) {
  const fleet: Record<string, IngestResult> = {}
  for (const client of clients) {
    if (i > 0 || Object.keys(fleet).length > 0) await pause()
    const r = await runIngest({
      label: `fleet broker → Kafka (acks=all, ${client})`,
      ...(client === 'baseline' ? { brokerRoot: baseline } : {}),
      brokers: 1,
      ...load,
      brokerNodeArgs: [...nodeArgs, ...(prof === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${prof}/${client}-${i}`])]
    })
    console.log(`[round ${i + 1}/${rounds}] ${describe(r)}`)
    fleet[client] = r
  }
  let mosquitto: IngestResult | null = null
  if (withPeer) {
    await pause()
    mosquitto = await runIngest({ label: 'Mosquitto (writes nowhere)', brokers: 1, server: 'mosquitto', ...load })
    console.log(`[round ${i + 1}/${rounds}] ${describe(mosquitto)}`)
  }
  const m = mosquitto
  const ratioByClient = m === null ? null : Object.fromEntries(Object.entries(fleet).map(([c, r]) => [c, ratio(r.ackedPerSecond, m.ackedPerSecond)]))
  done.push({ fleet, mosquitto, ratio: ratioByClient?.[clients[0]!] ?? null, ratioByClient })
  if (ratioByClient !== null) console.log(`[round ${i + 1}/${rounds}] fleet / Mosquitto throughput: ${Object.entries(ratioByClient).map(([c, x]) => `${c} ×${x}`).join(', ')}`)
}

// The headline is the median round (by ratio; by fleet's throughput without a peer).
const key = (r: Round) => r.ratio ?? r.fleet[clients[0]!]!.ackedPerSecond
const sorted = [...done].sort((a, b) => key(a) - key(b))
const median = sorted[Math.floor((sorted.length - 1) / 2)]!
const result = median.fleet[clients[0]!]!
const mosquitto = median.mosquitto
const fleetVsMosquitto = mosquitto === null
  ? null
  : { ackedPerSecond: ratio(result.ackedPerSecond, mosquitto.ackedPerSecond), pubackP50: ratio(result.pubackMs.p50, mosquitto.pubackMs.p50), pubackP99: ratio(result.pubackMs.p99, mosquitto.pubackMs.p99), serverCores: ratio(result.brokers[0]!.cpuCores, mosquitto.brokers[0]!.cpuCores) }
const ratios = done.map(r => r.ratio).filter((x): x is number => x !== null)
if (fleetVsMosquitto !== null) {
  console.log(`fleet / Mosquitto over ${rounds} round(s): throughput ×${ratios.join(', ×')} (median ×${fleetVsMosquitto.ackedPerSecond}); median round: PUBACK p50 ×${fleetVsMosquitto.pubackP50}, p99 ×${fleetVsMosquitto.pubackP99}, server CPU ×${fleetVsMosquitto.serverCores}`)
  const f = perMessage(result)
  const p = perMessage(mosquitto!)
  console.log(`CPU µs per message (median round): fleet broker ${f.serverUs} + Kafka ${f.kafkaUs}, load generator ${f.loadGeneratorUs}; Mosquitto ${p.serverUs}, load generator ${p.loadGeneratorUs}`)
}
const root = new URL('..', import.meta.url).pathname
mkdirSync(`${root}/results`, { recursive: true })
writeFileSync(`${root}/${process.env.OUT ?? 'results/bench-ingest.json'}`, JSON.stringify({
  bench: 'ingest',
  when: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model, load1AtStart: round2(load1) },
  payload: 'validTelemetry JSON, about 600 B',
  brokerNodeFlags: [...BROKER_NODE_FLAGS, ...nodeArgs],
  rounds,
  ...result,
  cpuUsPerMessage: perMessage(result),
  variants: median.fleet,
  baselineRoot: baseline ?? null,
  mosquitto,
  mosquittoCpuUsPerMessage: mosquitto === null ? null : perMessage(mosquitto),
  fleetVsMosquitto,
  fleetVsMosquittoByVariant: median.ratioByClient,
  ratioPerRound: ratios,
  perRound: done.map(r => ({
    fleet: Object.fromEntries(Object.entries(r.fleet).map(([c, x]) => [c, { ackedPerSecond: x.ackedPerSecond, pubackMs: x.pubackMs, cpuUsPerMessage: perMessage(x), brokerCores: x.brokers[0]!.cpuCores, cpu: x.cpu }])),
    mosquitto: r.mosquitto === null ? null : { ackedPerSecond: r.mosquitto.ackedPerSecond, pubackMs: r.mosquitto.pubackMs, cpuUsPerMessage: perMessage(r.mosquitto), serverCores: r.mosquitto.brokers[0]!.cpuCores, cpu: r.mosquitto.cpu },
    ratio: r.ratio
  }))
}, null, 2) + '\n')
