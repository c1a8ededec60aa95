// bench:ingest — M cars publish QoS 1 telemetry into one broker process with real Kafka ingest for
// a fixed time, then the same load generator and the same message against Debian's Mosquitto
// (which writes nowhere), in one run. Prints and writes results/bench-ingest.json: acknowledged
// messages/s, PUBACK latency p50/p99, server CPU and RSS, and fleet/Mosquitto ratios. Needs the
// stack (scripts/stack.sh up).
//   CARS=50 INFLIGHT=20 DURATION_S=20 LOAD_PROCS=1 PEER=mosquitto|none [CPU_PROF=dir]
//   KAFKA_CLIENTS=platformatic,kafkajs npm run bench:ingest
// KAFKA_CLIENTS: the broker's Kafka clients to measure, one run each (the first is the headline).
// CPU_PROF=dir: the broker process writes a V8 CPU profile there (node --cpu-prof).
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { describe, runIngest, type IngestResult } from './ingest-run.js'

const env = (k: string, d: number) => Number(process.env[k] ?? d)
const load = { cars: env('CARS', 50), inflight: env('INFLIGHT', 20), durationS: env('DURATION_S', 20), loadProcs: env('LOAD_PROCS', 1) }
const load1 = loadavg()[0]!
const prof = process.env.CPU_PROF
const nodeArgs = (process.env.BROKER_NODE_ARGS ?? '').split(' ').filter(a => a !== '')
const clients = (process.env.KAFKA_CLIENTS ?? 'platformatic,kafkajs').split(',').map(c => c.trim()).filter(c => c !== '')
const byClient: Record<string, IngestResult> = {}
for (const [i, client] of clients.entries()) {
  if (i > 0) await new Promise(resolve => setTimeout(resolve, 3_000))
  const r = await runIngest({
    label: `fleet broker → Kafka (acks=all, ${client})`,
    brokers: 1,
    ...load,
    brokerEnv: { FLEET_BROKER_KAFKA_CLIENT: client },
    brokerNodeArgs: [...nodeArgs, ...(prof === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${prof}/${client}`])]
  })
  console.log(describe(r))
  byClient[client] = r
}
const result = byClient[clients[0]!]!
let mosquitto: IngestResult | null = null
if ((process.env.PEER ?? 'mosquitto') === 'mosquitto') {
  await new Promise(resolve => setTimeout(resolve, 3_000))
  mosquitto = await runIngest({ label: 'Mosquitto (writes nowhere)', brokers: 1, server: 'mosquitto', ...load })
  console.log(describe(mosquitto))
}
const ratio = (a: number, b: number | undefined) => b === undefined || b === 0 ? null : Math.round(a / b * 100) / 100
const fleetVsMosquitto = mosquitto === null
  ? null
  : { ackedPerSecond: ratio(result.ackedPerSecond, mosquitto.ackedPerSecond), pubackP50: ratio(result.pubackMs.p50, mosquitto.pubackMs.p50), pubackP99: ratio(result.pubackMs.p99, mosquitto.pubackMs.p99), serverCores: ratio(result.brokers[0]!.cpuCores, mosquitto.brokers[0]!.cpuCores) }
const perClient = mosquitto === null ? null : Object.fromEntries(Object.entries(byClient).map(([c, r]) => [c, ratio(r.ackedPerSecond, mosquitto!.ackedPerSecond)]))
if (perClient !== null) console.log(`fleet / Mosquitto throughput by Kafka client: ${Object.entries(perClient).map(([c, x]) => `${c} ×${x}`).join(', ')}`)
if (fleetVsMosquitto !== null) console.log(`fleet / Mosquitto: throughput ×${fleetVsMosquitto.ackedPerSecond}, PUBACK p50 ×${fleetVsMosquitto.pubackP50}, p99 ×${fleetVsMosquitto.pubackP99}, server CPU ×${fleetVsMosquitto.serverCores}`)
const root = new URL('..', import.meta.url).pathname
mkdirSync(`${root}/results`, { recursive: true })
writeFileSync(`${root}/${process.env.OUT ?? 'results/bench-ingest.json'}`, JSON.stringify({
  bench: 'ingest',
  when: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model, load1AtStart: Math.round(load1 * 100) / 100 },
  payload: 'validTelemetry JSON, about 600 B',
  ...result,
  kafkaClients: byClient,
  mosquitto,
  fleetVsMosquitto,
  fleetVsMosquittoByClient: perClient
}, null, 2) + '\n')
