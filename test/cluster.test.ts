// Three broker pods as separate processes sharing Redis and Kafka: commands cross pods, a
// persistent session moves between pods, a second connection on another pod takes the session
// over, and a pod drained with SIGTERM under load loses no acknowledged telemetry.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import mqtt, { type MqttClient } from 'mqtt'
import type { Command } from '../services/shared/src/command-schema.js'
import { validTelemetry } from '../services/shared/src/telemetry-samples.js'
import { KafkaTopics, MqttTopics } from '../services/shared/src/topics.js'
import { metricValue, startBrokerProcesses, type BrokerProcess } from './helpers/broker-process.js'
import { connectCar, uniqueFleetPrefix } from './helpers/cars.js'
import { collect, endOffsets } from './helpers/kafka.js'
import { sessionSubscriptionsKey } from '../services/broker/src/mqtt-engine/index.js'
import { loadBrokerConfig } from '../services/broker/src/broker-config.js'
import { carPassword, servicePassword } from './helpers/credentials.js'

const prefix = uniqueFleetPrefix('cluster')
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
let pods: BrokerProcess[] = []
let A: BrokerProcess, B: BrokerProcess, C: BrokerProcess
const redis = new Redis(loadBrokerConfig().redisUrl, { lazyConnect: true })

before(async () => {
  await redis.connect()
  pods = await startBrokerProcesses(['a', 'b', 'c'].map(p => `${prefix}-${p}`), { FLEET_BROKER_DRAIN_MS: '10000' })
  ;[A, B, C] = pods as [BrokerProcess, BrokerProcess, BrokerProcess]
})
after(async () => {
  await Promise.all(pods.map(p => p.kill('SIGKILL')))
  redis.disconnect()
})

