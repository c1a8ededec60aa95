import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { test } from 'node:test'
import type { Client, PublishPacket } from 'aedes'
import { pino } from 'pino'
import { createRegistry } from '../../shared/src/metrics.js'
import { validTelemetry } from '../../shared/src/telemetry-samples.js'
import { KafkaTopics, MqttTopics } from '../../shared/src/topics.js'
import { createBrokerMetrics } from './broker-metrics.js'
import type { IngestCallback, IngestRecord, IngestSink } from './kafka-ingest.js'
import { createTelemetryIntake } from './telemetry-intake.js'

function fakeSink () {
  const writes: Array<{ record: IngestRecord, cb: IngestCallback }> = []
  const sink: IngestSink = { write: (record, cb) => { writes.push({ record, cb }) }, pending: () => writes.length, healthy: () => true, drain: async () => true, close: () => {} }
  return { sink, writes }
}

function setup (maxInflight = 3, qos2Received?: (client: Client, packet: PublishPacket) => Promise<boolean>) {
  const { sink, writes } = fakeSink()
  const conn = new PassThrough()
  const written: Buffer[] = []
  conn.on('data', d => written.push(d))
  const client = { id: 'car-1', clean: true, conn } as unknown as Client
  const metrics = createBrokerMetrics(createRegistry('t', false))
  const intake = createTelemetryIntake({
    identity: { get: () => 'car-1', principal: () => ({ kind: 'vehicle', vehicleId: 'car-1' }) },
    sink,
    maxTelemetryBytes: 4_096,
    maxInflight,
    brokerId: 'b1',
    metrics,
    log: pino({ level: 'silent' }),
    ...(qos2Received === undefined ? {} : { qos2Received })
  })
  const publish = (seq: number, payload = Buffer.from(JSON.stringify(validTelemetry('car-1', seq))), qos: 1 | 2 = 1, dup = false) => {
    const packet = { cmd: 'publish', topic: MqttTopics.telemetry('car-1'), payload, qos, messageId: 100 + seq, retain: false, dup } as PublishPacket
    let called = false
    intake.authorizePublish(client, packet, err => { assert.equal(err, null); called = true })
    return { packet, called: () => called }
  }
  return { intake, writes, written, publish, client, metrics }
}

const tick = () => new Promise(resolve => setImmediate(resolve))

test('PUBACKs go out only after the sink acknowledged, in order, in one write per batch', async () => {
  const { writes, written, publish, intake, metrics } = setup()
  const a = publish(1)
  const b = publish(2)
  assert.equal(a.packet.qos, 0, 'aedes must not PUBACK by itself')
  assert.ok(intake.isIngested(a.packet))
  assert.ok(a.called() && b.called(), 'the socket keeps being read within the window')
  await tick()
  assert.equal(written.length, 0, 'no PUBACK before Kafka acknowledged')
  writes[0]!.cb()
  writes[1]!.cb()
  await tick()
  assert.deepEqual(Buffer.concat(written), Buffer.from([0x40, 2, 0, 101, 0x40, 2, 0, 102]))
  assert.equal(written.length, 1)
  const acked = (await metrics.ingestAckSeconds.get()).values.find(v => v.metricName === 'fleet_broker_ingest_ack_seconds_count')
  assert.equal(acked?.value, 2, 'each acknowledged record is timed from its read to Kafka\'s ack')
  assert.equal(writes[0]!.record.topic, KafkaTopics.telemetry)
  assert.equal(writes[0]!.record.key, 'car-1')
})

test('a car at its in-flight window is not read until Kafka catches up', async () => {
  const { writes, publish, intake, client } = setup(2)
  const a = publish(1)
  const b = publish(2)
  assert.ok(a.called())
  assert.equal(b.called(), false, 'second message reaches the window: the read is held')
  assert.deepEqual([...intake.heldClients()], [client])
  writes[0]!.cb()
  assert.ok(b.called(), 'released once below the window')
  assert.deepEqual([...intake.heldClients()], [])
})

test('the fast path\'s entry: the same records, PUBACKs and window as authorizePublish', async () => {
  const { writes, written, intake, client } = setup(2)
  const resumed: number[] = []
  const valid = Buffer.from(JSON.stringify(validTelemetry('car-1', 1)))
  assert.equal(intake.telemetry(client, 'car-1', 1, 11, valid, () => resumed.push(11)), false, 'within the window')
  assert.equal(intake.telemetry(client, 'car-1', 0, 0, Buffer.from('{"oops"'), () => resumed.push(0)), true, 'at the window: held')
  assert.deepEqual([...intake.heldClients()], [client])
  assert.equal(writes[0]!.record.topic, KafkaTopics.telemetry)
  assert.equal(writes[0]!.record.key, 'car-1')
  assert.equal(writes[0]!.record.value, valid, 'the payload itself, not a copy')
  assert.equal(writes[1]!.record.topic, KafkaTopics.telemetryDlq)
  const dlq = JSON.parse(writes[1]!.record.value.toString())
  assert.deepEqual([dlq.reason, dlq.topic, dlq.vehicleId], ['not_json', MqttTopics.telemetry('car-1'), 'car-1'])
  writes[1]!.cb()
  writes[0]!.cb()
  assert.deepEqual(resumed, [0], 'the held one resumed once below the window')
  assert.deepEqual([...intake.heldClients()], [])
  await tick()
  assert.deepEqual(Buffer.concat(written), Buffer.from([0x40, 2, 0, 11]), 'a PUBACK for the QoS 1 message only')
})

