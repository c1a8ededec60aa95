import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Producer } from 'kafkajs'
import { createLogger } from './logger.js'
import { createRenewableProducer, isNonRetriable, kafkaErrorType } from './renewable-producer.js'

/** What kafkajs rejects a send with once the broker refused a sequence number. */
const outOfOrder = () => {
  const cause = Object.assign(new Error('The broker received an out of order sequence number'), { name: 'KafkaJSProtocolError', type: 'OUT_OF_ORDER_SEQUENCE_NUMBER', retriable: false })
  return Object.assign(new Error(cause.message), { name: 'KafkaJSNonRetriableError', retriable: false, cause })
}

function fakes () {
  const made: Array<{ sends: number, connected: boolean, broken: boolean }> = []
  const create = () => {
    const p = { sends: 0, connected: false, broken: false }
    made.push(p)
    return {
      connect: async () => { p.connected = true },
      disconnect: async () => { p.connected = false },
      send: async () => {
        p.sends++
        if (p.broken) throw outOfOrder()
        return []
      }
    } as unknown as Producer
  }
  return { made, create }
}

test('kafkajs errors: non-retriable and the Kafka error code are read through the cause chain', () => {
  assert.equal(isNonRetriable(outOfOrder()), true)
  assert.equal(kafkaErrorType(outOfOrder()), 'OUT_OF_ORDER_SEQUENCE_NUMBER')
  assert.equal(isNonRetriable(Object.assign(new Error('Connection error'), { name: 'KafkaJSConnectionError', retriable: true })), false)
  assert.equal(isNonRetriable(new Error('plain')), false)
  // Retries that ran out during an outage (seen in the two-nodes-down fault run): not a broken producer.
  const refused = Object.assign(new Error('connect ECONNREFUSED'), { name: 'KafkaJSConnectionError', retriable: true })
  assert.equal(isNonRetriable(Object.assign(new Error(refused.message), { name: 'KafkaJSNumberOfRetriesExceeded', retriable: false, cause: refused })), false)
})

test('a producer whose sequence numbers the broker refused is replaced; later sends go to the new one', async () => {
  const f = fakes()
  const reasons: string[] = []
  const p = createRenewableProducer({ create: f.create, log: createLogger('t', 'silent'), onRenew: r => reasons.push(r) })
  await p.connect()
  await p.send({ topic: 't', messages: [] })
  f.made[0]!.broken = true
  await assert.rejects(p.send({ topic: 't', messages: [] }), /out of order/)
  await new Promise(resolve => setImmediate(resolve))
  assert.deepEqual(reasons, ['OUT_OF_ORDER_SEQUENCE_NUMBER'])
  assert.equal(f.made.length, 2)
  assert.equal(f.made[1]!.connected, true)
  assert.equal(f.made[0]!.connected, false, 'the broken one is disconnected')
  await p.send({ topic: 't', messages: [] })
  assert.equal(f.made[1]!.sends, 1)
})

test('a retriable failure keeps the producer', async () => {
  let created = 0
  const p = createRenewableProducer({
    create: () => ({ created: created++, connect: async () => {}, disconnect: async () => {}, send: async () => { throw Object.assign(new Error('timeout'), { name: 'KafkaJSRequestTimeoutError', retriable: true }) } }) as unknown as Producer,
    log: createLogger('t', 'silent')
  })
  await assert.rejects(p.send({ topic: 't', messages: [] }), /timeout/)
  await new Promise(resolve => setImmediate(resolve))
  assert.equal(created, 1)
})