const commander = async (pod: BrokerProcess) => connectCar('service:commander', pod.mqttPort, { clientId: `service:commander:${pod.id}`, password: await servicePassword() })
let n = 0
const command = (vehicleId: string): Command => ({ commandId: `${prefix}-c${++n}`, vehicleId, type: 'lock', params: {}, createdAt: new Date().toISOString(), expiresAt: new Date(Date.now() + 60_000).toISOString() })
const inbox = (car: MqttClient) => {
  const got: string[] = []
  car.on('message', (_t, p) => got.push(JSON.parse(p.toString()).commandId))
  return got
}
async function until (what: string, ok: () => boolean, ms = 10_000) {
  const deadline = Date.now() + ms
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`)
    await sleep(20)
  }
}

test('a command published on pod A reaches a car on pod C', async () => {
  const id = `${prefix}-ac`
  const car = await connectCar(id, C.mqttPort)
  await car.subscribeAsync(MqttTopics.commands(id), { qos: 1 })
  const got = inbox(car)
  const cmdr = await commander(A)
  const cmd = command(id)
  await cmdr.publishAsync(MqttTopics.commands(id), JSON.stringify(cmd), { qos: 1 })
  await until('delivered across pods', () => got.length === 1)
  assert.deepEqual(got, [cmd.commandId])
  await Promise.all([car.endAsync(), cmdr.endAsync()])
})

test('a persistent session left on A gets a command sent while away, on B, exactly once', async () => {
  const id = `${prefix}-move`
  const first = await connectCar(id, A.mqttPort, { clean: false })
  await first.subscribeAsync(MqttTopics.commands(id), { qos: 1 })
  await first.endAsync()
  // the session holds the subscription; the fleet-wide index every pod loads does not (session-index.ts)
  assert.equal(await redis.hexists(sessionSubscriptionsKey(id), MqttTopics.commands(id)), 1)
  assert.equal(await redis.sismember('clients', id), 0)
  const cmdr = await commander(C)
  const cmd = command(id)
  await cmdr.publishAsync(MqttTopics.commands(id), JSON.stringify(cmd), { qos: 1 })
  const back = await connectCar(id, B.mqttPort, { clean: false })
  const got = inbox(back)
  await until('queued command delivered on B', () => got.length >= 1)
  await sleep(500)
  assert.deepEqual(got, [cmd.commandId], 'exactly once')
  // the session now lives on B: the next command reaches it there too
  const next = command(id)
  await cmdr.publishAsync(MqttTopics.commands(id), JSON.stringify(next), { qos: 1 })
  await until('next command', () => got.length === 2)
  assert.deepEqual(got, [cmd.commandId, next.commandId])
  await Promise.all([back.endAsync(), cmdr.endAsync()])
})

test('a persistent session that unsubscribed from its commands, or never subscribed, has nothing queued for it', async () => {
  const left = `${prefix}-left`
  const never = `${prefix}-never`
  const car = await connectCar(left, A.mqttPort, { clean: false })
  await car.subscribeAsync(MqttTopics.commands(left), { qos: 1 })
  await car.unsubscribeAsync(MqttTopics.commands(left))
  await car.endAsync()
  await (await connectCar(never, B.mqttPort, { clean: false })).endAsync()
  const cmdr = await commander(C)
  for (const id of [left, never]) await cmdr.publishAsync(MqttTopics.commands(id), JSON.stringify(command(id)), { qos: 1 })
  await sleep(300)
  assert.deepEqual(await Promise.all([left, never].map(id => redis.llen(`outgoing:${id}`))), [0, 0])
  const back = await connectCar(left, B.mqttPort, { clean: false })
  const got = inbox(back)
  await sleep(500)
  assert.deepEqual(got, [])
  await Promise.all([back.endAsync(), cmdr.endAsync()])
})

test('connecting on B with a client id held on A takes the session over: A drops the old connection', async () => {
  const id = `${prefix}-takeover`
  const old = await connectCar(id, A.mqttPort, { clean: false })
  await old.subscribeAsync(MqttTopics.commands(id), { qos: 1 })
  const closed = new Promise<void>(resolve => old.once('close', () => resolve()))
  const fresh = await connectCar(id, B.mqttPort, { clean: false })
  await closed
  assert.equal(old.connected, false)
  const got = inbox(fresh)
  const cmdr = await commander(C)
  const cmd = command(id)
  await cmdr.publishAsync(MqttTopics.commands(id), JSON.stringify(cmd), { qos: 1 })
  await until('command to the new connection', () => got.length === 1)
  old.end(true)
  await Promise.all([fresh.endAsync(), cmdr.endAsync()])
})

test('SIGTERM on a pod under load: it drains, cars move to the others, no acknowledged telemetry is lost', async () => {
  const start = await endOffsets(KafkaTopics.telemetry)
  const CARS = 12
  const acked = new Map<string, Set<number>>()
  let publishing = true
  const cars = await Promise.all(Array.from({ length: CARS }, async (_, i) => {
    const id = `${prefix}-drain-${i}`
    acked.set(id, new Set())
    // every car starts on A and fails over to B or C (mqtt.js walks its server list on reconnect)
    const others = i % 2 === 0 ? [B, C] : [C, B]
    const car = mqtt.connect({
      servers: [A, ...others].map(p => ({ host: '127.0.0.1', port: p.mqttPort })),
      clientId: id,
      username: id,
      password: await carPassword(id),
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: 200,
      keepalive: 10
    })
    await new Promise(resolve => car.once('connect', resolve))
    return { id, car }
  }))
  const loops = cars.map(async ({ id, car }) => {
    let seq = 0
    while (publishing) {
      const batch = Array.from({ length: 4 }, () => seq++)
      await Promise.all(batch.map(async s => {
        await car.publishAsync(MqttTopics.telemetry(id), JSON.stringify(validTelemetry(id, s)), { qos: 1 })
        acked.get(id)!.add(s)
      }))
    }
    return seq
  })
  const total = () => [...acked.values()].reduce((k, s) => k + s.size, 0)
  await sleep(2_000)
  const beforeDrain = total()
  assert.ok(beforeDrain > 200, `load flowing (${beforeDrain})`)
  const code = await A.kill('SIGTERM')
  assert.equal(code, 0, 'A exits cleanly after draining')
  await until('load continues on B and C', () => total() > beforeDrain + 1_000, 30_000)
  publishing = false
  const sent = await Promise.all(loops)
  await Promise.all(cars.map(({ car }) => car.endAsync()))
  const bc = await Promise.all([B, C].map(p => p.metrics()))
  assert.ok(bc.every(m => metricValue(m, 'fleet_broker_messages_in_total', 'class="telemetry"') > 0), 'both survivors took cars')

  const telemetry = await collect(KafkaTopics.telemetry, key => key.startsWith(`${prefix}-drain-`), start)
  await telemetry.waitFor(r => {
    const seen = new Set(r.map(x => `${x.key}/${JSON.parse(x.value.toString()).seq}`))
    return [...acked].every(([id, seqs]) => [...seqs].every(s => seen.has(`${id}/${s}`)))
  }, 60_000)
  await telemetry.stop()
  const published = sent.reduce((a, b) => a + b, 0)
  const unique = new Set(telemetry.records.map(x => `${x.key}/${JSON.parse(x.value.toString()).seq}`)).size
  console.log(`drain: ${total()} acknowledged of ${published} published, ${telemetry.records.length} records, ${telemetry.records.length - unique} duplicates`)
  assert.equal(total(), published, 'every published message was eventually acknowledged')
})
