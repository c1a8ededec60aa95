// End to end through real parts: simulated cars (mqtt.js) → broker → Apache Kafka. Every
// acknowledged message must be in vehicle.telemetry exactly as sent, keyed by vehicleId, in
// per-car order.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { MqttClient } from 'mqtt'
import { validTelemetry } from '../services/shared/src/telemetry-samples.js'
import { KafkaTopics, MqttTopics } from '../services/shared/src/topics.js'
import { startTestBroker, type TestBroker } from './helpers/broker.js'
import { connectCar, uniqueFleetPrefix } from './helpers/cars.js'
import { collect, type Collector } from './helpers/kafka.js'

const CARS = 20
const MESSAGES = 50
const prefix = uniqueFleetPrefix('ingest')
let tb: TestBroker
let telemetry: Collector

before(async () => {
  tb = await startTestBroker()
  telemetry = await collect(KafkaTopics.telemetry, key => key.startsWith(prefix))
})
after(async () => {
  await telemetry?.stop()
  await tb?.stop()
})

async function ingestInOrder (tb: TestBroker, prefix: string) {
  const sent = new Map<string, Buffer[]>()
  const cars: MqttClient[] = []
  for (let i = 0; i < CARS; i++) {
    const id = `${prefix}-${i}`
    cars.push(await connectCar(id, tb.mqttPort))
    sent.set(id, [])
  }
  // Each car keeps several messages in flight at once, as real clients do.
  await Promise.all(cars.map(async (car, i) => {
    const id = `${prefix}-${i}`
    const inflight: Array<Promise<unknown>> = []
    for (let seq = 0; seq < MESSAGES; seq++) {
      const payload = Buffer.from(JSON.stringify(validTelemetry(id, seq)))
      sent.get(id)!.push(payload)
      inflight.push(car.publishAsync(MqttTopics.telemetry(id), payload, { qos: 1 }))
    }
    await Promise.all(inflight)
  }))
  await telemetry.waitFor(r => r.filter(x => x.key.startsWith(`${prefix}-`)).length >= CARS * MESSAGES)
  await Promise.all(cars.map(c => c.endAsync()))

  assert.equal(telemetry.records.filter(x => x.key.startsWith(`${prefix}-`)).length, CARS * MESSAGES, 'no duplicates, nothing missing')
  const partitionOf = new Map<string, number>()
  for (const [id, payloads] of sent) {
    const got = telemetry.records.filter(r => r.key === id)
    assert.equal(got.length, MESSAGES, `${id}: all messages`)
    assert.deepEqual(got.map(r => r.value.toString()), payloads.map(p => p.toString()), `${id}: same bytes, same order`)
    assert.equal(new Set(got.map(r => r.partition)).size, 1, `${id}: one partition`)
    partitionOf.set(id, got[0]!.partition)
  }
  assert.ok(new Set(partitionOf.values()).size > 1, 'cars spread over partitions')
  assert.equal(await tb.metric('fleet_broker_messages_in_total', { class: 'telemetry', qos: '1' }), CARS * MESSAGES)
  assert.ok(await tb.metric('fleet_broker_kafka_records_acked_total', { topic: KafkaTopics.telemetry }) >= CARS * MESSAGES)
}

test('every acknowledged QoS 1 message reaches Kafka as sent, keyed by vehicleId, in per-car order', async () => {
  await ingestInOrder(tb, `${prefix}-fast`)
  // mqtt.js writes each PUBLISH on its own, so most reads hold telemetry only: the fast path's
  const fast = await tb.metric('fleet_broker_fast_path_messages_total')
  assert.ok(fast > CARS * MESSAGES / 2 && fast <= CARS * MESSAGES, `fast path took ${fast}`)
})

test('MQTT over WebSocket ingests the same way', async () => {
  const id = `${prefix}-ws`
  const car = await connectCar(id, 0, { url: `ws://127.0.0.1:${tb.wsPort}/mqtt` })
  const payload = Buffer.from(JSON.stringify(validTelemetry(id, 0)))
  await car.publishAsync(MqttTopics.telemetry(id), payload, { qos: 1 })
  await car.endAsync()
  await telemetry.waitFor(r => r.some(x => x.key === id))
  assert.deepEqual(telemetry.records.find(r => r.key === id)?.value, payload)
})

test('QoS 0 telemetry is ingested too', async () => {
  const id = `${prefix}-q0`
  const car = await connectCar(id, tb.mqttPort)
  for (let seq = 0; seq < 10; seq++) car.publish(MqttTopics.telemetry(id), JSON.stringify(validTelemetry(id, seq)), { qos: 0 })
  await telemetry.waitFor(r => r.filter(x => x.key === id).length === 10)
  await car.endAsync()
  assert.deepEqual(telemetry.records.filter(r => r.key === id).map(r => JSON.parse(r.value.toString()).seq), [...Array(10).keys()])
})

test('ops endpoints answer', async () => {
  const base = `http://127.0.0.1:${tb.opsPort}`
  const health = await fetch(`${base}/healthz`)
  assert.equal(health.status, 200)
  const ready = await fetch(`${base}/readyz`)
  assert.equal(ready.status, 200)
  assert.deepEqual(await ready.json(), { status: 'ready', checks: { accepting: true, capacity: true }, dependencies: { held: true, kafka: true, redis: true } })
  const metrics = await (await fetch(`${base}/metrics`)).text()
  assert.match(metrics, /fleet_broker_connections/)
  assert.match(metrics, /fleet_broker_kafka_produce_seconds_bucket/)
  assert.match(metrics, /fleet_broker_ingest_ack_seconds_bucket/)
})
