// bench:held-memory — a broker pod's RSS under a full-window Kafka outage at fleet density
// (issue #21, point 8): CARS raw MQTT connections to one broker process; Kafka is paused
// (SIGSTOP of the stack's own Kafka process, SIGCONT after); every car then sends its whole
// in-flight window (FLEET_MAX_INFLIGHT_PER_CAR, 64) of realistic telemetry, one message per car per
// round as cars do, and gets no PUBACK. Prints the broker's RSS before and at its peak, the messages
// it read and the bytes it held, for FLEET_HELD_BYTES_PER_POD as set (default 256 MiB; 0 = off).
//   CARS=4000 WINDOW=64 HELD_BYTES=268435456 npm run bench:held-memory   (needs the stack up)
import { execFileSync } from 'node:child_process'
import { Redis } from 'ioredis'
import { readFileSync } from 'node:fs'
import { connect } from 'node:net'
import mqttPacket, { type Packet } from 'mqtt-packet'
import { validTelemetry } from '../services/shared/src/telemetry-samples.js'
import { MqttTopics } from '../services/shared/src/topics.js'
import { provisionBulk } from '../services/shared/src/credential-store.js'
import { loadBrokerConfig } from '../services/broker/src/broker-config.js'
import { metricValue, startBrokerProcess } from '../test/helpers/broker-process.js'
import { connectPacket } from '../test/helpers/raw-mqtt.js'

const env = (k: string, d: number) => Number(process.env[k] ?? d)
const CARS = env('CARS', 4_000)
const WINDOW = env('WINDOW', 64)
const HELD = String(env('HELD_BYTES', 268_435_456))
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
const rssMB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024
const kafkaPid = Number(/kafka: running \(pid (\d+)\)/.exec(execFileSync('bash', ['scripts/stack.sh', 'status']).toString())![1])

const broker = await startBrokerProcess(`held-${process.pid}`, { FLEET_HELD_BYTES_PER_POD: HELD, FLEET_MAX_INFLIGHT_PER_CAR: String(WINDOW), FLEET_CONNECT_RATE_PER_S: '100000', FLEET_MAX_CONNECTIONS: String(CARS + 100), FLEET_LOG_LEVEL: 'error' })
const pid = broker.child.pid!
const redis = new Redis(loadBrokerConfig().redisUrl)
const passwords = await provisionBulk(redis, Array.from({ length: CARS }, (_, i) => `held-${process.pid}-${i}`))
redis.disconnect()
const sockets = []
try {
  for (let i = 0; i < CARS; i += 200) {
    sockets.push(...await Promise.all(Array.from({ length: Math.min(200, CARS - i) }, async (_, j) => {
      const id = `held-${process.pid}-${i + j}`
      const s = connect({ host: '127.0.0.1', port: broker.mqttPort })
      s.on('error', () => {})
      await new Promise<void>(resolve => s.once('connect', () => resolve()))
      s.write(connectPacket(id, id, passwords.get(id)!))
      await new Promise<void>(resolve => s.once('data', () => resolve()))
      s.on('data', () => {})
      return { id, s }
    })))
    await sleep(150) // under the pod's connect rate
  }
  await sleep(2_000)
  const rss0 = rssMB(pid)
  const sample = (await broker.metrics())
  const payload = JSON.stringify(validTelemetry('held-0000', 0)).length
  process.kill(kafkaPid, 'SIGSTOP')
  let peak = rss0
  const t0 = Date.now()
  try {
    for (let seq = 0; seq < WINDOW; seq++) {
      for (const c of sockets) c.s.write(mqttPacket.generate({ cmd: 'publish', topic: MqttTopics.telemetry(c.id), payload: Buffer.from(JSON.stringify(validTelemetry(c.id, seq))), qos: 1, messageId: seq + 1, retain: false, dup: false } as Packet))
      peak = Math.max(peak, rssMB(pid))
      await sleep(50)
    }
    let read = -1
    for (;;) {
      await sleep(2_000)
      peak = Math.max(peak, rssMB(pid))
      const now = metricValue(await broker.metrics(), 'fleet_broker_messages_in_total')
      if (now === read) break
      read = now
    }
    const text = await broker.metrics()
    console.log(JSON.stringify({
      cars: CARS,
      window: WINDOW,
      payloadBytes: payload,
      heldBytesPerPod: Number(HELD),
      messagesRead: metricValue(text, 'fleet_broker_messages_in_total'),
      messagesSent: CARS * WINDOW,
      heldBytes: metricValue(text, 'fleet_broker_held_bytes'),
      readPaused: metricValue(text, 'fleet_broker_read_paused'),
      rssBeforeMB: Math.round(rss0),
      rssPeakMB: Math.round(peak),
      seconds: Math.round((Date.now() - t0) / 1000),
      connectedBefore: metricValue(sample, 'fleet_broker_connections'),
      refusedAtConnect: metricValue(sample, 'fleet_broker_refused_total')
    }))
  } finally {
    process.kill(kafkaPid, 'SIGCONT')
  }
} finally {
  for (const c of sockets) c.s.destroy()
  await broker.kill('SIGKILL')
}
