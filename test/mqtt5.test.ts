// MQTT 5 cars on the same listener as MQTT 3.1.1 ones (issue #22), with real Kafka and Redis:
// what the CONNACK advertises, reason codes instead of closed connections, User Properties as
// Kafka headers, topic aliases, session and message expiry, and server DISCONNECTs.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import mqtt, { type IClientOptions, type IConnackPacket, type MqttClient } from 'mqtt'
import type { Packet } from 'mqtt-packet'
import { validTelemetry } from '../services/shared/src/telemetry-samples.js'
import { KafkaTopics, MqttTopics } from '../services/shared/src/topics.js'
import { sessionSubscriptionsKey } from '../services/broker/src/mqtt-engine/index.js'
import { startTestBroker, type TestBroker } from './helpers/broker.js'
import { uniqueFleetPrefix } from './helpers/cars.js'
import { carPassword } from './helpers/credentials.js'
import { startCommandSender } from './helpers/commands.js'
import { collect, type Collector } from './helpers/kafka.js'
import { connect5, rawConnect } from './helpers/raw-mqtt.js'

const prefix = uniqueFleetPrefix('v5')
const EXPIRY_CAP_S = 3_600
const MAX_PACKET = 4_096
let tb: TestBroker
let telemetry: Collector
let dlq: Collector
let redis: Redis
const open: MqttClient[] = []

before(async () => {
  tb = await startTestBroker({ FLEET_SESSION_EXPIRY_S: String(EXPIRY_CAP_S), FLEET_MAX_PACKET_BYTES: String(MAX_PACKET) })
  telemetry = await collect(KafkaTopics.telemetry, k => k.startsWith(prefix))
  dlq = await collect(KafkaTopics.telemetryDlq, k => k.startsWith(prefix))
  redis = new Redis(process.env.FLEET_REDIS_URL ?? 'redis://127.0.0.1:6379')
})
after(async () => {
  for (const c of open) c.end(true)
  await telemetry?.stop()
  await dlq?.stop()
  redis?.disconnect()
  await tb?.stop()
})

/** An MQTT 5 car (mqtt.js, protocolVersion 5) and the CONNACK it got. */
async function car5 (id: string, port = tb.mqttPort, opts: Partial<IClientOptions> = {}): Promise<{ client: MqttClient, connack: IConnackPacket }> {
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: id, username: id, password: await carPassword(id), protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5_000, ...opts })
  open.push(client)
  const connack = await new Promise<IConnackPacket>((resolve, reject) => {
    client.once('connect', resolve)
    client.once('error', reject)
  })
  return { client, connack }
}

const telemetryOf = (id: string, seq = 0) => JSON.stringify(validTelemetry(id, seq))
const publishCode = (client: MqttClient, topic: string, payload: string, opts: mqtt.IClientPublishOptions = {}) =>
  client.publishAsync(topic, payload, { qos: 1, ...opts }).then(() => 0, (err: { code?: number }) => err.code ?? -1)
/** The reason code of the DISCONNECT that ends a car's connection, or 'closed' if it ends without one. */
const firstEndOf = (client: MqttClient) => new Promise<number | 'closed' | undefined>(resolve => {
  client.once('disconnect', (p: { reasonCode?: number }) => resolve(p.reasonCode))
  client.once('close', () => setTimeout(() => resolve('closed'), 100))
})

test('the CONNACK says the server\'s limits: Receive Maximum = the per-car window, Maximum Packet Size, Topic Alias Maximum, the capped Session Expiry, Server Keep Alive', async () => {
  const { connack } = await car5(`${prefix}-caps`, tb.mqttPort, { clean: false, keepalive: 0, properties: { sessionExpiryInterval: 0xFFFFFFFF } })
  assert.equal(connack.reasonCode, 0)
  assert.equal(connack.properties?.receiveMaximum, tb.config.maxInflight)
  assert.equal(connack.properties?.maximumPacketSize, MAX_PACKET)
  assert.equal(connack.properties?.topicAliasMaximum, tb.config.topicAliasMax)
  assert.equal(connack.properties?.sessionExpiryInterval, EXPIRY_CAP_S, 'a session asked "never expires" is told the cap')
  assert.equal(connack.properties?.serverKeepAlive, tb.config.serverKeepAliveS, 'a car asking no keep alive is told the server\'s')
})

