import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { test } from 'node:test'
import type { Kafka } from 'kafkajs'
import type { Anomaly } from '../../shared/src/anomaly-schema.js'
import { createLogger } from '../../shared/src/logger.js'
import { createAnomalyFeed } from './anomaly-feed.js'

type EachMessage = (p: { partition: number, message: { offset: string, value: Buffer } }) => Promise<void>

/** A kafkajs consumer stand-in: joins when run, records its seeks, and crashes as kafkajs reports it. */
class FakeConsumer extends EventEmitter {
  readonly events = { GROUP_JOIN: 'consumer.group_join', CRASH: 'consumer.crash' }
  eachMessage: EachMessage | null = null
  seeks: Array<{ partition: number, offset: string }> = []
  async connect () {}
  async subscribe () {}
  async run ({ eachMessage }: { eachMessage: EachMessage }) {
    this.eachMessage = eachMessage
    setImmediate(() => this.emit(this.events.GROUP_JOIN, { payload: {} }))
  }

  seek (s: { partition: number, offset: string }) { this.seeks.push({ partition: s.partition, offset: s.offset }) }
  async disconnect () {}
  crash (error: Error) { this.emit(this.events.CRASH, { payload: { error, restart: false } }) }
}

const anomaly = (vehicleId: string): Anomaly => ({
  vehicleId,
  seq: 1,
  ts: 0,
  scoredAt: new Date().toISOString(),
  score: 2,
  rowScore: 2,
  threshold: 1,
  anomalous: true,
  modelVersion: 't',
  topFeatures: [],
  failureModeGuess: null,
  source: { partition: 0, offset: '0' }
})

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise(resolve => setTimeout(resolve, 10))
  assert.ok(check())
}

test('a feed consumer that kafkajs will not restart is rebuilt and goes on after the last anomaly it read', async () => {
  const consumers: FakeConsumer[] = []
  const kafka = {
    consumer: () => { const c = new FakeConsumer(); consumers.push(c); return c },
    admin: () => ({ connect: async () => {}, disconnect: async () => {}, fetchTopicOffsets: async () => [{ partition: 0, low: '0', high: '100', offset: '100' }, { partition: 1, low: '0', high: '10', offset: '10' }] })
  } as unknown as Kafka
  const restarts: Error[] = []
  const feed = createAnomalyFeed({ kafka, capacity: 20, instanceId: 't', log: createLogger('t', 'silent'), restartBackoffMs: 10, onRestart: err => restarts.push(err) })
  await feed.start()
  await until(() => feed.ready())
  assert.deepEqual(consumers[0]!.seeks, [{ partition: 0, offset: '90' }, { partition: 1, offset: '0' }], 'capacity records back, spread over the partitions')
  await consumers[0]!.eachMessage!({ partition: 0, message: { offset: '90', value: Buffer.from(JSON.stringify(anomaly('a'))) } })
  await consumers[0]!.eachMessage!({ partition: 0, message: { offset: '91', value: Buffer.from(JSON.stringify(anomaly('b'))) } })
  consumers[0]!.crash(Object.assign(new Error('not the coordinator'), { name: 'KafkaJSNonRetriableError' }))
  assert.equal(feed.ready(), false, 'not ready while it is down')
  await until(() => consumers.length === 2 && feed.ready())
  assert.deepEqual(consumers[1]!.seeks, [{ partition: 0, offset: '92' }, { partition: 1, offset: '0' }], 'after what it read, not the same anomalies again')
  assert.deepEqual(restarts.map(e => e.name), ['KafkaJSNonRetriableError'])
  assert.deepEqual(feed.recent(10).map(a => a.vehicleId), ['b', 'a'])
  await feed.stop()
})
