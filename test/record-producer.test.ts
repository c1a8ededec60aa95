// The broker's Kafka client against a real Kafka: it writes records with their keys, values,
// headers and timestamps intact, puts a car on the partition Kafka's Java client (and the other
// services' kafkajs) would choose, and refuses to start without Kafka.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Partitioners } from 'kafkajs'
import { KafkaTopics, topicPartitions } from '../services/shared/src/topics.js'
import { platformaticRecordProducer, type RecordProducer } from '../services/broker/src/record-producer.js'
import type { IngestRecord } from '../services/broker/src/kafka-ingest.js'
import { uniqueFleetPrefix } from './helpers/cars.js'
import { collect, type Collector } from './helpers/kafka.js'

const brokers = (process.env.FLEET_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',')
const topic = KafkaTopics.telemetry
const prefix = uniqueFleetPrefix('producer')
let telemetry: Collector

before(async () => { telemetry = await collect(topic, key => key.startsWith(prefix)) })
after(async () => { await telemetry?.stop() })

const clients: Record<string, () => RecordProducer> = {
  platformatic: () => platformaticRecordProducer({ clientId: 'fleet-test', brokers, topics: [topic] })
}

const javaPartition = Partitioners.DefaultPartitioner()
const expectedPartition = (key: string) => javaPartition({
  topic,
  partitionMetadata: Array.from({ length: topicPartitions[topic] }, (_, i) => ({ partitionId: i, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] })),
  message: { key, value: '' }
})

for (const [name, make] of Object.entries(clients)) {
  test(`${name}: records arrive as sent, in order, on the Java client's partition of their key`, async () => {
    const producer = make()
    await producer.connect()
    const cars = Array.from({ length: 40 }, (_, i) => `${prefix}-${name}-${i}`)
    const sent: IngestRecord[] = []
    for (let batch = 0; batch < 5; batch++) {
      const records = cars.map((key, i) => ({
        topic,
        key,
        value: Buffer.from(JSON.stringify({ batch, i, name })),
        timestamp: 1_700_000_000_000 + batch * 1_000 + i,
        ...(i % 4 === 0 ? { headers: { reason: `r-${batch}`, 'x-ü': 'ünïcode' } } : {})
      }))
      await producer.send(records)
      sent.push(...records)
    }
    await producer.disconnect()
    const mine = () => telemetry.records.filter(r => r.key.startsWith(`${prefix}-${name}-`))
    await telemetry.waitFor(() => mine().length >= sent.length)
    const got = mine()
    assert.equal(got.length, sent.length, 'each record once')
    for (const key of cars) {
      const want = sent.filter(r => r.key === key)
      const have = got.filter(r => r.key === key)
      assert.deepEqual(have.map(r => r.value.toString()), want.map(r => r.value.toString()), `${key}: values in order`)
      assert.deepEqual(have.map(r => r.timestamp), want.map(r => String(r.timestamp)), `${key}: timestamps`)
      assert.deepEqual(new Set(have.map(r => r.partition)), new Set([expectedPartition(key)]), `${key}: partition`)
      for (const [i, r] of have.entries()) {
        const h = want[i]!.headers
        if (h === undefined) assert.deepEqual(r.headers, {}, `${key}: no headers`)
        else assert.deepEqual(Object.fromEntries(Object.entries(r.headers ?? {}).map(([k, v]) => [k, v?.toString()])), h, `${key}: headers`)
      }
    }
  })

  test(`${name}: connect fails with a clear error when Kafka cannot be reached`, async () => {
    const producer = platformaticRecordProducer({ clientId: 'fleet-test', brokers: ['127.0.0.1:1'], topics: [topic] })
    const started = Date.now()
    await assert.rejects(producer.connect(), (err: Error) => /ECONNREFUSED|connect/i.test(err.message))
    assert.ok(Date.now() - started < 30_000)
    await producer.disconnect().catch(() => {})
  })
}