test('a refused PUBLISH gets PUBACK 0x87 and the car stays connected; its next message is ingested', async () => {
  const id = `${prefix}-acl`
  const { client } = await car5(id)
  assert.equal(await publishCode(client, MqttTopics.telemetry(`${id}-other`), telemetryOf(`${id}-other`)), 0x87)
  assert.equal(await publishCode(client, 'not/a/fleet/topic', 'x'), 0x87)
  assert.equal(await publishCode(client, MqttTopics.telemetry(id), telemetryOf(id)), 0)
  assert.ok(client.connected)
  await telemetry.waitFor(r => r.some(x => x.key === id))
  assert.ok(await tb.metric('fleet_broker_refused_total', { reason: 'publish_denied' }) >= 2)
})

test('invalid telemetry goes to the DLQ and its PUBACK says 0x99 (payload format invalid)', async () => {
  const id = `${prefix}-dlq`
  const { client } = await car5(id)
  assert.equal(await publishCode(client, MqttTopics.telemetry(id), '{"not":"telemetry"}'), 0x99)
  assert.equal(await publishCode(client, MqttTopics.telemetry(id), telemetryOf(id, 1)), 0)
  await dlq.waitFor(r => r.some(x => x.key === id))
  await telemetry.waitFor(r => r.some(x => x.key === id))
  assert.ok(client.connected)
})

test('PUBACKs keep the order of the PUBLISHes when a refusal follows messages Kafka has not acknowledged yet [MQTT-4.6.0-2]', async () => {
  const id = `${prefix}-order`
  const { client } = await car5(id)
  const order: string[] = []
  const sends = [
    client.publishAsync(MqttTopics.telemetry(id), telemetryOf(id, 0), { qos: 1 }).then(() => order.push('ok0')),
    client.publishAsync(MqttTopics.telemetry(id), telemetryOf(id, 1), { qos: 1 }).then(() => order.push('ok1')),
    client.publishAsync(MqttTopics.telemetry(`${id}-x`), telemetryOf(id, 2), { qos: 1 }).catch(() => order.push('refused'))
  ]
  await Promise.all(sends)
  assert.deepEqual(order, ['ok0', 'ok1', 'refused'])
})

test('User Properties on telemetry become the Kafka record\'s headers (traceparent); too many go to the DLQ with 0x99', async () => {
  const id = `${prefix}-props`
  const { client } = await car5(id)
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
  assert.equal(await publishCode(client, MqttTopics.telemetry(id), telemetryOf(id), { properties: { userProperties: { traceparent, tag: ['a', 'b'] } } }), 0)
  await telemetry.waitFor(r => r.some(x => x.key === id))
  const headers = telemetry.records.find(r => r.key === id)!.headers ?? {}
  assert.equal(headers.traceparent?.toString(), traceparent)
  assert.equal(headers.tag?.toString(), 'a, b')
  const many = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']))
  assert.equal(await publishCode(client, MqttTopics.telemetry(id), telemetryOf(id, 1), { properties: { userProperties: many } }), 0x99)
})

