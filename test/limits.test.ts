// Per-pod limits are refused cleanly and counted: connections over FLEET_MAX_CONNECTIONS and
// connects over FLEET_CONNECT_RATE_PER_S get CONNACK 3 (server unavailable); cars already
// connected keep working.
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import type { MqttClient } from 'mqtt'
import { validTelemetry } from '../services/shared/src/telemetry-samples.js'
import { MqttTopics } from '../services/shared/src/topics.js'
import { startTestBroker, type TestBroker } from './helpers/broker.js'
import { connackCode, connectCar, uniqueFleetPrefix } from './helpers/cars.js'

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
