// Bad input is refused cleanly: the broker stays up, other cars keep being served, a metric moves.
// Invalid telemetry goes to vehicle.telemetry.dlq with its reason and the car stays connected;
// broken MQTT (garbage, malformed packets, oversized packets) closes only that connection.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import mqttPacket from 'mqtt-packet'
import { invalidTelemetrySamples, validTelemetry } from '../services/shared/src/telemetry-samples.js'
import { KafkaTopics, MqttTopics } from '../services/shared/src/topics.js'
import { startTestBroker, type TestBroker } from './helpers/broker.js'
import { connectCar, uniqueFleetPrefix } from './helpers/cars.js'
import { collect, type Collector } from './helpers/kafka.js'
import { connectPacket, rawConnect } from './helpers/raw-mqtt.js'
import { carPassword } from './helpers/credentials.js'

const prefix = uniqueFleetPrefix('bad')
const MAX_TELEMETRY = 4_096
let tb: TestBroker
let dlq: Collector
let telemetry: Collector

before(async () => {
  tb = await startTestBroker({ FLEET_MAX_TELEMETRY_BYTES: String(MAX_TELEMETRY), FLEET_MAX_PACKET_BYTES: '65536' })
  dlq = await collect(KafkaTopics.telemetryDlq, key => key.startsWith(prefix))
  telemetry = await collect(KafkaTopics.telemetry, key => key.startsWith(prefix))
})
after(async () => {
  await dlq?.stop()
  await telemetry?.stop()
  await tb?.stop()
})

/** A healthy car publishes and is acknowledged: the broker still serves others. */
async function othersStillServed (tag: string) {
  const id = `${prefix}-healthy-${tag}`
  const car = await connectCar(id, tb.mqttPort)
  await car.publishAsync(MqttTopics.telemetry(id), JSON.stringify(validTelemetry(id, 0)), { qos: 1 })
  await car.endAsync()
  await telemetry.waitFor(r => r.some(x => x.key === id))
}

test('invalid telemetry goes to the DLQ with its reason; the car gets its PUBACK and stays connected', async () => {
  const id = `${prefix}-dlq`
  const car = await connectCar(id, tb.mqttPort)
  const samples = invalidTelemetrySamples(id, MAX_TELEMETRY)
  for (const s of samples) await car.publishAsync(MqttTopics.telemetry(id), s.payload, { qos: 1 })
  assert.ok(car.connected, 'still connected after every invalid message')
  await car.publishAsync(MqttTopics.telemetry(id), JSON.stringify(validTelemetry(id, 5)), { qos: 1 })
  await car.endAsync()

  await dlq.waitFor(r => r.length >= samples.length)
  assert.equal(dlq.records.length, samples.length)
  for (const [i, s] of samples.entries()) {
    const rec = JSON.parse(dlq.records[i]!.value.toString())
    assert.equal(rec.reason, s.expect, s.name)
    assert.equal(rec.vehicleId, id)
    assert.equal(dlq.records[i]!.key, id)
    assert.equal(dlq.records[i]!.headers?.reason?.toString(), s.expect)
    assert.ok(typeof rec.detail === 'string' && rec.detail.length > 0)
    assert.equal(rec.payloadBytes, s.payload.byteLength)
  }
  await telemetry.waitFor(r => r.some(x => x.key === id))
  assert.equal(telemetry.records.filter(x => x.key === id).length, 1, 'only the valid one reached vehicle.telemetry')
  for (const reason of ['not_json', 'schema', 'vehicle_mismatch', 'oversized']) {
    assert.equal(await tb.metric('fleet_broker_dlq_total', { reason }), samples.filter(s => s.expect === reason).length, reason)
  }
})

test('garbage bytes instead of CONNECT close that socket only', async () => {
  const before = await tb.metric('fleet_broker_client_errors_total')
  const raw = await rawConnect(tb.mqttPort)
  raw.send(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))
  await raw.closed
  const raw2 = await rawConnect(tb.mqttPort)
  raw2.send(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x01]))
  await raw2.closed
  assert.ok(await tb.metric('fleet_broker_client_errors_total') >= before + 2)
  await othersStillServed('garbage')
})

test('a malformed packet after CONNECT closes that connection only', async () => {
  const id = `${prefix}-malformed`
  const raw = await rawConnect(tb.mqttPort)
  raw.send(connectPacket(id, id, (await carPassword(id))))
  assert.equal((await raw.next('connack') as { returnCode: number }).returnCode, 0)
  // PUBLISH whose remaining length uses five bytes: forbidden by [MQTT-2.2.3]
  raw.send(Buffer.from([0x32, 0xff, 0xff, 0xff, 0xff, 0x7f]))
  await raw.closed
  await othersStillServed('malformed')
})

test('a 10 MiB payload closes that connection before it is buffered, and nothing reaches Kafka', async () => {
  const id = `${prefix}-huge`
  const raw = await rawConnect(tb.mqttPort)
  raw.send(connectPacket(id, id, (await carPassword(id))))
  await raw.next('connack')
  const payload = Buffer.alloc(10 * 1024 * 1024, 0x7b)
  const bytes = mqttPacket.generate({ cmd: 'publish', topic: MqttTopics.telemetry(id), payload, qos: 1, messageId: 1, retain: false, dup: false })
  let sent = 0
  for (let off = 0; off < bytes.length && !raw.isClosed(); off += 64 * 1024) {
    raw.socket.write(bytes.subarray(off, off + 64 * 1024))
    sent += 64 * 1024
    await new Promise(resolve => setImmediate(resolve))
  }
  await raw.closed
  assert.ok(sent < bytes.length, `closed after ${sent} of ${bytes.length} bytes`)
  assert.equal(await tb.metric('fleet_broker_refused_total', { reason: 'packet_too_large' }), 1)
  assert.equal(raw.packets.filter(p => p.cmd === 'puback').length, 0)
  await othersStillServed('huge')
  assert.equal(dlq.records.filter(r => r.key === id).length, 0)
})

test('PUBLISH before CONNECT closes the connection [MQTT-3.1.0-1]', async () => {
  const raw = await rawConnect(tb.mqttPort)
  raw.send({ cmd: 'publish', topic: MqttTopics.telemetry(`${prefix}-x`), payload: Buffer.from('{}'), qos: 0, retain: false, dup: false } as never)
  await raw.closed
  await othersStillServed('early')
})