test('topic aliases: the second PUBLISH names its topic by alias only; an alias past the maximum gets DISCONNECT 0x94', async () => {
  const id = `${prefix}-alias`
  const raw = await rawConnect(tb.mqttPort, 5)
  raw.send(connect5({ clientId: id, username: id, password: await carPassword(id) }))
  assert.equal((await raw.next('connack') as { reasonCode?: number }).reasonCode, 0)
  raw.send({ cmd: 'publish', topic: MqttTopics.telemetry(id), payload: Buffer.from(telemetryOf(id, 0)), qos: 1, messageId: 1, retain: false, dup: false, properties: { topicAlias: 1 } } as Packet)
  raw.send({ cmd: 'publish', topic: '', payload: Buffer.from(telemetryOf(id, 1)), qos: 1, messageId: 2, retain: false, dup: false, properties: { topicAlias: 1 } } as Packet)
  assert.equal((await raw.next('puback') as { messageId?: number }).messageId, 1)
  assert.equal((await raw.next('puback') as { messageId?: number }).messageId, 2)
  await telemetry.waitFor(r => r.filter(x => x.key === id).length === 2)
  raw.send({ cmd: 'publish', topic: MqttTopics.telemetry(id), payload: Buffer.from(telemetryOf(id, 2)), qos: 1, messageId: 3, retain: false, dup: false, properties: { topicAlias: tb.config.topicAliasMax + 1 } } as Packet)
  assert.equal((await raw.next('disconnect') as { reasonCode?: number }).reasonCode, 0x94)
  await raw.closed
})

test('a packet over the Maximum Packet Size gets DISCONNECT 0x95', async () => {
  const id = `${prefix}-big`
  const raw = await rawConnect(tb.mqttPort, 5)
  raw.send(connect5({ clientId: id, username: id, password: await carPassword(id) }))
  await raw.next('connack')
  raw.send({ cmd: 'publish', topic: MqttTopics.telemetry(id), payload: Buffer.alloc(MAX_PACKET * 2, 0x20), qos: 1, messageId: 1, retain: false, dup: false } as Packet)
  assert.equal((await raw.next('disconnect') as { reasonCode?: number }).reasonCode, 0x95)
  await raw.closed
  assert.ok(await tb.metric('fleet_broker_refused_total', { reason: 'packet_too_large' }) >= 1)
})

test('Session Expiry: the session outlives the connection by what the car asked for (at most the cap)', async () => {
  const id = `${prefix}-sess`
  const { client } = await car5(id, tb.mqttPort, { clean: false, properties: { sessionExpiryInterval: 30 } })
  await client.subscribeAsync(MqttTopics.commands(id), { qos: 1 })
  await client.endAsync()
  const key = sessionSubscriptionsKey(id)
  const deadline = Date.now() + 5_000
  let ttl = -1
  while (Date.now() < deadline && (ttl = await redis.ttl(key)) < 0) await new Promise(resolve => setTimeout(resolve, 50))
  assert.ok(ttl > 0 && ttl <= 30, `session key TTL ${ttl} s`)
})

test('a queued command carries its Message Expiry Interval, Response Topic and Correlation Data (request/response)', async () => {
  const id = `${prefix}-mexp`
  const first = await car5(id, tb.mqttPort, { clean: false, properties: { sessionExpiryInterval: 600 } })
  await first.client.subscribeAsync(MqttTopics.commands(id), { qos: 1 })
  await first.client.endAsync()
  const sender = await startCommandSender(`${prefix}-mexp`)
  try {
    const cmd = await sender.send(id, { ttlMs: 60_000 })
    const back = await car5(id, tb.mqttPort, { clean: false, properties: { sessionExpiryInterval: 600 } })
    const packet = await new Promise<mqtt.IPublishPacket>(resolve => back.client.on('message', (_t, _p, p) => resolve(p)))
    const left = packet.properties?.messageExpiryInterval
    assert.ok(left !== undefined && left > 0 && left <= 60, `Message Expiry Interval ${left}`)
    // [MQTT-4.10]: the car answers on the Response Topic, echoing the Correlation Data (the commandId)
    assert.equal(packet.properties?.responseTopic, MqttTopics.commandAck(id))
    assert.equal(Buffer.from(packet.properties?.correlationData ?? []).toString(), cmd.commandId)
  } finally {
    await sender.stop()
  }
})

test('session takeover: the old connection gets DISCONNECT 0x8E (session taken over)', async () => {
  const id = `${prefix}-take`
  const { client: old } = await car5(id)
  const reason = firstEndOf(old)
  await car5(id)
  assert.equal(await reason, 0x8E)
})

