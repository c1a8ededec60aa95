// A car's lifecycle through the api against a real broker, Redis and Kafka: provisioning (the
// password shown once, only a verifier stored), rotation with an overlap, revocation of one
// credential and of the car, decommissioning (credentials, session with its QoS 2 window, commands,
// state and rankings gone), each an event on vehicle.lifecycle naming the operator; read-only keys
// may do none of it.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import mqttPacket, { type Packet } from 'mqtt-packet'
import { validTelemetry } from '../services/shared/src/telemetry-samples.js'
import { KafkaTopics, MqttTopics } from '../services/shared/src/topics.js'
import { SCORES_KEY, vehicleStateKey } from '../services/shared/src/vehicle-state.js'
import { vehicleCommandsKey } from '../services/shared/src/command-store.js'
import { startTestApi, OPERATOR_KEY, READER_KEY, type TestApi } from './helpers/api.js'
import { startTestBroker, type TestBroker } from './helpers/broker.js'
import { connackCode, uniqueFleetPrefix } from './helpers/cars.js'
import { collect, type Collector } from './helpers/kafka.js'
import { connectPacket, rawConnect } from './helpers/raw-mqtt.js'
import { KNOWN_VEHICLES_KEY } from '../services/shared/src/vehicle-index.js'

const prefix = uniqueFleetPrefix('life')
let tb: TestBroker
let api: TestApi
let redis: Redis
let events: Collector

before(async () => {
  [tb, api] = await Promise.all([startTestBroker({ FLEET_DEV_MODE: '' }), startTestApi()])
  redis = new Redis(tb.config.redisUrl)
  events = await collect(KafkaTopics.vehicleLifecycle, key => key.startsWith(prefix))
})
after(async () => {
  await events?.stop()
  redis?.disconnect()
  await Promise.all([tb?.stop(), api?.stop()])
})

