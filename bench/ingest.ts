// bench:ingest — M cars publish QoS 1 telemetry into one broker process with real Kafka ingest for
// a fixed time. Prints and writes results/bench-ingest.json: acknowledged messages/s, PUBACK
// latency p50/p99, broker CPU and RSS. Needs the stack (scripts/stack.sh up).
//   CARS=50 INFLIGHT=20 DURATION_S=20 LOAD_PROCS=1 npm run bench:ingest
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { cpus } from 'node:os'
import { cpuSeconds, rssBytes } from './proc-stats.js'

const env = (k: string, d: number) => Number(process.env[k] ?? d)
const cars = env('CARS', 50)
const inflight = env('INFLIGHT', 20)
const durationS = env('DURATION_S', 20)
const loadProcs = env('LOAD_PROCS', 1)
const root = new URL('..', import.meta.url).pathname

const freePort = () => new Promise<number>(resolve => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address() as { port: number }
    s.close(() => resolve(port))
  })
})

function waitReady (url: string, child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    child.once('exit', code => reject(new Error(`broker exited with ${code}`)))
    const poll = async () => {
      try {
        if ((await fetch(url)).ok) return resolve()
      } catch {}
      setTimeout(poll, 200)
    }
    void poll()
  })
}

const [mqttPort, opsPort] = [await freePort(), await freePort()]
const broker = spawn(process.execPath, ['--import', 'tsx', 'services/broker/src/main.ts'], {
  cwd: root,
  env: { ...process.env, FLEET_MQTT_PORT: String(mqttPort), FLEET_MQTT_WS_PORT: '-1', FLEET_BROKER_OPS_PORT: String(opsPort), FLEET_LOG_LEVEL: 'warn', FLEET_BROKER_ID: 'bench' },
  stdio: ['ignore', 'inherit', 'inherit']
})
await waitReady(`http://127.0.0.1:${opsPort}/readyz`, broker)
const rssIdle = rssBytes(broker.pid!)

const perProc = Math.ceil(cars / loadProcs)
const loads = Array.from({ length: loadProcs }, (_, i) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/ingest-load.ts'], {
    cwd: root,
    env: { ...process.env, PORT: String(mqttPort), CARS: String(perProc), INFLIGHT: String(inflight), DURATION_S: String(durationS), PREFIX: `bench-${i}` },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  let out = ''
  child.stdout!.on('data', d => { out += d })
  return new Promise<{ acked: number, errors: number, elapsedS: number, p50: number, p99: number }>((resolve, reject) =>
    child.on('exit', code => code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1)!)) : reject(new Error(`load process exited with ${code}`))))
})

// Sample the broker's CPU over the measured window (after the load's 3 s warm-up).
await new Promise(resolve => setTimeout(resolve, 3_500))
const cpu0 = cpuSeconds(broker.pid!)
const t0 = performance.now()
let rssPeak = rssBytes(broker.pid!)
const sampler = setInterval(() => { rssPeak = Math.max(rssPeak, rssBytes(broker.pid!)) }, 500)
await new Promise(resolve => setTimeout(resolve, (durationS - 1) * 1_000))
const brokerCpu = (cpuSeconds(broker.pid!) - cpu0) / ((performance.now() - t0) / 1_000)
clearInterval(sampler)
const results = await Promise.all(loads)
broker.kill('SIGTERM')
await new Promise(resolve => broker.once('exit', resolve))

const acked = results.reduce((n, r) => n + r.acked, 0)
const elapsed = Math.max(...results.map(r => r.elapsedS))
const summary = {
  bench: 'ingest',
  when: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model },
  params: { cars, inflight, durationS, loadProcs, qos: 1, payloadBytes: 'about 600 (validTelemetry JSON)' },
  ackedPerSecond: Math.round(acked / elapsed),
  acked,
  errors: results.reduce((n, r) => n + r.errors, 0),
  pubackMs: { p50: Math.max(...results.map(r => r.p50)), p99: Math.max(...results.map(r => r.p99)) },
  broker: { cpuCores: Number(brokerCpu.toFixed(2)), rssIdleMB: Math.round(rssIdle / 2 ** 20), rssPeakMB: Math.round(rssPeak / 2 ** 20) }
}
console.log(`ingest: ${summary.ackedPerSecond} acknowledged msg/s (${cars} cars × ${inflight} in flight, ${durationS} s), PUBACK p50 ${summary.pubackMs.p50.toFixed(1)} ms p99 ${summary.pubackMs.p99.toFixed(1)} ms, broker ${summary.broker.cpuCores} cores, RSS ${summary.broker.rssIdleMB} → ${summary.broker.rssPeakMB} MB, errors ${summary.errors}`)
mkdirSync(`${root}/results`, { recursive: true })
writeFileSync(`${root}/results/bench-ingest.json`, JSON.stringify(summary, null, 2) + '\n')
