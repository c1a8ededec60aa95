// The broker's side of cloud-to-car commands and presence, with real Kafka and Redis: commands
// enter from vehicle.commands (stored records only, each routed once), reach online and offline
// (persistent-session) cars, are not delivered after expiry, become `sent`, `delivered` and ack
// events on vehicle.command-events; no MQTT identity may publish to a car's commands topic.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import type { IClientOptions, MqttClient } from 'mqtt'
import type { Command, CommandEvent } from '../services/shared/src/command-schema.js'
import { ONLINE_VEHICLES_KEY, presenceKey } from '../services/shared/src/presence.js'
import { KafkaTopics, MqttTopics } from '../services/shared/src/topics.js'
import { DEV_SIGNING_KEY } from '../services/shared/src/legacy-tokens.js'
import { startTestBroker, type TestBroker } from './helpers/broker.js'
import { connectCar, uniqueFleetPrefix } from './helpers/cars.js'
import { startCommandSender, type CommandSender } from './helpers/commands.js'
import { collect, type Collector } from './helpers/kafka.js'
import { carPassword, legacyCarToken, legacyServiceToken, servicePassword } from './helpers/credentials.js'
import { KNOWN_VEHICLES_KEY } from '../services/shared/src/vehicle-index.js'

const prefix = uniqueFleetPrefix('cmd')
let tb: TestBroker
let events: Collector
let dlq: Collector
let sender: CommandSender
let redis: Redis

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
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
const eventsOf = (commandId: string) => events.records.map(r => JSON.parse(r.value.toString()) as CommandEvent).filter(e => e.commandId === commandId)
const skipped = async (reason: string) => await tb.metric('fleet_broker_commands_skipped_total', { reason })

before(async () => {
  // development mode with the migration window of the old HMAC passwords open: the published
  // development key logs a car in (to show it can still not publish a command)
  tb = await startTestBroker({ FLEET_DEV_MODE: '1', FLEET_VEHICLE_TOKEN_KEY: DEV_SIGNING_KEY, FLEET_LEGACY_TOKENS_UNTIL: new Date(Date.now() + 3600_000).toISOString() })
  events = await collect(KafkaTopics.commandEvents, key => key.startsWith(prefix))
  dlq = await collect(KafkaTopics.telemetryDlq, key => key.startsWith(prefix))
  sender = await startCommandSender(prefix)
  redis = new Redis(tb.config.redisUrl)
  await tb.commandsJoined()
})
after(async () => {
  await events?.stop()
  await dlq?.stop()
  await sender?.stop()
  redis?.disconnect()
  await tb?.stop()
})

/** What became of an attempt to publish a command over MQTT: refused at CONNECT, connection closed, or PUBACKed. */
async function publishAttempt (opts: IClientOptions & { username: string }, topic: string, payload: string): Promise<'connect_refused' | 'closed' | 'puback'> {
  let c: MqttClient
  try {
    c = await connectCar(opts.username, tb.mqttPort, opts)
  } catch {
    return 'connect_refused'
  }
  const closed = new Promise<'closed'>(resolve => c.once('close', () => resolve('closed')))
  const acked = c.publishAsync(topic, payload, { qos: 1 }).then(() => 'puback' as const, () => 'closed' as const)
  const result = await Promise.race([closed, acked])
  c.end(true)
  return result
}

test('no MQTT identity may publish to a car\'s commands topic: the old commander account, the development key, another car, the car itself', async () => {
  const victim = `${prefix}-victim`
  const car = await connectCar(victim, tb.mqttPort)
  await car.subscribeAsync(MqttTopics.commands(victim), { qos: 1 })
  const got = received(car)
  const forged = JSON.stringify({ commandId: `${prefix}-forged`, vehicleId: victim, type: 'unlock', params: {}, createdAt: new Date().toISOString(), expiresAt: new Date(Date.now() + 60_000).toISOString() })
  const topic = MqttTopics.commands(victim)
  await carPassword(`${prefix}-devkey`) // the old passwords work for provisioned cars only
  const attempts = {
    commanderAccount: await publishAttempt({ username: 'service:commander', clientId: 'service:commander:acl', password: await servicePassword() }, topic, forged),
    commanderDevKey: await publishAttempt({ username: 'service:commander', clientId: 'service:commander:dev', password: legacyServiceToken('commander') }, topic, forged),
    carWithDevKey: await publishAttempt({ username: `${prefix}-devkey`, clientId: `${prefix}-devkey`, password: legacyCarToken(`${prefix}-devkey`) }, topic, forged),
    anotherCar: await publishAttempt({ username: `${prefix}-other`, clientId: `${prefix}-other` }, topic, forged),
    theCarItself: await publishAttempt({ username: `${prefix}-self`, clientId: `${prefix}-self` }, MqttTopics.commands(`${prefix}-self`), forged)
  }
  for (const [who, result] of Object.entries(attempts)) assert.notEqual(result, 'puback', `${who}: ${result}`)
  assert.equal(attempts.carWithDevKey, 'closed', 'the development key logs a car in during the migration window; its command publish closes the connection')
  await sleep(300)
  assert.deepEqual(got, [], 'the car got nothing')
  await car.endAsync()
})

