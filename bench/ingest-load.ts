// Load process for bench:ingest: CARS mqtt.js cars, each keeping INFLIGHT QoS 1 telemetry
// messages in flight for DURATION_S seconds. Prints one JSON line with counts and PUBACK latencies.
import mqtt from 'mqtt'
import { validTelemetry } from '../services/shared/src/telemetry-samples.js'
import { MqttTopics } from '../services/shared/src/topics.js'
import { provisionForLoad } from '../services/shared/src/load-credentials.js'

const env = (k: string, d: number) => Number(process.env[k] ?? d)
const port = env('PORT', 1883)
const cars = env('CARS', 50)
const inflight = env('INFLIGHT', 20)
const durationMs = env('DURATION_S', 20) * 1_000
const warmupMs = env('WARMUP_S', 3) * 1_000
const prefix = process.env.PREFIX ?? 'bench'
const qos = env('QOS', 1) as 0 | 1

const latencies: number[] = []
let acked = 0
let ackedAll = 0 // warm-up included
let errors = 0
let measuring = false
let running = true

const passwords = await provisionForLoad(process.env.FLEET_REDIS_URL ?? 'redis://127.0.0.1:16379', Array.from({ length: cars }, (_, i) => `${prefix}-${i}`))
const clients = await Promise.all(Array.from({ length: cars }, (_, i) => {
  const id = `${prefix}-${i}`
  const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
    clientId: id, username: id, password: passwords.get(id)!, protocolVersion: 4, reconnectPeriod: 0, keepalive: 30
  })
  return new Promise<{ id: string, c: mqtt.MqttClient }>((resolve, reject) => {
    c.once('connect', () => resolve({ id, c }))
    c.once('error', reject)
  })
}))

const loops = clients.map(({ id, c }) => {
  const topic = MqttTopics.telemetry(id)
  const payloads = Array.from({ length: 64 }, (_, s) => Buffer.from(JSON.stringify(validTelemetry(id, s))))
  let seq = 0
  return new Promise<void>(resolve => {
    let open = 0
    const send = () => {
      if (!running) {
        if (open === 0) resolve()
        return
      }
      open++
      const t0 = performance.now()
      c.publish(topic, payloads[seq++ % payloads.length]!, { qos }, err => {
        open--
        if (err) errors++
        else ackedAll++
        if (!err && measuring) {
          acked++
          if ((acked & 7) === 0) latencies.push(performance.now() - t0)
        }
        send()
      })
    }
    for (let k = 0; k < inflight; k++) send()
  })
})

await new Promise(resolve => setTimeout(resolve, warmupMs))
measuring = true
const started = performance.now()
await new Promise(resolve => setTimeout(resolve, durationMs))
measuring = false
const elapsedS = (performance.now() - started) / 1_000
running = false
await Promise.race([Promise.all(loops), new Promise(resolve => setTimeout(resolve, 10_000))])
await Promise.all(clients.map(({ c }) => c.endAsync()))
latencies.sort((a, b) => a - b)
const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN
console.log(JSON.stringify({ acked, ackedAll, errors, elapsedS, p50: q(0.5), p99: q(0.99), max: latencies.at(-1) ?? NaN }))
