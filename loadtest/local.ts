// loadtest:local — the Node simulator drives a fleet of cars (each publishing QoS 1 telemetry every
// INTERVAL_MS with its own credentials and a persistent session) against, in one run and one after
// the other, Debian's Mosquitto (which writes nowhere) and a fleet broker process writing every
// message to Kafka (acks=all) before its PUBACK. For each it prints and writes connected cars,
// acknowledged messages/s, PUBACK p50/p99 (merged from every simulator), end-to-end latency from
// the car's clock to a Kafka consumer (fleet), errors, and the CPU and RSS of the server, the
// simulators and Kafka; then the fleet/Mosquitto ratios and a chart (results/loadtest-local.json,
// docs/images/loadtest-local.svg). Bounded: each phase ramps, holds DURATION_S, and stops all it
// started. Needs the stack (scripts/stack.sh up).
//   CARS=10000 INTERVAL_MS=1000 DURATION_S=60 RAMP_PER_S=300 TARGETS=mosquitto,fleet [SIM_CLIENT=lean|mqttjs|go] [BROKER_CPU_PROF=dir] npm run loadtest:local
import { randomUUID } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { writeChart } from '../bench/chart.js'
import { cpuSecondsOr0 as cpuOf, rssBytes, stackPid } from '../bench/proc-stats.js'
import { createKafka } from '../services/shared/src/kafka.js'
import { createLogger } from '../services/shared/src/logger.js'
import { KafkaTopics } from '../services/shared/src/topics.js'
import { metricValue, startBrokerProcess } from '../test/helpers/broker-process.js'
import { startMosquitto } from '../test/helpers/mosquitto.js'
import { goGenerator, pct, simClientOf, startSimulators } from './sim-procs.js'

// A load run on a development stack: its simulators provision their own credentials.
process.env.FLEET_DEV_MODE ??= '1'

const env = (k: string, d: number) => Number(process.env[k] ?? d)
const cars = env('CARS', 10_000)
const procs = env('SIM_PROCS', Math.max(1, Math.ceil(cars / 5_000)))
const intervalMs = env('INTERVAL_MS', 1_000)
const durationS = env('DURATION_S', 60)
const rampPerS = env('RAMP_PER_S', 300)
// Each car is fleet's lean MQTT client unless SIM_CLIENT=mqttjs (FLEET_SIM_CLIENT of the simulator)
// or SIM_CLIENT=go (the Go fleet, loadtest/k6/cmd/fleet-cars).
const simClient = simClientOf(process.env)
const redisUrl = process.env.FLEET_REDIS_URL ?? 'redis://127.0.0.1:16379'
const targets = (process.env.TARGETS ?? 'mosquitto,fleet').split(',').map(t => t.trim()) as Target[]
const out = process.env.OUT ?? 'results/loadtest-local.json'
const chartPath = process.env.CHART ?? 'docs/images/loadtest-local.svg'
const root = new URL('..', import.meta.url).pathname
const kafkaBrokers = (process.env.FLEET_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',')
const SAMPLE_MS = 5_000
const BROKER_METRICS: Array<[string, string, string?]> = [
  ['connections', 'fleet_broker_connections'],
  ['connectsOk', 'fleet_broker_connects_total', 'result="ok"'],
  ['connectsAll', 'fleet_broker_connects_total'],
  ['recordsAcked', 'fleet_broker_kafka_records_acked_total'],
  ['produceErrors', 'fleet_broker_kafka_produce_errors_total'],
  ['produceCount', 'fleet_broker_kafka_produce_seconds_count'],
  ['produceSecondsSum', 'fleet_broker_kafka_produce_seconds_sum'],
  ['pendingRecords', 'fleet_broker_ingest_pending_records'],
  ['clientErrors', 'fleet_broker_client_errors_total'],
  ['refused', 'fleet_broker_refused_total'],
  ['eventLoopLagP99', 'fleet_nodejs_eventloop_lag_p99_seconds']
]

type Target = 'mosquitto' | 'fleet'
for (const t of targets) if (t !== 'mosquitto' && t !== 'fleet') throw new Error(`TARGETS: unknown target "${t}" (mosquitto, fleet)`)

interface Sample { target: Target, t: number, connected: number, ackedPerS: number, serverCores: number, serverRssMB: number, broker?: Record<string, number> }

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
const round2 = (x: number) => Math.round(x * 100) / 100

