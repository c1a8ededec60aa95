import assert from 'node:assert/strict'
import { test } from 'node:test'
import { pino } from 'pino'
import { createRegistry } from '../../shared/src/metrics.js'
import { telemetryIdBytes } from '../../shared/src/telemetry-decode.js'
import { invalidTelemetrySamples, validTelemetry } from '../../shared/src/telemetry-samples.js'
import { KafkaTopics } from '../../shared/src/topics.js'
import { createBrokerMetrics } from './broker-metrics.js'
import { createIngestRecords } from './ingest-records.js'

const ID = telemetryIdBytes('car-1')

const records = (added: unknown[] = []) => createIngestRecords({
  maxTelemetryBytes: 16_384,
  brokerId: 'b1',
  metrics: createBrokerMetrics(createRegistry('t', false)),
  log: pino({ level: 'silent' }),
  rejections: { add: (...args: unknown[]) => { added.push(args) } }
})

test('valid telemetry is its own record, keyed by vehicleId, with its User Properties as headers', () => {
  const payload = Buffer.from(JSON.stringify(validTelemetry('car-1', 0)))
  const r = records().telemetryRecord('car-1', ID, payload, 1_000, { traceparent: 't' })
  assert.deepEqual(r, { topic: KafkaTopics.telemetry, key: 'car-1', value: payload, timestamp: 1_000, headers: { traceparent: 't' } })
})

test('invalid telemetry becomes its DLQ record with the reason, and the car\'s refusal list hears of it', () => {
  const added: unknown[] = []
  const r = records(added).telemetryRecord('car-1', ID, Buffer.from('{"nope":1}'), 1_000)
  assert.equal(r.topic, KafkaTopics.telemetryDlq)
  assert.equal(r.key, 'car-1')
  const body = JSON.parse(r.value.toString()) as { reason: string, brokerId: string, payloadBase64: string }
  assert.equal(r.headers?.reason, body.reason)
  assert.equal(body.brokerId, 'b1')
  assert.equal(Buffer.from(body.payloadBase64, 'base64').toString(), '{"nope":1}')
  assert.equal(added.length, 1)
})

test('the one-pass check gives the records parseTelemetry gives: valid as is, invalid to the DLQ with its reason', () => {
  const MAX = 16_384
  for (const s of [...invalidTelemetrySamples('car-1', MAX), { name: 'valid', payload: Buffer.from(JSON.stringify(validTelemetry('car-1', 3))), expect: null }]) {
    // with the id's bytes (the one-pass check first) and without (parseTelemetry alone)
    const fast = records().telemetryRecord('car-1', ID, s.payload, 1_000)
    const slow = records().telemetryRecord('car-1', null, s.payload, 1_000)
    assert.deepEqual(fast, slow, s.name)
    if (s.expect === null) assert.equal(fast.topic, KafkaTopics.telemetry, s.name)
    else assert.equal(fast.headers?.reason, s.expect, s.name)
  }
  // an id the schema refuses: no bytes, so parseTelemetry decides (a schema refusal)
  assert.equal(telemetryIdBytes('bad id'), null)
  const payload = Buffer.from(JSON.stringify({ ...validTelemetry('car-1', 0), vehicleId: 'bad id' }))
  assert.equal(records().telemetryRecord('bad id', telemetryIdBytes('bad id'), payload, 1_000).headers?.reason, 'schema')
})