test('a command from vehicle.commands reaches an online car: sent once routed, then delivered and acknowledged', async () => {
  const id = `${prefix}-online`
  const car = await connectCar(id, tb.mqttPort)
  await car.subscribeAsync(MqttTopics.commands(id), { qos: 1 })
  const got = received(car)
  const cmd = await sender.send(id)
  await until('command received', () => got.length === 1)
  assert.deepEqual(got[0], cmd, 'the stored command, as JSON (an MQTT 3.1.1 car gets no properties)')
  await car.publishAsync(MqttTopics.commandAck(id), JSON.stringify({ commandId: cmd.commandId, result: 'ok' }), { qos: 1 })
  await events.waitFor(() => eventsOf(cmd.commandId).length >= 3)
  const mine = eventsOf(cmd.commandId)
  assert.deepEqual(mine.map(e => e.status).sort(), ['acknowledged', 'delivered', 'sent'])
  for (const e of mine) {
    assert.equal(e.vehicleId, id)
    assert.equal(e.source, `broker:${tb.broker.id}`)
  }
  assert.ok(await tb.metric('fleet_broker_commands_published_total') >= 1)
  assert.match(await tb.broker.registry.getSingleMetricAsString('fleet_broker_command_publish_seconds'), /fleet_broker_command_publish_seconds_count(\{[^}]*\})? [1-9]/, 'publish latency observed')
  await car.endAsync()
})

test('an offline car with a persistent session: the command is in its session by the time `sent` is on Kafka, and arrives once', async () => {
  const id = `${prefix}-offline`
  const first = await connectCar(id, tb.mqttPort, { clean: false })
  await first.subscribeAsync(MqttTopics.commands(id), { qos: 1 })
  await first.endAsync()
  const cmd = await sender.send(id)
  await events.waitFor(() => eventsOf(cmd.commandId).some(e => e.status === 'sent'))
  const queued: Array<{ topic: string, payload: Buffer, qos: number }> = []
  for await (const packet of tb.broker.engine.queuedFor(id)) queued.push(packet)
  assert.equal(queued.length, 1, 'queued before `sent`')
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
  const expiring = await sender.send(id, { ttlMs: 1_000 })
  const fresh = await sender.send(id)
  await events.waitFor(() => eventsOf(fresh.commandId).some(e => e.status === 'sent'))
  await sleep(1_200)
  const back = await connectCar(id, tb.mqttPort, { clean: false })
  const got = received(back)
  await until('fresh command delivered', () => got.length >= 1)
  await sleep(500)
  assert.deepEqual(got.map(c => c.commandId), [fresh.commandId])
  assert.ok(eventsOf(expiring.commandId).some(e => e.status === 'sent'), 'it had been queued')
  assert.ok(await tb.metric('fleet_broker_commands_total', { event: 'expired_not_forwarded' }) >= 1)
  await back.endAsync()
})

test('records Kafka carries but Redis does not back are not published: forged, unknown, final, expired, invalid', async () => {
  const id = `${prefix}-forge`
  const car = await connectCar(id, tb.mqttPort)
  await car.subscribeAsync(MqttTopics.commands(id), { qos: 1 })
  const got = received(car)
  const real = await sender.send(id, { type: 'lock', params: {} })
  await until('the real one arrived', () => got.length === 1)
  const before = { mismatch: await skipped('mismatch'), noRecord: await skipped('no_record'), routed: await skipped('already_routed'), expired: await skipped('expired'), invalid: await skipped('invalid') }
  const stale = await sender.send(id, { ttlMs: 300 })
  await events.waitFor(() => eventsOf(stale.commandId).some(e => e.status === 'sent'))
  await sleep(400)
  await sender.produce([
    { ...real, type: 'unlock' }, // same id, another type
    { ...real, vehicleId: `${prefix}-other` }, // same id, another car
    { ...real, commandId: `${prefix}-never-stored` },
    real, // replayed after it was routed
    stale // replayed after it expired
  ])
  await until('all five judged', async () => (await skipped('mismatch')) - before.mismatch >= 2 && (await skipped('no_record')) - before.noRecord >= 1 && (await skipped('already_routed')) - before.routed >= 1 && (await skipped('expired')) - before.expired >= 1)
  await sleep(300)
  assert.deepEqual(got.map(c => [c.commandId, c.type]), [[real.commandId, 'lock'], [stale.commandId, 'flash-lights']])
  await car.endAsync()
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

test('presence: a connected car is online in Redis and known, and offline after it disconnects', async () => {
  const id = `${prefix}-presence`
  const car = await connectCar(id, tb.mqttPort)
  const deadline = Date.now() + 5_000
  while ((await redis.sismember(ONLINE_VEHICLES_KEY, id)) !== 1 && Date.now() < deadline) await sleep(20)
  const on = await redis.hgetall(presenceKey(id))
  assert.equal(on.online, '1')
  assert.equal(on.brokerId, tb.broker.id)
  assert.equal(await redis.zscore(KNOWN_VEHICLES_KEY, id), '0', 'a connected car is in the set of known cars')
  await car.endAsync()
  while ((await redis.sismember(ONLINE_VEHICLES_KEY, id)) !== 0 && Date.now() < deadline) await sleep(20)
  assert.equal((await redis.hgetall(presenceKey(id))).online, '0')
})
