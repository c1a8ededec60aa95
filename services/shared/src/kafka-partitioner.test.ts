import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Partitioners, type PartitionMetadata } from 'kafkajs'
import { cachedKeyPartitioner } from './kafka-partitioner.js'

const meta = (n: number): PartitionMetadata[] => Array.from({ length: n }, (_, i) => ({ partitionId: i, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] }))

test('every key lands where kafkajs\' default partitioner puts it, also after the partition count changes', () => {
  const cached = cachedKeyPartitioner(100)()
  const reference = Partitioners.DefaultPartitioner()
  for (const n of [6, 6, 12]) {
    for (let i = 0; i < 1_000; i++) {
      const message = { key: `car-${i % 300}`, value: 'x' }
      assert.equal(cached({ topic: 'vehicle.telemetry', partitionMetadata: meta(n), message }), reference({ topic: 'vehicle.telemetry', partitionMetadata: meta(n), message }))
    }
  }
})

test('an explicit partition wins, and keyless records are spread over the partitions', () => {
  const cached = cachedKeyPartitioner()()
  assert.equal(cached({ topic: 't', partitionMetadata: meta(6), message: { key: 'car-1', value: 'x', partition: 4 } }), 4)
  const seen = new Set<number>()
  for (let i = 0; i < 60; i++) seen.add(cached({ topic: 't', partitionMetadata: meta(6), message: { value: 'x' } }))
  assert.ok(seen.size > 1)
})
