// Kafka client construction (kafkajs) with logs routed to pino, and idempotent topic creation.
import { Kafka, logLevel, type Admin } from 'kafkajs'
import type { Logger } from './logger.js'
import { topicPartitions, type KafkaTopic } from './topics.js'

export interface KafkaSettings { kafkaBrokers: string[], kafkaClientId: string }

const levelName: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug'
}

export function createKafka (settings: KafkaSettings, log: Logger, clientIdSuffix = ''): Kafka {
  const kafkaLog = log.child({ component: 'kafkajs' })
  return new Kafka({
    clientId: settings.kafkaClientId + clientIdSuffix,
    brokers: settings.kafkaBrokers,
    connectionTimeout: 3_000,
    requestTimeout: 10_000,
    // kafkajs' own retries are short; callers that must not lose data retry on top of them.
    retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2_000 },
    logLevel: logLevel.WARN,
    logCreator: () => ({ level, log: entry }) => {
      const { message, ...rest } = entry
      // Our producers bound kafkajs' retries on purpose and retry whole batches themselves (see
      // services/broker/src/kafka-ingest.ts), so this warning says nothing new.
      if (message.startsWith('Limiting retries for the idempotent producer')) return
      // kafkajs logs the whole config and stack; keep the line small.
      kafkaLog[levelName[level] ?? 'info']({ ns: entry.namespace, broker: rest.broker, error: rest.error }, message)
    }
  })
}

/** Creates fleet's topics that are missing (single-node replication); safe to run at every start. */
export async function ensureTopics (admin: Admin, topics: KafkaTopic[] = Object.keys(topicPartitions) as KafkaTopic[], replicationFactor = 1): Promise<string[]> {
  const existing = new Set(await admin.listTopics())
  const missing = topics.filter(t => !existing.has(t))
  if (missing.length > 0) {
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map(topic => ({ topic, numPartitions: topicPartitions[topic], replicationFactor }))
    })
  }
  return missing
}