test('disconnectCar(client, 0x9C) tells the car to use another server (a drain)', async () => {
  const id = `${prefix}-drain`
  const { client } = await car5(id)
  const reason = firstEndOf(client)
  const done = tb.broker.engine.disconnectCar(tb.broker.engine.clientById(id)!, 0x9C)
  assert.equal(await reason, 0x9C)
  await done
})

// aedes 2.0.0-beta.1 counts a client as connected only after it has written the session's queued
// messages, which comes after the CONNACK: a car told to go in between was closed without its
// reason code (seen as a 300 s hang of the test above, and as a takeover without 0x8E in the
// conformance suite)
test('a car told to go right after its CONNACK, while its queued commands are still being sent, gets them and then its DISCONNECT', async () => {
  const id = `${prefix}-early`
  const session = { clean: false, properties: { sessionExpiryInterval: 300 } }
  const first = await car5(id, tb.mqttPort, session)
  await first.client.subscribeAsync(MqttTopics.commands(id), { qos: 1 })
  await first.client.endAsync()
  const queued = 200
  await Promise.all(Array.from({ length: queued }, (_, i) => new Promise<void>((resolve, reject) => {
    tb.broker.engine.publish({ cmd: 'publish', topic: MqttTopics.commands(id), payload: Buffer.from(`queued ${i}`), qos: 1, retain: false, dup: false } as never, err => err === undefined ? resolve() : reject(err))
  })))
  // a raw connection: mqtt.js drops what it has not handled yet when the connection closes, and a
  // DISCONNECT behind 200 PUBLISHes is among that; the bytes are what the car was sent
  for (const [code, tell] of [[0x9C, (c: string) => tb.broker.engine.disconnectCar(tb.broker.engine.clientById(c)!, 0x9C)], [0x8E, (c: string) => car5(c)]] as const) {
    const back = await rawConnect(tb.mqttPort, 5)
    const told = new Promise<unknown>(resolve => back.onPacket(p => { if (p.cmd === 'connack') resolve(tell(id)) }))
    back.send(connect5({ clientId: id, username: id, password: await carPassword(id), clean: false, properties: { sessionExpiryInterval: 300 } }))
    await told
    await back.closed
    const ends = back.packets.filter(p => p.cmd === 'disconnect') as Array<{ reasonCode?: number }>
    const published = back.packets.filter(p => p.cmd === 'publish').length
    assert.deepEqual(ends.map(p => p.reasonCode), [code], `told to go by ${code === 0x9C ? 'disconnectCar' : 'a takeover'} after its CONNACK and ${published} of the ${queued} queued commands`)
    // told once its queue is written: nothing queued is lost, and nothing follows the DISCONNECT
    assert.equal(published, queued)
    assert.equal(back.packets.at(-1)?.cmd, 'disconnect')
  }
})

test('over its publish rate a car gets PUBACK 0x97 (quota exceeded) and stays connected', async () => {
  const limited = await startTestBroker({ FLEET_CAR_PUBLISH_RATE_PER_S: '1', FLEET_CAR_PUBLISH_BURST: '2' })
  try {
    const id = `${prefix}-rate`
    const { client } = await car5(id, limited.mqttPort)
    const codes = await Promise.all(Array.from({ length: 5 }, (_, i) => publishCode(client, MqttTopics.telemetry(id), telemetryOf(id, i))))
    assert.deepEqual(codes.filter(c => c === 0).length, 2, `codes ${codes}`)
    assert.deepEqual(codes.filter(c => c === 0x97).length, 3, `codes ${codes}`)
    assert.ok(client.connected)
    assert.equal(await limited.metric('fleet_broker_refused_total', { reason: 'publish_rate' }), 3)
    // a stop is a drain: the car is told 0x9C (use another server) and reconnects to another pod
    const reason = firstEndOf(client)
    await limited.stop()
    assert.equal(await reason, 0x9C)
  } finally {
    await limited.stop()
  }
})
