// Per-pod limits are refused cleanly and counted: connections over FLEET_MAX_CONNECTIONS and
// connects over FLEET_CONNECT_RATE_PER_S get CONNACK 3 (server unavailable); cars already
// connected keep working. A pod that is behind (its event loop late, or too many connects under
// way) refuses new connects with CONNACK 3 before it checks their credentials.
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { Redis } from 'ioredis'
import type { MqttClient } from 'mqtt'
import { validTelemetry } from '../services/shared/src/telemetry-samples.js'
import { MqttTopics } from '../services/shared/src/topics.js'
import { startTestBroker, type TestBroker } from './helpers/broker.js'
import { connackCode, connectCar, uniqueFleetPrefix } from './helpers/cars.js'
import { carPassword } from './helpers/credentials.js'

const prefix = uniqueFleetPrefix('limits')
const brokers: TestBroker[] = []
const cars: MqttClient[] = []
after(async () => {
  await Promise.all(cars.map(c => c.endAsync()))
  await Promise.all(brokers.map(b => b.stop()))
})

test('over the connection limit: CONNACK 3, counted; the connected cars keep publishing', async () => {
  const tb = await startTestBroker({ FLEET_MAX_CONNECTIONS: '3' })
  brokers.push(tb)
  for (let i = 0; i < 3; i++) cars.push(await connectCar(`${prefix}-m${i}`, tb.mqttPort))
  assert.equal(await connackCode(`${prefix}-m3`, tb.mqttPort), 3)
  assert.equal(await tb.metric('fleet_broker_refused_total', { reason: 'max_connections' }), 1)
  const first = cars[0]!
  await first.publishAsync(MqttTopics.telemetry(`${prefix}-m0`), JSON.stringify(validTelemetry(`${prefix}-m0`, 0)), { qos: 1 })
  await cars.pop()!.endAsync()
  await new Promise(resolve => setTimeout(resolve, 100))
  assert.equal(await connackCode(`${prefix}-m3`, tb.mqttPort), 0, 'a slot freed is a slot again')
})

test('over the connect rate: CONNACK 3, counted', async () => {
  const tb = await startTestBroker({ FLEET_CONNECT_RATE_PER_S: '5' })
  brokers.push(tb)
  const codes = await Promise.all(Array.from({ length: 10 }, (_, i) => connackCode(`${prefix}-r${i}`, tb.mqttPort)))
  assert.equal(codes.filter(c => c === 0).length, 5)
  assert.equal(codes.filter(c => c === 3).length, 5)
  assert.equal(await tb.metric('fleet_broker_refused_total', { reason: 'connect_rate' }), 5)
})

test('a pod whose event loop runs late refuses new connects before their credentials, and recovers', async () => {
  const tb = await startTestBroker({ FLEET_CONNECT_SHED_LAG_MS: '100' })
  brokers.push(tb)
  const car = await connectCar(`${prefix}-l0`, tb.mqttPort)
  cars.push(car)
  // the pod falls behind: every 60 ms its event loop is busy for 250 ms
  const hog = setInterval(() => { const until = performance.now() + 250; while (performance.now() < until) { /* busy */ } }, 60)
  try {
    await new Promise(resolve => setTimeout(resolve, 400))
    // a wrong password would get 4 from the credential check: 3 says it was never made
    assert.equal(await connackCode(`${prefix}-l1`, tb.mqttPort, { password: 'wrong' }), 3)
    assert.equal(await connackCode(`${prefix}-l2`, tb.mqttPort), 3)
    // the car connected before keeps publishing
    await car.publishAsync(MqttTopics.telemetry(`${prefix}-l0`), JSON.stringify(validTelemetry(`${prefix}-l0`, 0)), { qos: 1 })
  } finally {
    clearInterval(hog)
  }
  assert.ok(await tb.metric('fleet_broker_refused_total', { reason: 'overloaded' }) >= 2)
  assert.ok(await tb.metric('fleet_broker_connects_total', { result: 'overloaded' }) >= 2)
  assert.ok(await tb.metric('fleet_broker_event_loop_late_seconds') >= 0)
  await new Promise(resolve => setTimeout(resolve, 200))
  assert.equal(await connackCode(`${prefix}-l2`, tb.mqttPort), 0, 'caught up: connects are taken again')
  assert.equal(await connackCode(`${prefix}-l1`, tb.mqttPort, { password: 'wrong' }), 4)
})

test('connects under way at FLEET_MAX_PENDING_CONNECTS: the next gets CONNACK 3 at once, the slots free again', async () => {
  const tb = await startTestBroker({ FLEET_MAX_PENDING_CONNECTS: '2' })
  brokers.push(tb)
  const ids = [0, 1, 2, 3].map(i => `${prefix}-p${i}`)
  for (const id of ids) await carPassword(id) // provisioned before Redis stops answering
  const redis = new Redis(tb.config.redisUrl)
  try {
    // Redis holds every command for 1.5 s: two credential checks wait, the third connect may not start one
    await redis.call('CLIENT', 'PAUSE', '1500', 'ALL')
    const waiting = [connackCode(ids[0]!, tb.mqttPort), connackCode(ids[1]!, tb.mqttPort)]
    await new Promise(resolve => setTimeout(resolve, 200))
    assert.equal(await tb.metric('fleet_broker_connects_pending'), 2)
    const t0 = performance.now()
    assert.equal(await connackCode(ids[2]!, tb.mqttPort), 3)
    assert.ok(performance.now() - t0 < 1_000, 'refused without waiting for Redis')
    assert.deepEqual(await Promise.all(waiting), [0, 0])
    assert.equal(await tb.metric('fleet_broker_refused_total', { reason: 'connects_pending' }), 1)
    assert.equal(await tb.metric('fleet_broker_connects_pending'), 0)
    assert.equal(await connackCode(ids[3]!, tb.mqttPort), 0)
  } finally {
    await redis.call('CLIENT', 'UNPAUSE').catch(() => {})
    redis.disconnect()
  }
})
