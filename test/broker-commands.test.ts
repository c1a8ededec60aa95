// The broker's side of cloud-to-car commands and presence, with real Kafka and Redis: the
// commander's service account and ACL, delivery to online and offline (persistent-session) cars,
// no delivery after expiry, `delivered` and ack events on vehicle.command-events, and presence.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import type { MqttClient } from 'mqtt'
import type { Command } from '../services/shared/src/command-schema.js'
import { ONLINE_VEHICLES_KEY, presenceKey } from '../services/shared/src/presence.js'
import { KafkaTopics, MqttTopics } from '../services/shared/src/topics.js'
import { startTestBroker, type TestBroker } from './helpers/broker.js'
import { connackCode, connectCar, uniqueFleetPrefix } from './helpers/cars.js'
import { collect, type Collector } from './helpers/kafka.js'
import { carPassword, servicePassword } from './helpers/credentials.js'

const prefix = uniqueFleetPrefix('cmd')
let tb: TestBroker
let events: Collector
let dlq: Collector
let commander: MqttClient
let redis: Redis

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
const connectCommander = async (opts = {}) => connectCar('service:commander', 0, {
  url: `mqtt://127.0.0.1:${tb.mqttPort}`, clientId: 'service:commander:test', password: await servicePassword(), ...opts
})
let n = 0
const command = (vehicleId: string, ttlMs = 60_000): Command => ({
  commandId: `${prefix}-c${++n}`,
  vehicleId,
  type: 'flash-lights',
  params: { times: 2 },
  createdAt: new Date().toISOString(),
  expiresAt: new Date(Date.now() + ttlMs).toISOString()
})
const received = (car: MqttClient) => {
  const got: Command[] = []
  car.on('message', (_topic, payload) => got.push(JSON.parse(payload.toString())))
  return got
}
async function until (what: string, ok: () => boolean | Promise<boolean>, ms = 10_000) {
  const deadline = Date.now() + ms
  while (!await ok()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`)
    await sleep(20)
  }
}

before(async () => {
  tb = await startTestBroker()
  events = await collect(KafkaTopics.commandEvents, key => key.startsWith(prefix))
  dlq = await collect(KafkaTopics.telemetryDlq, key => key.startsWith(prefix))
  commander = await connectCommander()
  redis = new Redis(tb.config.redisUrl)
})
after(async () => {
  await commander?.endAsync()
  await events?.stop()
  await dlq?.stop()
  redis?.disconnect()
  await tb?.stop()
})

test('the commander\'s service account: right token only, client id must start with its user name', async () => {
  const url = `mqtt://127.0.0.1:${tb.mqttPort}`
  assert.equal(await connackCode('service:commander', 0, { url, clientId: 'service:commander', password: (await servicePassword()) } as never), 0)
  assert.equal(await connackCode('service:commander', 0, { url, clientId: 'service:commander', password: (await carPassword('commander')) } as never), 4)
  assert.equal(await connackCode('service:unknown', 0, { url, clientId: 'service:unknown', password: 'fc1.AAAAAAAAAAAAAAAA.' + 'A'.repeat(43) } as never), 4)
  assert.equal(await connackCode('service:commander', 0, { url, clientId: 'someone-else', password: (await servicePassword()) } as never), 2)
})

test('a command reaches an online car; its PUBACK and its ack become events on vehicle.command-events', async () => {
  const id = `${prefix}-online`
  const car = await connectCar(id, tb.mqttPort)
  await car.subscribeAsync(MqttTopics.commands(id), { qos: 1 })
  const got = received(car)
  const cmd = command(id)
  await commander.publishAsync(MqttTopics.commands(id), JSON.stringify(cmd), { qos: 1 })
  await until('command received', () => got.length === 1)
  assert.deepEqual(got[0], cmd)
  await car.publishAsync(MqttTopics.commandAck(id), JSON.stringify({ commandId: cmd.commandId, result: 'ok' }), { qos: 1 })
  await events.waitFor(r => r.filter(x => x.key === id).length >= 2)
  const statuses = events.records.filter(x => x.key === id).map(x => JSON.parse(x.value.toString()))
  assert.deepEqual(statuses.map(e => e.status).sort(), ['acknowledged', 'delivered'])
  for (const e of statuses) {
    assert.equal(e.commandId, cmd.commandId)
    assert.equal(e.vehicleId, id)
    assert.equal(e.source, `broker:${tb.broker.id}`)
  }
  await car.endAsync()
})