async function runPhase (target: Target, samples: Sample[]) {
  const prefix = `local-${target}-${Date.now().toString(36)}`
  let server: { pid: number, url: string, stop: () => Promise<unknown>, metrics?: () => Promise<string> }
  if (target === 'mosquitto') {
    const m = await startMosquitto()
    server = { pid: m.child.pid!, url: `mqtt://127.0.0.1:${m.port}`, stop: m.stop }
  } else {
    const prof = process.env.BROKER_CPU_PROF
    const b = await startBrokerProcess(`loadtest-${prefix}`, { FLEET_MAX_CONNECTIONS: '19500', FLEET_CONNECT_RATE_PER_S: '100000', FLEET_LOG_LEVEL: 'warn' }, prof === undefined ? {} : { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${prof}`] })
    server = { pid: b.child.pid!, url: `mqtt://127.0.0.1:${b.mqttPort}`, stop: () => b.kill('SIGTERM'), metrics: b.metrics }
  }
  const rssBefore = rssBytes(server.pid)

  // End-to-end for fleet: the car's clock (ts in the payload) → the record read from Kafka.
  let e2e: number[] = []
  let consumed = 0
  let consumer: { disconnect: () => Promise<void> } | undefined
  if (target === 'fleet') {
    const kafka = createKafka({ kafkaBrokers, kafkaClientId: 'loadtest' }, createLogger('loadtest', 'warn'))
    const c = kafka.consumer({ groupId: `loadtest-${randomUUID()}` })
    await c.connect()
    await c.subscribe({ topic: KafkaTopics.telemetry, fromBeginning: false })
    await c.run({
      eachBatch: async ({ batch }) => {
        const now = Date.now()
        for (const m of batch.messages) {
          if (m.key?.toString().startsWith(prefix) !== true) continue
          consumed++
          if ((consumed & 15) === 0) e2e.push(now - JSON.parse(m.value!.toString()).ts)
        }
      }
    })
    consumer = c
  }

  const go = simClient === 'go' ? await goGenerator({ redisUrl, prefix, cars, procs }) : undefined
  const sims = startSimulators({ urls: [server.url], prefix, cars, procs, intervalMs, rampPerS, reportMs: SAMPLE_MS, env: { FLEET_SIM_CLIENT: simClient }, ...(go === undefined ? {} : { go }) })
  const t0 = performance.now()
  const kafkaPid = stackPid('kafka')
  let last = { t: t0, server: cpuOf(server.pid) }
  const sampler = setInterval(() => {
    const now = performance.now()
    const serverCpu = cpuOf(server.pid)
    const row: Sample = { target, t: Math.round((now - t0) / 1_000), connected: sims.connected(), ackedPerS: sims.window(now - SAMPLE_MS - 500).ackedPerS, serverCores: round2((serverCpu - last.server) / ((now - last.t) / 1_000)), serverRssMB: Math.round(rssBytes(server.pid) / 2 ** 20) }
    samples.push(row)
    last = { t: now, server: serverCpu }
    // the fleet broker's own view: what it holds, what Kafka took, what it refused
    server.metrics?.().then(text => {
      row.broker = Object.fromEntries(BROKER_METRICS.map(([k, name, match]) => [k, round2(metricValue(text, name, match ?? ''))]))
    }, () => {})
  }, SAMPLE_MS)

  console.log(`[${target}] ramping ${cars} cars at ${rampPerS}/s over ${procs} simulator processes`)
  const rampDeadline = t0 + (cars / rampPerS + 60) * 1_000
  await sims.untilConnected(cars, rampDeadline, 500)
  const rampS = Math.round((performance.now() - t0) / 1_000)
  await sleep(Math.min(10_000, intervalMs * 2)) // every car has started its publish timer
  console.log(`[${target}] ${sims.connected()} cars connected after ${rampS} s; holding ${durationS} s`)

  e2e = []
  const consumed0 = consumed
  const hold0 = performance.now()
  const cpu0 = { server: cpuOf(server.pid), sims: sims.cpu(), kafka: cpuOf(kafkaPid) }
  let rssPeak = rssBytes(server.pid)
  const peak = setInterval(() => { rssPeak = Math.max(rssPeak, rssBytes(server.pid)) }, 1_000)
  await sleep(durationS * 1_000)
  clearInterval(peak)
  const secs = (performance.now() - hold0) / 1_000
  const cores = {
    server: round2((cpuOf(server.pid) - cpu0.server) / secs),
    simulators: round2((sims.cpu() - cpu0.sims) / secs),
    kafka: target === 'fleet' ? round2((cpuOf(kafkaPid) - cpu0.kafka) / secs) : 0
  }
  const rss = rssBytes(server.pid)
  const w = sims.window(hold0)
  const connected = sims.connected()
  const errors = sims.errors()
  clearInterval(sampler)
  await sims.stop()
  await consumer?.disconnect()
  await server.stop()

  e2e.sort((a, b) => a - b)
  const result = {
    target,
    server: target === 'mosquitto' ? 'Debian Mosquitto 2.0 (anonymous, no persistence, writes nowhere)' : 'fleet broker process: auth, ACL, Redis sessions, every message in Kafka (acks=all) before its PUBACK',
    connectedCars: connected,
    rampSeconds: rampS,
    ackedPerSecond: w.ackedPerS,
    kafkaRecordsPerSecond: target === 'fleet' ? Math.round((consumed - consumed0) / secs) : null,
    pubackMs: { p50: pct(w.samples, 0.5), p95: pct(w.samples, 0.95), p99: pct(w.samples, 0.99), samples: w.samples.length },
    endToEndMs: target === 'fleet' ? { p50: pct(e2e, 0.5), p99: pct(e2e, 0.99), note: 'car clock (payload ts) to a Kafka consumer on the same machine; 1 in 16 records' } : null,
    errors,
    cores,
    serverRssMB: Math.round(rss / 2 ** 20),
    serverRssPeakMB: Math.round(rssPeak / 2 ** 20),
    serverKBPerCar: connected > 0 ? Math.round((rss - rssBefore) / connected / 102.4) / 10 : null
  }
  console.log(`[${target}] ${result.connectedCars} cars, ${result.ackedPerSecond} acked msg/s${result.kafkaRecordsPerSecond !== null ? ` (${result.kafkaRecordsPerSecond} records/s read back from Kafka)` : ''}, PUBACK p50 ${result.pubackMs.p50} / p95 ${result.pubackMs.p95} / p99 ${result.pubackMs.p99} ms${result.endToEndMs !== null ? `, end-to-end p50 ${result.endToEndMs.p50} / p99 ${result.endToEndMs.p99} ms` : ''}, errors ${errors}, cores: server ${cores.server}, simulators ${cores.simulators}, kafka ${cores.kafka}; server RSS ${result.serverRssMB} MB (${result.serverKBPerCar} KB/car)`)
  return result
}

const samples: Sample[] = []
const phases = []
for (const [i, target] of targets.entries()) {
  if (i > 0) await sleep(5_000)
  phases.push(await runPhase(target, samples))
}
const m = phases.find(p => p.target === 'mosquitto')
const f = phases.find(p => p.target === 'fleet')
const ratio = (a: number | null | undefined, b: number | null | undefined) => a == null || b == null || b === 0 ? null : round2(a / b)
const fleetVsMosquitto = m && f
  ? {
      ackedPerSecond: ratio(f.ackedPerSecond, m.ackedPerSecond),
      pubackP50: ratio(f.pubackMs.p50, m.pubackMs.p50),
      pubackP99: ratio(f.pubackMs.p99, m.pubackMs.p99),
      serverCores: ratio(f.cores.server, m.cores.server),
      serverKBPerCar: ratio(f.serverKBPerCar, m.serverKBPerCar)
    }
  : null
if (fleetVsMosquitto) console.log(`fleet / Mosquitto: throughput ×${fleetVsMosquitto.ackedPerSecond}, PUBACK p50 ×${fleetVsMosquitto.pubackP50}, p99 ×${fleetVsMosquitto.pubackP99}, server CPU ×${fleetVsMosquitto.serverCores}, RSS per car ×${fleetVsMosquitto.serverKBPerCar}`)

const summary = {
  loadtest: 'local',
  when: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model },
  params: { cars, simulatorProcesses: procs, simulatorClient: simClient, intervalMs, durationS, rampPerS, targets },
  phases,
  fleetVsMosquitto,
  samples
}
mkdirSync(`${root}/results`, { recursive: true })
writeFileSync(`${root}/${out}`, JSON.stringify(summary, null, 2) + '\n')

const bars = phases.flatMap(p => [
  { target: p.target, what: 'PUBACK p50 (ms)', value: p.pubackMs.p50 },
  { target: p.target, what: 'PUBACK p99 (ms)', value: p.pubackMs.p99 },
  { target: p.target, what: 'server cores', value: p.cores.server },
  { target: p.target, what: 'Kafka cores', value: p.cores.kafka },
  { target: p.target, what: 'server KB per car', value: p.serverKBPerCar }
])
const color = { field: 'target', type: 'nominal', title: null, scale: { domain: ['mosquitto', 'fleet'], range: ['#9a9a9a', '#1f77b4'] } } as const
await writeChart(`${root}/${chartPath}`, {
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  title: { text: `loadtest:local — ${cars.toLocaleString('en')} cars, QoS 1 every ${intervalMs / 1_000} s, same simulators: Mosquitto vs fleet (→ Kafka)`, subtitle: `${summary.when.slice(0, 10)}, ${summary.machine.cpus} cores (${summary.machine.model ?? ''}); load generator and Kafka on the same machine` },
  vconcat: [
    {
      hconcat: [
        { width: 360, height: 180, data: { values: samples }, mark: 'line', encoding: { x: { field: 't', type: 'quantitative', title: 'seconds since start' }, y: { field: 'ackedPerS', type: 'quantitative', title: 'acknowledged msg/s' }, color } },
        { width: 360, height: 180, data: { values: samples }, mark: 'line', encoding: { x: { field: 't', type: 'quantitative', title: 'seconds since start' }, y: { field: 'connected', type: 'quantitative', title: 'connected cars' }, color } }
      ]
    },
    {
      data: { values: bars },
      facet: { field: 'what', type: 'nominal', title: null },
      columns: 5,
      spec: { width: 110, height: 140, mark: 'bar', encoding: { x: { field: 'target', type: 'nominal', title: null, sort: ['mosquitto', 'fleet'] }, y: { field: 'value', type: 'quantitative', title: null }, color } },
      resolve: { scale: { y: 'independent' } }
    }
  ]
} as never)
console.log(`wrote ${out} and ${chartPath}`)
process.exit(0)
