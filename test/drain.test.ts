// A broker pod told to stop (SIGTERM) moves its cars away at FLEET_BROKER_DRAIN_RATE_PER_S, not
// all at once: the cars reconnect to the other pod as a stream, every message acknowledged is in
// Kafka, every message sent is acknowledged in the end, and the pod exits within its drain time.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import mqtt, { type MqttClient } from 'mqtt'
import { validTelemetry } from '../services/shared/src/telemetry-samples.js'
import { KafkaTopics, MqttTopics } from '../services/shared/src/topics.js'
import { startBrokerProcesses, type BrokerProcess } from './helpers/broker-process.js'
import { uniqueFleetPrefix } from './helpers/cars.js'
import { carPassword } from './helpers/credentials.js'
import { collect, endOffsets } from './helpers/kafka.js'

const prefix = uniqueFleetPrefix('drain')
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
const CARS = 300
const RATE = 100
let A: BrokerProcess, B: BrokerProcess

before(async () => {
  ;[A, B] = await startBrokerProcesses([`${prefix}-a`, `${prefix}-b`], { FLEET_BROKER_DRAIN_MS: '20000', FLEET_BROKER_DRAIN_RATE_PER_S: String(RATE) }) as [BrokerProcess, BrokerProcess]
})
after(async () => {
  await Promise.all([A, B].map(p => p.kill('SIGKILL')))
})

test(`SIGTERM: ${CARS} cars leave at ${RATE}/s, reconnect to the other pod, nothing acknowledged is lost`, async () => {
  const start = await endOffsets(KafkaTopics.telemetry)
  const acked = new Map<string, Set<number>>()
  const closedAt: number[] = []
  const reconnectMs: number[] = []
  let refused = 0
  let publishing = true
  const cars: Array<{ id: string, car: MqttClient }> = []
  for (let i = 0; i < CARS; i++) {
    const id = `${prefix}-${i}`
    acked.set(id, new Set())
    const car = mqtt.connect({
      servers: [A, B].map(p => ({ host: '127.0.0.1', port: p.mqttPort })),
      clientId: id,
      username: id,
      password: await carPassword(id),
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: 100,
      keepalive: 30,
      reconnectOnConnackError: true
    })
    let lost = 0
    car.on('close', () => {
      if (lost === 0) closedAt.push(performance.now())
      if (lost === 0) lost = performance.now()
    })
    car.on('connect', () => {
      if (lost > 0) reconnectMs.push(performance.now() - lost)
      lost = 0
    })
    car.on('error', err => { if (typeof (err as { code?: unknown }).code === 'number') refused++ })
    await new Promise(resolve => car.once('connect', resolve))
    cars.push({ id, car })
  }
  const loops = cars.map(async ({ id, car }, i) => {
    await sleep(i % 200)
    let seq = 0
    while (publishing) {
      const s = seq++
      await car.publishAsync(MqttTopics.telemetry(id), JSON.stringify(validTelemetry(id, s)), { qos: 1 })
      acked.get(id)!.add(s)
      await sleep(200)
    }
    return seq
  })
  const total = () => [...acked.values()].reduce((k, s) => k + s.size, 0)
  await sleep(2_000)
  const beforeDrain = total()
  assert.ok(beforeDrain > CARS, `load flowing (${beforeDrain})`)

  const signalled = performance.now()
  const code = await A.kill('SIGTERM')
  const exitS = (performance.now() - signalled) / 1_000
  assert.equal(code, 0, 'A exits cleanly after draining')
  assert.ok(exitS < 20 + 10, `A exited within its drain time (${exitS.toFixed(1)} s)`)
  const deadline = Date.now() + 30_000
  while (reconnectMs.length < CARS && Date.now() < deadline) await sleep(100)
  assert.equal(closedAt.length, CARS, 'every car left A')
  assert.equal(reconnectMs.length, CARS, 'every car reconnected (to B)')

  // At RATE cars/s, CARS cars take CARS / RATE s; all at once would take a few ms.
  const sorted = closedAt.sort((a, b) => a - b)
  const spreadS = (sorted.at(-1)! - sorted[0]!) / 1_000
  const inFirstSecond = sorted.filter(t => t - sorted[0]! < 1_000).length
  assert.ok(spreadS >= 0.7 * CARS / RATE, `cars left over ${spreadS.toFixed(2)} s`)
  assert.ok(inFirstSecond <= RATE * 1.5, `${inFirstSecond} cars left in the first second`)

  const afterDrain = total()
  while (total() < afterDrain + CARS && Date.now() < deadline + 30_000) await sleep(100)
  publishing = false
  const sent = await Promise.all(loops)
  await Promise.all(cars.map(({ car }) => car.endAsync()))

  const telemetry = await collect(KafkaTopics.telemetry, key => key.startsWith(prefix), start)
  await telemetry.waitFor(r => {
    const seen = new Set(r.map(x => `${x.key}/${JSON.parse(x.value.toString()).seq}`))
    return [...acked].every(([id, seqs]) => [...seqs].every(s => seen.has(`${id}/${s}`)))
  }, 60_000)
  await telemetry.stop()
  const published = sent.reduce((a, b) => a + b, 0)
  assert.equal(total(), published, 'every published message was acknowledged in the end')
  const unique = new Set(telemetry.records.map(x => `${x.key}/${JSON.parse(x.value.toString()).seq}`)).size
  const r = reconnectMs.sort((a, b) => a - b)
  console.log(`# drain: ${CARS} cars left over ${spreadS.toFixed(2)} s (${inFirstSecond} in the first second), A exited after ${exitS.toFixed(1)} s; reconnect p50 ${Math.round(r[Math.floor(r.length / 2)]!)} ms, p99 ${Math.round(r[Math.floor(r.length * 0.99)]!)} ms; ${refused} CONNACK refusals; ${published} published, ${telemetry.records.length - unique} duplicates in Kafka`)
})
