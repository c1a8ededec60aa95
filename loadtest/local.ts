// loadtest:local — the Node simulator drives a fleet against a broker process on the local stack
// (real Kafka and Redis): CARS cars over SIM_PROCS simulator processes, each car publishing QoS 1
// telemetry every INTERVAL_MS. Prints and writes results/loadtest-local.json: connected cars,
// acknowledged messages/s, PUBACK p50/p99 (reported by the simulators), end-to-end latency from the
// car's clock to a Kafka consumer, errors, and the broker's CPU and RSS. Bounded: it ramps, holds
// for DURATION_S and stops everything it started.
//   CARS=10000 SIM_PROCS=2 INTERVAL_MS=1000 DURATION_S=60 npm run loadtest:local
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { randomUUID } from 'node:crypto'
import { cpuSeconds, rssBytes } from '../bench/proc-stats.js'
import { createKafka } from '../services/shared/src/kafka.js'
import { createLogger } from '../services/shared/src/logger.js'
import { KafkaTopics } from '../services/shared/src/topics.js'
import { startBrokerProcess } from '../test/helpers/broker-process.js'

const env = (k: string, d: number) => Number(process.env[k] ?? d)
const cars = env('CARS', 10_000)
const procs = env('SIM_PROCS', Math.max(1, Math.ceil(cars / 5_000)))
const intervalMs = env('INTERVAL_MS', 1_000)
const durationS = env('DURATION_S', 60)
const rampPerS = env('RAMP_PER_S', 1_000)
const root = new URL('..', import.meta.url).pathname
const prefix = `local-${Date.now().toString(36)}`

const broker = await startBrokerProcess(`loadtest-${prefix}`, { FLEET_MAX_CONNECTIONS: '19500', FLEET_CONNECT_RATE_PER_S: '100000', FLEET_LOG_LEVEL: 'warn' })
const pid = broker.child.pid!
const sims: ChildProcess[] = []
const reports = new Map<number, { connected: number, ackedPerS: number, pubackP50Ms: number | null, pubackP99Ms: number | null, errors: number }>()
const perProc = Math.ceil(cars / procs)
for (let i = 0; i < procs; i++) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'services/simulator/src/main.ts'], {
    cwd: root,
    env: {
      ...process.env,
      FLEET_SIM_MQTT_URL: `mqtt://127.0.0.1:${broker.mqttPort}`,
      FLEET_SIM_CARS: String(Math.min(perProc, cars - i * perProc)),
      FLEET_SIM_FIRST_CAR: String(i * perProc),
      FLEET_SIM_ID_PREFIX: prefix,
      FLEET_SIM_INTERVAL_MS: String(intervalMs),
      FLEET_SIM_RAMP_PER_S: String(Math.ceil(rampPerS / procs)),
      FLEET_SIM_REPORT_MS: '5000',
      FLEET_LOG_LEVEL: 'info'
    },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  let buf = ''
  child.stdout!.on('data', d => {
    buf += d
    let nl
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      try {
        const r = JSON.parse(line)
        if (r.msg === 'fleet') reports.set(i, r)
      } catch {}
    }
  })
  sims.push(child)
}

// End-to-end: car clock (ts in the payload) → record read from Kafka by a consumer of our own.
const kafka = createKafka({ kafkaBrokers: (process.env.FLEET_KAFKA_BROKERS ?? '127.0.0.1:19092').split(','), kafkaClientId: 'loadtest' }, createLogger('loadtest', 'warn'))
const consumer = kafka.consumer({ groupId: `loadtest-${randomUUID()}` })
await consumer.connect()
await consumer.subscribe({ topic: KafkaTopics.telemetry, fromBeginning: false })
let e2e: number[] = []
let consumed = 0
await consumer.run({
  eachBatch: async ({ batch }) => {
    const now = Date.now()
    for (const m of batch.messages) {
      if (m.key?.toString().startsWith(prefix) !== true) continue
      consumed++
      if ((consumed & 15) === 0) e2e.push(now - JSON.parse(m.value!.toString()).ts)
    }
  }
})

const rampS = Math.ceil(cars / rampPerS) + 5
console.log(`ramping ${cars} cars over ${procs} simulator processes (~${rampS} s), then holding ${durationS} s`)
await new Promise(resolve => setTimeout(resolve, rampS * 1_000))
e2e = []
const cpu0 = cpuSeconds(pid)
const consumed0 = consumed
const t0 = performance.now()
let rssPeak = rssBytes(pid)
const samples: Array<{ t: number, connected: number, ackedPerS: number }> = []
const sampler = setInterval(() => {
  rssPeak = Math.max(rssPeak, rssBytes(pid))
  const rs = [...reports.values()]
  samples.push({ t: Math.round((performance.now() - t0) / 1000), connected: rs.reduce((n, r) => n + r.connected, 0), ackedPerS: rs.reduce((n, r) => n + r.ackedPerS, 0) })
}, 5_000)
await new Promise(resolve => setTimeout(resolve, durationS * 1_000))
clearInterval(sampler)
const secs = (performance.now() - t0) / 1_000
const brokerCpu = (cpuSeconds(pid) - cpu0) / secs
const rss = rssBytes(pid)
const final = [...reports.values()]
for (const s of sims) s.kill('SIGTERM')
await Promise.all(sims.map(s => new Promise(resolve => s.exitCode !== null ? resolve(null) : s.once('exit', resolve))))
await consumer.disconnect()
await broker.kill('SIGTERM')

e2e.sort((a, b) => a - b)
const q = (p: number) => e2e.length === 0 ? null : e2e[Math.min(e2e.length - 1, Math.floor(p * e2e.length))]!
const summary = {
  loadtest: 'local',
  when: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model },
  params: { cars, simulatorProcesses: procs, intervalMs, durationS },
  connectedCars: final.reduce((n, r) => n + r.connected, 0),
  ackedPerSecond: final.reduce((n, r) => n + r.ackedPerS, 0),
  kafkaRecordsPerSecond: Math.round((consumed - consumed0) / secs),
  pubackMs: { p50: Math.max(...final.map(r => r.pubackP50Ms ?? 0)), p99: Math.max(...final.map(r => r.pubackP99Ms ?? 0)) },
  endToEndMs: { p50: q(0.5), p99: q(0.99), note: 'car clock (payload ts) to a Kafka consumer on the same machine; sampled 1 in 16' },
  errors: final.reduce((n, r) => n + r.errors, 0),
  broker: { cpuCores: Math.round(brokerCpu * 100) / 100, rssMB: Math.round(rss / 2 ** 20), rssPeakMB: Math.round(rssPeak / 2 ** 20) },
  samples
}
console.log(`local: ${summary.connectedCars} cars connected, ${summary.ackedPerSecond} acked msg/s (${summary.kafkaRecordsPerSecond} records/s read back from Kafka), PUBACK p50 ${summary.pubackMs.p50} ms p99 ${summary.pubackMs.p99} ms (worst simulator), end-to-end p50 ${summary.endToEndMs.p50} ms p99 ${summary.endToEndMs.p99} ms, errors ${summary.errors}, broker ${summary.broker.cpuCores} cores, RSS ${summary.broker.rssMB} MB (peak ${summary.broker.rssPeakMB})`)
mkdirSync(`${root}/results`, { recursive: true })
writeFileSync(`${root}/results/loadtest-local.json`, JSON.stringify(summary, null, 2) + '\n')
process.exit(0)
