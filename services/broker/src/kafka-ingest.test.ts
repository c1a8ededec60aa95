import assert from 'node:assert/strict'
import { test } from 'node:test'
import { pino } from 'pino'
import { createRegistry } from '../../shared/src/metrics.js'
import { createBrokerMetrics } from './broker-metrics.js'
import { createKafkaIngest, ShutdownError, type IngestRecord } from './kafka-ingest.js'

/** A producer whose sends the test completes by hand. */
function fakeProducer () {
  const sends: Array<{ batch: IngestRecord[], resolve: () => void, reject: (e: Error) => void }> = []
  return {
    sends,
    producer: {
      send: (records: readonly IngestRecord[]) => new Promise<void>((resolve, reject) => {
        sends.push({ batch: [...records], resolve: () => resolve(), reject })
      })
    }
  }
}

const rec = (i: number, topic = 't'): IngestRecord => ({ topic, key: `car-${i % 3}`, value: Buffer.from(String(i)), timestamp: 0 })
// setImmediate first: a full batch is flushed from an immediate, and on a busy machine a 5 ms
// timer alone can fire before it (seen once in CI, with Kafka starting on both cores)
const tick = async (ms = 5) => {
  await new Promise(resolve => setImmediate(resolve))
  await new Promise(resolve => setTimeout(resolve, ms))
}
const make = (producer: ReturnType<typeof fakeProducer>['producer'], maxBatch = 100, lingerMs = 1) =>
  createKafkaIngest({ producer: producer as never, lingerMs, maxBatch, log: pino({ level: 'silent' }), metrics: createBrokerMetrics(createRegistry('t', false)), retryMinMs: 1, retryMaxMs: 5 })

test('records are batched, one request in flight, and called back only after the ack', async () => {
  const { producer, sends } = fakeProducer()
  const sink = make(producer, 100)
  const done: number[] = []
  for (let i = 0; i < 10; i++) sink.write(rec(i), err => { assert.equal(err, undefined); done.push(i) })
  await tick()
  assert.equal(sends.length, 1)
  assert.equal(sends[0]!.batch.length, 10)
  for (let i = 10; i < 15; i++) sink.write(rec(i), () => done.push(i))
  await tick()
  assert.equal(sends.length, 1, 'the next batch waits for the one in flight')
  assert.equal(done.length, 0)
  assert.equal(sink.pending(), 15)
  sends[0]!.resolve()
  await tick()
  assert.deepEqual(done, [...Array(10).keys()])
  assert.equal(sends.length, 2)
  assert.equal(sends[1]!.batch.length, 5)
  sends[1]!.resolve()
  await tick()
  assert.deepEqual(done, [...Array(15).keys()])
  assert.equal(sink.pending(), 0)
})

test('a batch never exceeds maxBatch and keeps the records\' order across topics', async () => {
  const { producer, sends } = fakeProducer()
  const sink = make(producer, 4)
  for (let i = 0; i < 6; i++) sink.write(rec(i, i % 2 === 0 ? 'a' : 'b'), () => {})
  await tick()
  assert.deepEqual(sends[0]!.batch.map(r => `${r.topic}${r.value.toString()}`), ['a0', 'b1', 'a2', 'b3'])
})

test('a failing send is retried with the same records in the same order; callbacks wait', async () => {
  const { producer, sends } = fakeProducer()
  const sink = make(producer)
  const done: number[] = []
  for (let i = 0; i < 5; i++) sink.write(rec(i), () => done.push(i))
  await tick()
  sends[0]!.reject(new Error('broker down'))
  await tick(20)
  assert.equal(sink.healthy(), false)
  assert.equal(done.length, 0)
  sink.write(rec(5), () => done.push(5))
  sends[1]!.reject(new Error('still down'))
  await tick(20)
  const retry = sends.at(-1)!
  assert.deepEqual(retry.batch.map(r => r.value.toString()), ['0', '1', '2', '3', '4'])
  retry.resolve()
  await tick()
  assert.equal(sink.healthy(), true)
  assert.deepEqual(done, [0, 1, 2, 3, 4])
  sends.at(-1)!.resolve()
  await tick()
  assert.deepEqual(done, [0, 1, 2, 3, 4, 5])
})

test('drain waits for pending records; close fails what is left with ShutdownError', async () => {
  const { producer, sends } = fakeProducer()
  const sink = make(producer)
  const errors: Array<Error | undefined> = []
  sink.write(rec(1), err => errors.push(err))
  await tick()
  assert.equal(await sink.drain(20), false)
  const drained = sink.drain(1_000)
  sends[0]!.resolve()
  assert.equal(await drained, true)
  sink.write(rec(2), err => errors.push(err))
  sink.close()
  sink.write(rec(3), err => errors.push(err))
  assert.equal(errors[0], undefined)
  assert.ok(errors[1] instanceof ShutdownError)
  assert.ok(errors[2] instanceof ShutdownError)
})
