// Reads what the system under test wrote to Kafka: a consumer (unique group) that starts at the
// offsets the topic had when `collect` was called, so a test sees only records from then on (or
// given offsets, or the topic's beginning).
import { randomUUID } from 'node:crypto'
import type { KafkaMessage } from 'kafkajs'
import { createKafka } from '../../services/shared/src/kafka.js'
import { createLogger } from '../../services/shared/src/logger.js'
import { seededRandom } from '../../services/shared/src/seeded-random.js'
import { validTelemetry } from '../../services/shared/src/telemetry-samples.js'
import { KafkaTopics } from '../../services/shared/src/topics.js'

export interface Collected { partition: number, offset: string, key: string, value: Buffer, headers: KafkaMessage['headers'], timestamp: string }

export interface Collector {
  records: Collected[]
  waitFor: (predicate: (records: Collected[]) => boolean, timeoutMs?: number) => Promise<void>
  stop: () => Promise<void>
}

export const testKafka = () => createKafka({ kafkaBrokers: (process.env.FLEET_KAFKA_BROKERS ?? '127.0.0.1:19092').split(','), kafkaClientId: 'fleet-test' }, createLogger('test-kafka', 'silent'))

export type Offsets = Array<{ partition: number, offset: string }>

/** The topic's current end offsets: where a collector started later should begin. */
export async function endOffsets (topic: string): Promise<Offsets> {
  const admin = testKafka().admin()
  await admin.connect()
  try {
    return (await admin.fetchTopicOffsets(topic)).map(({ partition, offset }) => ({ partition, offset }))
  } finally {
    await admin.disconnect()
  }
}

/** `from`: the offsets to start at (default: the end offsets now), or 'earliest': the whole topic,
 *  subscribed from the beginning with no seek. */
export async function collect (topic: string, keep: (key: string) => boolean = () => true, from?: Offsets | 'earliest'): Promise<Collector> {
  const kafka = testKafka()
  const start = from === 'earliest' ? [] : from ?? await endOffsets(topic)
  const consumer = kafka.consumer({ groupId: `fleet-test-${randomUUID()}`, sessionTimeout: 10_000, heartbeatInterval: 1_000, retry: { retries: 20 } })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: from === 'earliest' })
  const records: Collected[] = []
  // A consumer group may hand a record out again (a rebalance before its offset was committed, on a
  // starved machine): the same partition and offset is the same record, kept once, so a test's
  // count is Kafka's. A record Kafka holds twice has two offsets and is kept twice.
  const seen = new Set<string>()
  let ready!: () => void
  const assigned = new Promise<void>(resolve => { ready = resolve })
  consumer.on(consumer.events.GROUP_JOIN, () => ready())
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const key = message.key?.toString() ?? ''
      if (!keep(key)) return
      const at = `${partition}:${message.offset}`
      if (seen.has(at)) return
      seen.add(at)
      records.push({ partition, offset: message.offset, key, value: message.value ?? Buffer.alloc(0), headers: message.headers, timestamp: message.timestamp })
    }
  })
  for (const p of start) consumer.seek({ topic, partition: p.partition, offset: p.offset })
  await assigned
  return {
    records,
    async waitFor (predicate, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs
      while (!predicate(records)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for records on ${topic} (have ${records.length})`)
        await new Promise(resolve => setTimeout(resolve, 50))
      }
    },
    stop: () => consumer.disconnect()
  }
}

/**
 * Puts `count` valid telemetry records of `cars` cars (`${idPrefix}-${n}`) in vehicle.telemetry, the
 * cars taking turns, each car's seq counting up one per `intervalMs` of car time ending now: a
 * backlog for a scorer to work off. 10,000 records per request, four requests in flight, acks=1.
 */
export async function produceTelemetryBacklog (o: { count: number, cars: number, idPrefix: string, intervalMs: number, seed: number }): Promise<void> {
  const producer = testKafka().producer({ allowAutoTopicCreation: false })
  await producer.connect()
  try {
    const perCar = Math.ceil(o.count / o.cars)
    const start = Date.now() - perCar * o.intervalMs
    const rnd = seededRandom(o.seed)
    const bodies = Array.from({ length: 1_000 }, (_, i) => {
      const { vehicleId: _v, seq: _s, ts: _t, ...rest } = validTelemetry('x', i, rnd)
      return JSON.stringify(rest).slice(1)
    })
    const batch = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => {
      const i = from + k
      const car = `${o.idPrefix}-${i % o.cars}`
      const seq = Math.floor(i / o.cars)
      return { key: car, value: `{"vehicleId":"${car}","seq":${seq},"ts":${start + seq * o.intervalMs},${bodies[i % bodies.length]!}` }
    })
    const STEP = 10_000
    let inFlight: Array<Promise<unknown>> = []
    for (let i = 0; i < o.count; i += STEP) {
      inFlight.push(producer.send({ topic: KafkaTopics.telemetry, acks: 1, messages: batch(i, Math.min(o.count, i + STEP)) }))
      if (inFlight.length === 4) {
        await Promise.all(inFlight)
        inFlight = []
      }
    }
    await Promise.all(inFlight)
  } finally {
    await producer.disconnect()
  }
}
