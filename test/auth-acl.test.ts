// Who may connect, publish and subscribe: per-car credentials, revocation, client-id rules and the
// topic ACL, against a real broker with Redis and Kafka.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import { MqttTopics } from '../services/shared/src/topics.js'
import { validTelemetry } from '../services/shared/src/telemetry-samples.js'
import { startTestBroker, type TestBroker } from './helpers/broker.js'
import { connackCode, connectCar, uniqueFleetPrefix } from './helpers/cars.js'
import { connectPacket, rawConnect } from './helpers/raw-mqtt.js'
import { carPassword } from './helpers/credentials.js'
import { REVOKED_VEHICLES_KEY } from '../services/shared/src/vehicle-credentials.js'

const prefix = uniqueFleetPrefix('acl')
let tb: TestBroker
let redis: Redis

before(async () => {
  tb = await startTestBroker()
  redis = new Redis(tb.config.redisUrl)
})
after(async () => {
  await redis?.srem(REVOKED_VEHICLES_KEY, `${prefix}-revoked`)
  redis?.disconnect()
  await tb?.stop()
})

test('a car with its own token connects', async () => {
  assert.equal(await connackCode(`${prefix}-ok`, tb.mqttPort), 0)
  assert.equal(await tb.metric('fleet_broker_connects_total', { result: 'accepted' }), 1)
})

test('wrong password, another car\'s token or no password: CONNACK 4 bad user name or password', async () => {
  const id = `${prefix}-a`
  assert.equal(await connackCode(id, tb.mqttPort, { password: 'v1.wrong' }), 4)
  assert.equal(await connackCode(id, tb.mqttPort, { password: (await carPassword(`${prefix}-b`)) }), 4)
  assert.equal(await connackCode(id, tb.mqttPort, { password: undefined }), 4)
  assert.equal(await connackCode('not/a/vehicle', tb.mqttPort, { clientId: 'x' }), 4)
  assert.equal(await tb.metric('fleet_broker_connects_total', { result: 'bad_credentials' }), 4)
})

test('a revoked car gets CONNACK 5 not authorised', async () => {
  const id = `${prefix}-revoked`
  await carPassword(id) // provisioned first: provisioning lifts a revocation
  await redis.sadd(REVOKED_VEHICLES_KEY, id)
  assert.equal(await connackCode(id, tb.mqttPort), 5)
  await redis.srem(REVOKED_VEHICLES_KEY, id)
  assert.equal(await connackCode(id, tb.mqttPort), 0)
})

test('client id rules: another car\'s id or an empty id with a persistent session → CONNACK 2 identifier rejected', async () => {
  const id = `${prefix}-c`
  assert.equal(await connackCode(id, tb.mqttPort, { clientId: `${prefix}-victim` }), 2)
  // mqtt.js refuses to send this one itself: [MQTT-3.1.3-8]
  const raw = await rawConnect(tb.mqttPort)
  raw.send(connectPacket('', id, (await carPassword(id)), false))
  assert.equal((await raw.next('connack') as { returnCode: number }).returnCode, 2)
  await raw.closed
  assert.equal(await connackCode(id, tb.mqttPort, { clientId: '', clean: true }), 0)
})

test('a will is allowed only on the car\'s own status topic', async () => {
  const id = `${prefix}-w`
  assert.equal(await connackCode(id, tb.mqttPort, { will: { topic: MqttTopics.status(id), payload: Buffer.from('offline'), qos: 1, retain: true } }), 0)
  assert.equal(await connackCode(id, tb.mqttPort, { will: { topic: MqttTopics.status(`${prefix}-other`), payload: Buffer.from('x'), qos: 0, retain: false } }), 5)
})

test('subscribing to another car\'s commands gets SUBACK 0x80 and the connection stays', async () => {
  const id = `${prefix}-s`
  const car = await connectCar(id, tb.mqttPort)
  // mqtt.js turns a 0x80 grant into an error that carries the SUBACK
  const granted = (topic: string) => car.subscribeAsync(topic, { qos: 1 }).then(
    grants => grants.map(g => g.qos),
    (err: { packet?: { granted: number[] } }) => err.packet?.granted ?? assert.fail(String(err)))
  assert.deepEqual(await granted(MqttTopics.commands(`${prefix}-other`)), [128])
  assert.deepEqual(await granted('vehicles/+/commands'), [128])
  assert.deepEqual(await granted(MqttTopics.telemetry(id)), [128])
  const [own] = await car.subscribeAsync(MqttTopics.commands(id), { qos: 1 })
  assert.equal(own?.qos, 1)
  assert.ok(car.connected)
  await car.publishAsync(MqttTopics.telemetry(id), JSON.stringify(validTelemetry(id, 0)), { qos: 1 })
  assert.equal(await tb.metric('fleet_broker_refused_total', { reason: 'subscribe_denied' }), 3)
  await car.endAsync()
})

test('publishing to another car\'s topic (or any topic outside the car\'s own) closes the connection', async () => {
  for (const topic of [MqttTopics.telemetry(`${prefix}-other`), MqttTopics.commands(`${prefix}-p`), 'fleet/anything']) {
    const id = `${prefix}-p`
    const car = await connectCar(id, tb.mqttPort)
    const closed = new Promise<void>(resolve => car.once('close', () => resolve()))
    car.publish(topic, JSON.stringify(validTelemetry(id, 0)), { qos: 1 })
    await closed
    car.end(true)
  }
  assert.equal(await tb.metric('fleet_broker_refused_total', { reason: 'publish_denied' }), 3)
})

test('a car may publish status and command acks on its own topics', async () => {
  const id = `${prefix}-st`
  const car = await connectCar(id, tb.mqttPort)
  await car.publishAsync(MqttTopics.status(id), 'online', { qos: 1, retain: true })
  await car.publishAsync(MqttTopics.commandAck(id), JSON.stringify({ commandId: 'c1', result: 'ok' }), { qos: 1 })
  assert.ok(car.connected)
  await car.endAsync()
  assert.equal(await tb.metric('fleet_broker_messages_in_total', { class: 'status' }), 1)
  assert.equal(await tb.metric('fleet_broker_messages_in_total', { class: 'command_ack' }), 1)
})