test('an offline car with a persistent session gets its command when it comes back', async () => {
  const id = `${prefix}-offline`
  const first = await connectCar(id, tb.mqttPort, { clean: false })
  await first.subscribeAsync(MqttTopics.commands(id), { qos: 1 })
  await first.endAsync()
  const cmd = command(id)
  await commander.publishAsync(MqttTopics.commands(id), JSON.stringify(cmd), { qos: 1 })
  // The PUBACK means the command is in the offline session's queue (stock aedes PUBACKs first
  // and queues after, so a car coming back in that moment would find the queue empty).
  const queued: Array<{ topic: string, payload: Buffer, qos: number }> = []
  for await (const packet of tb.broker.engine.queuedFor(id)) queued.push(packet)
  assert.equal(queued.length, 1, 'queued by the time of the PUBACK')
  assert.equal(queued[0]!.topic, MqttTopics.commands(id))
  assert.equal(queued[0]!.qos, 1)
  assert.equal(JSON.parse(queued[0]!.payload.toString()).commandId, cmd.commandId)
  const back = await connectCar(id, tb.mqttPort, { clean: false })
  const got = received(back)
  await until('queued command delivered', () => got.length === 1)
  assert.equal(got[0]?.commandId, cmd.commandId)
  await sleep(300)
  assert.equal(got.length, 1, 'exactly once')
  await back.endAsync()
})

test('a command that expired while the car was away is not delivered at all', async () => {
  const id = `${prefix}-expired`
  const first = await connectCar(id, tb.mqttPort, { clean: false })
  await first.subscribeAsync(MqttTopics.commands(id), { qos: 1 })
  await first.endAsync()
  const expiring = command(id, 300)
  const fresh = command(id)
  await commander.publishAsync(MqttTopics.commands(id), JSON.stringify(expiring), { qos: 1 })
  await commander.publishAsync(MqttTopics.commands(id), JSON.stringify(fresh), { qos: 1 })
  await sleep(600)
  const back = await connectCar(id, tb.mqttPort, { clean: false })
  const got = received(back)
  await until('fresh command delivered', () => got.length >= 1)
  await sleep(500)
  assert.deepEqual(got.map(c => c.commandId), [fresh.commandId])
  assert.ok(await tb.metric('fleet_broker_commands_total', { event: 'expired_not_forwarded' }) >= 1)
  await back.endAsync()
  // and a reconnect later does not bring it back either
  const again = await connectCar(id, tb.mqttPort, { clean: false })
  const later = received(again)
  await sleep(500)
  assert.deepEqual(later, [])
  await again.endAsync()
})

test('an invalid ack goes to the DLQ; the car stays connected', async () => {
  const id = `${prefix}-badack`
  const car = await connectCar(id, tb.mqttPort)
  await car.publishAsync(MqttTopics.commandAck(id), JSON.stringify({ commandId: 'x', result: 'maybe' }), { qos: 1 })
  await car.publishAsync(MqttTopics.commandAck(id), 'not json', { qos: 1 })
  assert.ok(car.connected)
  await dlq.waitFor(r => r.filter(x => x.key === id).length === 2)
  assert.deepEqual(dlq.records.filter(x => x.key === id).map(x => JSON.parse(x.value.toString()).reason), ['invalid_ack', 'invalid_ack'])
  await car.endAsync()
})

test('the commander may publish only commands, and subscribe to nothing', async () => {
  const c = await connectCommander({ clientId: 'service:commander:acl' })
  const grants = await c.subscribeAsync(MqttTopics.telemetry(`${prefix}-x`), { qos: 1 }).then(g => g.map(x => x.qos), (err: { packet: { granted: number[] } }) => err.packet.granted)
  assert.deepEqual(grants, [128])
  const closed = new Promise<void>(resolve => c.once('close', () => resolve()))
  c.publish(MqttTopics.telemetry(`${prefix}-x`), '{}', { qos: 1 })
  await closed
  c.end(true)
})

test('presence: a connected car is online in Redis, and offline after it disconnects', async () => {
  const id = `${prefix}-presence`
  const car = await connectCar(id, tb.mqttPort)
  const deadline = Date.now() + 5_000
  while ((await redis.sismember(ONLINE_VEHICLES_KEY, id)) !== 1 && Date.now() < deadline) await sleep(20)
  const on = await redis.hgetall(presenceKey(id))
  assert.equal(on.online, '1')
  assert.equal(on.brokerId, tb.broker.id)
  await car.endAsync()
  while ((await redis.sismember(ONLINE_VEHICLES_KEY, id)) !== 0 && Date.now() < deadline) await sleep(20)
  assert.equal((await redis.hgetall(presenceKey(id))).online, '0')
})
