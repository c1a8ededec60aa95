import assert from 'node:assert/strict'
import { test } from 'node:test'
import { pino } from 'pino'
import { createRegistry } from '../../shared/src/metrics.js'
import { validTelemetry } from '../../shared/src/telemetry-samples.js'
import { KafkaTopics } from '../../shared/src/topics.js'
import { createBrokerMetrics } from './broker-metrics.js'
import { createIngestRecords } from './ingest-records.js'

const records = (added: unknown[] = []) => createIngestRecords({
  maxTelemetryBytes: 16_384,
  brokerId: 'b1',
  metrics: createBrokerMetrics(createRegistry('t', false)),
  log: pino({ level: 'silent' }),
  rejections: { add: (...args: unknown[]) => { added.push(args) } }
})

test('valid telemetry is its own record, keyed by vehicleId, with its User Properties as headers', () => {
  const payload = Buffer.from(JSON.stringify(validTelemetry('car-1', 0)))
  const r = records().telemetryRecord('car-1', payload, 1_000, { traceparent: 't' })
  assert.deepEqual(r, { topic: KafkaTopics.telemetry, key: 'car-1', value: payload, timestamp: 1_000, headers: { traceparent: 't' } })
})

test('invalid telemetry becomes its DLQ record with the reason, and the car\'s refusal list hears of it', () => {
  const added: unknown[] = []
  const r = records(added).telemetryRecord('car-1', Buffer.from('{"nope":1}'), 1_000)
  assert.equal(r.topic, KafkaTopics.telemetryDlq)
  assert.equal(r.key, 'car-1')
  const body = JSON.parse(r.value.toString()) as { reason: string, brokerId: string, payloadBase64: string }
  assert.equal(r.headers?.reason, body.reason)
  assert.equal(body.brokerId, 'b1')
  assert.equal(Buffer.from(body.payloadBase64, 'base64').toString(), '{"nope":1}')
  assert.equal(added.length, 1)
})
