import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Message, TopicMessages } from 'kafkajs'
import { chunkTopicMessages, recordBytes } from './produce-chunks.js'

const msg = (key: string, bytes: number, headers?: Message['headers']): Message => ({ key, value: 'x'.repeat(bytes), headers })
const flat = (requests: TopicMessages[][]) => requests.flatMap(r => r.flatMap(t => t.messages.map(m => `${t.topic}/${String(m.key)}`)))
const requestBytes = (r: TopicMessages[]) => r.reduce((n, t) => n + t.messages.reduce((k, m) => k + recordBytes(m), 0), 0)

test('recordBytes bounds a record from above: key, value, headers and their varint overhead', () => {
  assert.equal(recordBytes({ key: null, value: null }), 40)
  assert.equal(recordBytes({ key: 'car-1', value: Buffer.alloc(100) }), 40 + 5 + 100)
  assert.equal(recordBytes({ key: 'é', value: 'ü' }), 40 + 2 + 2, 'bytes, not characters')
  assert.equal(recordBytes({ key: 'k', value: 'v', headers: { reason: 'schema', tags: ['a', 'bb'] } }), 40 + 2 + (10 + 6 + 6) + (10 + 4 + 1) + (10 + 4 + 2))
})

test('a 17,000-row catch-up batch of anomalies becomes requests under 1 MB each, nothing lost, order kept', () => {
  const anomalies = Array.from({ length: 17_000 }, (_, i) => msg(`car-${i}`, 600))
  const dlq = Array.from({ length: 300 }, (_, i) => msg(`bad-${i}`, 5_500, { reason: 'schema' }))
  const input: TopicMessages[] = [{ topic: 'vehicle.anomalies', messages: anomalies }, { topic: 'vehicle.telemetry.dlq', messages: dlq }]
  const requests = chunkTopicMessages(input, { maxBytes: 1_000_000, maxRecords: 100_000 })
  assert.ok(requests.length >= 13, `${requests.length} requests`)
  for (const r of requests) assert.ok(requestBytes(r) <= 1_000_000, `request of ${requestBytes(r)} bytes`)
  assert.deepEqual(flat(requests), flat([input]), 'every record once, in order')
  // A request that spans the two topics carries each once.
  for (const r of requests) assert.equal(new Set(r.map(t => t.topic)).size, r.length)
})

test('the record count bounds a request too', () => {
  const input: TopicMessages[] = [{ topic: 'a', messages: Array.from({ length: 25 }, (_, i) => msg(`k${i}`, 1)) }, { topic: 'b', messages: [msg('z', 1)] }]
  const requests = chunkTopicMessages(input, { maxBytes: 1_000_000, maxRecords: 10 })
  assert.deepEqual(requests.map(r => r.reduce((n, t) => n + t.messages.length, 0)), [10, 10, 6])
  assert.deepEqual(requests[2]!.map(t => t.topic), ['a', 'b'])
})

test('a record over the budget on its own goes alone; empty topics and empty input make no request', () => {
  const requests = chunkTopicMessages([{ topic: 'a', messages: [msg('s1', 10), msg('big', 5_000), msg('s2', 10)] }, { topic: 'b', messages: [] }], { maxBytes: 1_000, maxRecords: 100 })
  assert.deepEqual(requests.map(r => r.flatMap(t => t.messages.map(m => m.key))), [['s1'], ['big'], ['s2']])
  assert.deepEqual(chunkTopicMessages([], { maxBytes: 1_000, maxRecords: 10 }), [])
  assert.deepEqual(chunkTopicMessages([{ topic: 'a', messages: [] }], { maxBytes: 1_000, maxRecords: 10 }), [])
})
