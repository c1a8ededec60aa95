// The fleet-wide anomaly feed: this api process reads vehicle.anomalies in a consumer group of its
// own (every api replica sees every anomaly; nothing is committed) starting a little before the
// end, so a fresh process has the most recent ones at once. Keeps the newest in memory, counts them
// per minute for the summary, and tells the dashboard's streams about each one. The consumer runs
// under the consumer supervisor; a rebuilt one goes on after the last anomaly this process saw.
import { EventEmitter } from 'node:events'
import { randomUUID } from 'node:crypto'
import type { Kafka } from 'kafkajs'
import { checkAnomaly, type Anomaly } from '../../shared/src/anomaly-schema.js'
import type { Logger } from '../../shared/src/logger.js'
import { createSupervisedConsumer } from '../../shared/src/supervised-consumer.js'
import { KafkaTopics } from '../../shared/src/topics.js'

export interface AnomalyFeed {
  start: () => Promise<void>
  stop: () => Promise<void>
  /** Newest first, optionally of one car. */
  recent: (limit: number, vehicleId?: string) => Anomaly[]
  /** Anomalies seen in the last `minutes` (at most 60). */
  countSince: (minutes: number) => number
  onAnomaly: (fn: (a: Anomaly) => void) => () => void
  ready: () => boolean
}

export interface AnomalyFeedOptions {
  kafka: Pick<Kafka, 'consumer' | 'admin'>
  capacity: number
  instanceId: string
  log: Logger
  now?: () => number
  /** A crashed consumer was replaced, with the error that stopped it. */
  onRestart?: (err: Error) => void
  restartBackoffMs?: number
}

export function createAnomalyFeed (opts: AnomalyFeedOptions): AnomalyFeed {
  const now = opts.now ?? Date.now
  const ring: Anomaly[] = []
  const perMinute = new Map<number, number>()
  const emitter = new EventEmitter()
  emitter.setMaxListeners(0)
  /** Per partition, the offset after the last anomaly read: where a rebuilt consumer goes on. */
  const next = new Map<number, bigint>()
  /** A fresh process starts `capacity` records back (spread over the partitions); a rebuilt consumer where the last one stopped. */
  async function startOffsets (): Promise<Array<{ partition: number, offset: string }>> {
    const admin = opts.kafka.admin()
    await admin.connect()
    const offsets = await admin.fetchTopicOffsets(KafkaTopics.anomalies).finally(() => admin.disconnect())
    const back = BigInt(Math.max(1, Math.ceil(opts.capacity / Math.max(1, offsets.length))))
    return offsets.map(p => {
      const seen = next.get(p.partition)
      const start = BigInt(p.high) - back
      const fresh = start > BigInt(p.low) ? start : BigInt(p.low)
      return { partition: p.partition, offset: String(seen ?? fresh) }
    })
  }

  const consumer = createSupervisedConsumer({
    name: 'anomaly-feed',
    kafka: opts.kafka,
    // nothing is committed: the group is this process's own
    config: { groupId: `fleet-api-feed-${opts.instanceId}-${randomUUID().slice(0, 8)}`, sessionTimeout: 10_000, heartbeatInterval: 1_000, allowAutoTopicCreation: false },
    log: opts.log,
    initialBackoffMs: opts.restartBackoffMs ?? 1_000,
    maxBackoffMs: 30_000,
    ...(opts.onRestart !== undefined ? { onRestart: opts.onRestart } : {}),
    run: async (c, progress) => {
      const offsets = await startOffsets()
      await c.subscribe({ topic: KafkaTopics.anomalies, fromBeginning: false })
      await c.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          next.set(partition, BigInt(message.offset) + 1n)
          try {
            const v: unknown = JSON.parse(message.value?.toString('utf8') ?? '')
            if (checkAnomaly.Check(v)) add(v)
          } catch {}
          progress()
        }
      })
      for (const p of offsets) c.seek({ topic: KafkaTopics.anomalies, ...p })
    }
  })

  const add = (a: Anomaly) => {
    ring.push(a)
    if (ring.length > opts.capacity) ring.splice(0, ring.length - opts.capacity)
    const minute = Math.floor(Date.parse(a.scoredAt) / 60_000)
    if (Number.isFinite(minute)) perMinute.set(minute, (perMinute.get(minute) ?? 0) + 1)
    const oldest = Math.floor(now() / 60_000) - 60
    for (const m of perMinute.keys()) if (m < oldest) perMinute.delete(m)
    emitter.emit('anomaly', a)
  }

  return {
    async start () {
      await consumer.start()
      opts.log.info('anomaly feed started')
    },
    stop: () => consumer.stop().catch(() => {}),
    recent (limit, vehicleId) {
      const out: Anomaly[] = []
      for (let i = ring.length - 1; i >= 0 && out.length < limit; i--) {
        const a = ring[i]!
        if (vehicleId === undefined || a.vehicleId === vehicleId) out.push(a)
      }
      return out
    },
    countSince (minutes) {
      const from = Math.floor(now() / 60_000) - Math.min(60, minutes) + 1
      let n = 0
      for (const [m, c] of perMinute) if (m >= from) n += c
      return n
    },
    onAnomaly (fn) {
      emitter.on('anomaly', fn)
      return () => emitter.off('anomaly', fn)
    },
    ready: () => consumer.ready()
  }
}