test('no PUBACK when the write fails (shutdown): the car keeps the message and resends it', async () => {
  const { writes, written, publish } = setup()
  publish(1)
  writes[0]!.cb(new Error('shutting down'))
  await tick()
  assert.equal(written.length, 0)
})

test('invalid telemetry becomes a DLQ record with reason and a truncated copy', async () => {
  const { writes, publish } = setup()
  publish(1, Buffer.from('{"oops"'))
  const r = writes[0]!.record
  assert.equal(r.topic, KafkaTopics.telemetryDlq)
  assert.equal(r.headers?.reason, 'not_json')
  const body = JSON.parse(r.value.toString())
  assert.equal(body.reason, 'not_json')
  assert.equal(body.vehicleId, 'car-1')
  assert.equal(Buffer.from(body.payloadBase64, 'base64').toString(), '{"oops"')
})

test('every packet of a read beyond the window is held, and all are released together', async () => {
  const { writes, publish, intake } = setup(2)
  const ps = [1, 2, 3, 4].map(seq => publish(seq))
  assert.deepEqual(ps.map(p => p.called()), [true, false, false, false])
  writes[0]!.cb()
  writes[1]!.cb()
  writes[2]!.cb()
  assert.deepEqual(ps.map(p => p.called()), [true, true, true, true], 'no held callback is lost')
  assert.deepEqual([...intake.heldClients()], [])
})

test('QoS 2: a PUBLISH re-sent before its PUBREL is not written to Kafka again [MQTT-4.3.3-2]', async () => {
  const stored = new Set<number>()
  const { writes, publish } = setup(3, async (_client, packet) => stored.has(packet.messageId!))
  const first = publish(1, undefined, 2)
  await tick()
  assert.equal(writes.length, 1)
  const sameRead = publish(1, undefined, 2, true)
  assert.ok(sameRead.called(), 'a resend while the first write is under way is let through to aedes')
  writes[0]!.cb()
  assert.ok(first.called(), 'PUBREC (aedes) only after Kafka acknowledged')
  stored.add(101) // aedes stored the packet id before its PUBREC
  const later = publish(1, undefined, 2, true)
  await tick()
  assert.ok(later.called())
  assert.equal(writes.length, 1, 'one record in Kafka')
  publish(2, undefined, 2)
  await tick()
  assert.equal(writes.length, 2, 'a new packet id is written')
})

test('a refused message\'s reason goes to the car\'s rejection list too (both entries), never its payload', () => {
  const { sink } = fakeSink()
  const added: Array<{ car: string, r: object }> = []
  const intake = createTelemetryIntake({
    identity: { get: () => 'car-1', principal: () => ({ kind: 'vehicle', vehicleId: 'car-1' }) },
    sink,
    maxTelemetryBytes: 4_096,
    maxInflight: 10,
    brokerId: 'b1',
    metrics: createBrokerMetrics(createRegistry('t', false)),
    log: pino({ level: 'silent' }),
    rejections: { add: (car, r) => { added.push({ car, r }) } }
  })
  const client = { id: 'car-1', clean: true, conn: new PassThrough() } as unknown as Client
  const packet = { cmd: 'publish', topic: MqttTopics.telemetry('car-1'), payload: Buffer.from('{"secret"'), qos: 1, messageId: 1, retain: false, dup: false } as PublishPacket
  intake.authorizePublish(client, packet, () => {})
  intake.telemetry(client, 'car-1', 1, 2, Buffer.from(JSON.stringify({ ...validTelemetry('car-1', 1), rpm: -1 })), () => {})
  intake.telemetry(client, 'car-1', 1, 3, Buffer.from(JSON.stringify(validTelemetry('car-1', 2))), () => {})
  assert.deepEqual(added.map(a => [a.car, (a.r as { reason: string }).reason, (a.r as { topic: string }).topic]), [
    ['car-1', 'not_json', MqttTopics.telemetry('car-1')],
    ['car-1', 'schema', MqttTopics.telemetry('car-1')]
  ], 'valid telemetry adds nothing')
  assert.ok(!JSON.stringify(added).includes('secret'))
  assert.match((added[1]!.r as { detail: string }).detail, /\/rpm/)
})
