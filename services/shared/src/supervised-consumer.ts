// A kafkajs consumer kept alive by the consumer supervisor: each launch is a new consumer that
// kafkajs may not restart by itself (restartOnFailure false), so every crash, a non-retriable
// error as much as retries run out, comes here and is rebuilt after a backoff, counted and logged.
import type { Consumer, ConsumerConfig, Kafka } from 'kafkajs'
import { createConsumerSupervisor, type SupervisorState } from './consumer-supervisor.js'
import type { Logger } from './logger.js'

export interface SupervisedConsumerOptions {
  /** Names the consumer in logs and metrics. */
  name: string
  kafka: Pick<Kafka, 'consumer'>
  config: ConsumerConfig
  /** Subscribes and runs the consumer; calls `progress` whenever a batch was handled. */
  run: (consumer: Consumer, progress: () => void) => Promise<void>
  log: Logger
  initialBackoffMs: number
  maxBackoffMs: number
  /** Restarts in a row without progress before giving up (0, the default: never). */
  maxRestarts?: number
  onRestart?: (err: Error) => void
  /** Runs before every launch but the first (e.g. a producer the crash may have broken is renewed). */
  beforeRelaunch?: () => Promise<void>
}

export interface SupervisedConsumer {
  /** Launches the first consumer; throws when that launch fails. */
  start: () => Promise<void>
  stop: () => Promise<void>
  /** The current consumer has joined its group and not crashed since. */
  ready: () => boolean
  readonly state: SupervisorState
}

export function createSupervisedConsumer (opts: SupervisedConsumerOptions): SupervisedConsumer {
  const log = opts.log.child({ consumer: opts.name })
  let member: Consumer | null = null
  let launches = 0

  async function launch (crashed: (err: Error) => void) {
    if (launches++ > 0) await opts.beforeRelaunch?.()
    const consumer = opts.kafka.consumer({ ...opts.config, retry: { ...opts.config.retry, restartOnFailure: async () => false } })
    consumer.on(consumer.events.GROUP_JOIN, () => {
      member = consumer
      log.info({ launch: launches }, 'consumer joined its group')
    })
    consumer.on(consumer.events.CRASH, e => {
      if (member === consumer) member = null
      crashed(e.payload.error)
    })
    try {
      await consumer.connect()
      await opts.run(consumer, () => supervisor.progress())
    } catch (err) {
      if (member === consumer) member = null
      await consumer.disconnect().catch(() => {})
      throw err
    }
    return {
      stop: async () => {
        if (member === consumer) member = null
        await consumer.disconnect()
      }
    }
  }

  const supervisor = createConsumerSupervisor({
    launch,
    log,
    initialBackoffMs: opts.initialBackoffMs,
    maxBackoffMs: opts.maxBackoffMs,
    maxRestarts: opts.maxRestarts ?? 0,
    ...(opts.onRestart !== undefined ? { onRestart: opts.onRestart } : {})
  })

  return {
    start: () => supervisor.start(),
    stop: () => supervisor.stop(),
    ready: () => member !== null && supervisor.state === 'running',
    get state () { return supervisor.state }
  }
}

/**
 * Commits `offset` as the next record to read, before an error gives the batch up: a group that
 * committed nothing yet would otherwise start the rebuilt consumer at the end and skip the record.
 */
export async function keepForNextConsumer (commit: (offsets: { topics: Array<{ topic: string, partitions: Array<{ partition: number, offset: string }> }> }) => Promise<void>, topic: string, partition: number, offset: string): Promise<void> {
  await commit({ topics: [{ topic, partitions: [{ partition, offset }] }] }).catch(() => {})
}
