// One launch of the scorer's consumer on vehicle.telemetry: a new kafkajs consumer in the group,
// with bounded fetches, that hands each partition's batch to the micro-batcher and moves that
// partition's offset only once the batch's results are written. kafkajs is told never to restart
// it by itself: a crash goes to the supervisor (consumer-supervisor.ts), which restarts it.
import type { Kafka } from 'kafkajs'
import type { Logger } from '../../shared/src/logger.js'
import { KafkaTopics } from '../../shared/src/topics.js'
import type { TelemetryRecord } from './batch-scoring.js'
import type { ConsumerProgress } from './consumer-progress.js'
import type { LaunchedConsumer } from '../../shared/src/consumer-supervisor.js'
import type { ScorerConfig } from './scorer-config.js'
import type { ScorerMetrics } from './scorer-metrics.js'

const HEARTBEAT_MS = 3_000

export interface TelemetryConsumerDeps {
  kafka: Kafka
  config: ScorerConfig
  log: Logger
  metrics: ScorerMetrics
  progress: ConsumerProgress
  /** Scores the records and writes their results; resolves once they are written. */
  submit: (records: TelemetryRecord[]) => Promise<void>
  /** The consumer joined the group (true) or stopped being a member (false). */
  membership: (joined: boolean) => void
}

export async function launchTelemetryConsumer (deps: TelemetryConsumerDeps, crashed: (err: Error) => void): Promise<LaunchedConsumer> {
  const { config, progress } = deps
  let dead = false
  const consumer = deps.kafka.consumer({
    groupId: config.groupId,
    sessionTimeout: 30_000,
    heartbeatInterval: HEARTBEAT_MS,
    minBytes: config.fetchMinBytes,
    maxWaitTimeInMs: config.fetchMaxWaitMs,
    maxBytes: config.fetchMaxBytes,
    maxBytesPerPartition: config.fetchMaxPartitionBytes,
    allowAutoTopicCreation: false,
    retry: { retries: 5, restartOnFailure: async () => false }
  })
  consumer.on(consumer.events.GROUP_JOIN, e => {
    const partitions = e.payload.memberAssignment[KafkaTopics.telemetry] ?? []
    progress.assigned(partitions)
    deps.membership(true)
    deps.log.info({ partitions: partitions.length }, 'joined the consumer group')
  })
  consumer.on(consumer.events.CRASH, e => {
    dead = true
    deps.membership(false)
    crashed(e.payload.error)
  })
  try {
    await consumer.connect()
    await consumer.subscribe({ topic: KafkaTopics.telemetry, fromBeginning: config.fromBeginning })
    await consumer.run({
      partitionsConsumedConcurrently: config.partitionsConcurrently,
      eachBatchAutoResolve: false,
      autoCommitInterval: 1_000,
      eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }) => {
        if (batch.messages.length === 0 || !isRunning() || isStale()) return
        progress.batchStarted()
        // On a starved machine a catch-up batch can outlast the session timeout: heartbeats while
        // it is scored keep this member in the group (kafkajs sends one per heartbeatInterval).
        const beat = setInterval(() => { heartbeat().catch(() => {}) }, HEARTBEAT_MS)
        try {
          await deps.submit(batch.messages.map(m => ({ partition: batch.partition, offset: m.offset, key: m.key, value: m.value, timestamp: m.timestamp })))
        } catch (err) {
          progress.batchFailed()
          throw err
        } finally {
          clearInterval(beat)
        }
        // This consumer crashed while the batch was scored: its membership is gone, the next
        // consumer fetches the batch again from the committed offset (scored twice, never lost).
        if (dead) {
          progress.batchFailed()
          return
        }
        // Only now, with the results in Redis and Kafka, may the offsets move.
        const last = batch.lastOffset()
        resolveOffset(last)
        const lag = Math.max(0, Number(batch.highWatermark) - Number(last) - 1)
        deps.metrics.consumerLag.set({ partition: String(batch.partition) }, lag)
        progress.batchDone(batch.partition, lag)
        await commitOffsetsIfNecessary()
        await heartbeat()
      }
    })
  } catch (err) {
    deps.membership(false)
    await consumer.disconnect().catch(() => {})
    throw err
  }
  return {
    stop: async () => {
      deps.membership(false)
      await consumer.disconnect()
    }
  }
}