const call = async (method: string, path: string, body?: unknown, key = OPERATOR_KEY) => {
  const res = await fetch(`${api.url}/v1${path}`, { method, headers: { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
  const text = await res.text()
  return { status: res.status, body: text === '' ? null : JSON.parse(text) as Record<string, unknown> }
}

test('provision in bulk: each password shown once, Redis holds none of them, the cars connect', async () => {
  const ids = [`${prefix}-a`, `${prefix}-b`]
  const res = await call('POST', '/vehicles/provision', { vehicleIds: ids })
  assert.equal(res.status, 201)
  const items = res.body!.items as Array<{ vehicleId: string, password: string, credentialId: string }>
  assert.deepEqual(items.map(i => i.vehicleId), ids)
  for (const i of items) {
    const stored = JSON.stringify(await redis.hgetall(`fleet:vehicle:${i.vehicleId}`))
    assert.ok(!stored.includes(i.password.split('.')[2]!), 'the secret is not in Redis')
    assert.equal(await connackCode(i.vehicleId, tb.mqttPort, { password: i.password }), 0)
  }
  const list = await call('GET', `/vehicles/${ids[0]}/credentials`)
  assert.equal((list.body!.credentials as unknown[]).length, 1)
  assert.ok(!JSON.stringify(list.body).includes(items[0]!.password))
  await events.waitFor(r => r.filter(e => JSON.parse(e.value.toString()).action === 'provisioned').length >= 2)
  const e = JSON.parse(events.records.find(r => r.key === ids[0])!.value.toString()) as { by: string, credentialId: string }
  assert.equal(e.by, 'ops')
  assert.equal(e.credentialId, items[0]!.credentialId)
})

test('a read-only key may not provision, rotate, revoke or decommission', async () => {
  const id = `${prefix}-ro`
  assert.equal((await call('POST', '/vehicles/provision', { vehicleIds: [id] }, READER_KEY)).status, 403)
  assert.equal((await call('POST', `/vehicles/${id}/credentials/rotate`, { overlapSeconds: 0 }, READER_KEY)).status, 403)
  assert.equal((await call('POST', `/vehicles/${id}/revoke`, undefined, READER_KEY)).status, 403)
  assert.equal((await call('DELETE', `/vehicles/${id}`, undefined, READER_KEY)).status, 403)
})

test('rotate with no overlap: the old password is refused, the new one works; revoking a credential ends it', async () => {
  const id = `${prefix}-rot`
  const first = ((await call('POST', '/vehicles/provision', { vehicleIds: [id] })).body!.items as Array<{ password: string }>)[0]!.password
  const rotated = await call('POST', `/vehicles/${id}/credentials/rotate`, { overlapSeconds: 0 })
  assert.equal(rotated.status, 201)
  assert.equal(await connackCode(id, tb.mqttPort, { password: first }), 4)
  const second = rotated.body!.password as string
  assert.equal(await connackCode(id, tb.mqttPort, { password: second }), 0)
  assert.equal((await call('DELETE', `/vehicles/${id}/credentials/${rotated.body!.credentialId as string}`)).status, 204)
  assert.equal(await connackCode(id, tb.mqttPort, { password: second }), 4)
  assert.equal((await call('DELETE', `/vehicles/${id}/credentials/${rotated.body!.credentialId as string}`)).status, 404)
})

test('revoke the car: refused until re-provisioned, and then only with the new password', async () => {
  const id = `${prefix}-rev`
  const old = ((await call('POST', '/vehicles/provision', { vehicleIds: [id] })).body!.items as Array<{ password: string }>)[0]!.password
  assert.equal((await call('POST', `/vehicles/${id}/revoke`)).status, 204)
  assert.equal(await connackCode(id, tb.mqttPort, { password: old }), 5)
  const fresh = ((await call('POST', '/vehicles/provision', { vehicleIds: [id] })).body!.items as Array<{ password: string }>)[0]!.password
  assert.equal(await connackCode(id, tb.mqttPort, { password: old }), 4)
  assert.equal(await connackCode(id, tb.mqttPort, { password: fresh }), 0)
})

test('decommission removes credentials, session, queued commands, state and rankings, and is recorded', async () => {
  const id = `${prefix}-gone`
  const password = ((await call('POST', '/vehicles/provision', { vehicleIds: [id] })).body!.items as Array<{ password: string }>)[0]!.password
  assert.equal(await connackCode(id, tb.mqttPort, { password, clean: false }), 0)
  const sent = await call('POST', `/vehicles/${id}/commands`, { type: 'lock', ttlSeconds: 600 })
  assert.ok([201, 202].includes(sent.status), JSON.stringify(sent))
  // A QoS 2 PUBLISH whose PUBREL never comes: its packet id stays in the car's QoS 2 window.
  const raw = await rawConnect(tb.mqttPort)
  raw.send(connectPacket(id, id, password, false))
  await raw.next('connack')
  raw.send(mqttPacket.generate({ cmd: 'publish', topic: MqttTopics.telemetry(id), payload: Buffer.from(JSON.stringify(validTelemetry(id, 1))), qos: 2, messageId: 7, retain: false, dup: false } as Packet))
  await raw.next('pubrec')
  raw.socket.destroy()
  await raw.closed
  assert.equal(await redis.exists(`fleet:qos2:${id}`), 1, 'the QoS 2 window is in Redis')
  await redis.multi().hset(vehicleStateKey(id), 'score', '0.1').zadd(SCORES_KEY, 0.1, id).exec()
  assert.notEqual(await redis.zscore(KNOWN_VEHICLES_KEY, id), null, 'provisioned: in the set of known cars')
  assert.equal((await call('DELETE', `/vehicles/${id}`)).status, 204)
  assert.equal(await connackCode(id, tb.mqttPort, { password }), 5)
  const left = await redis.multi()
    .exists(`fleet:vehicle:${id}`, vehicleStateKey(id), vehicleCommandsKey(id), `client:${id}`, `outgoing:${id}`, `fleet:qos2:${id}`, `fleet:command:${sent.body!.commandId as string}`)
    .zscore(SCORES_KEY, id).zscore(KNOWN_VEHICLES_KEY, id).exec()
  assert.deepEqual(left?.map(([, v]) => v), [0, null, null])
  assert.equal((await call('GET', `/vehicles/${id}`)).status, 404)
  await events.waitFor(r => r.some(e => e.key === id && JSON.parse(e.value.toString()).action === 'decommissioned'))
})
