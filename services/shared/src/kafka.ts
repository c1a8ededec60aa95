// Kafka client construction (kafkajs) with logs routed to pino, TLS + SASL/SCRAM for every client
// (kafkajs and @platformatic/kafka alike), and idempotent topic creation.
import { readFileSync } from 'node:fs'
import { Kafka, logLevel, type Admin, type SASLOptions } from 'kafkajs'
// every kafkajs client of the services without its 1 ms idle timer loop per connection
import './kafkajs-request-queue.js'
import { ConfigError } from './config.js'
import type { KAFKA_SASL_MECHANISMS } from './common-config.js'
import type { Logger } from './logger.js'
import { topicPartitions, type KafkaTopic } from './topics.js'

export interface KafkaSettings {
  kafkaBrokers: string[]
  kafkaClientId: string
  kafkaTls?: boolean
  kafkaCaFile?: string
  kafkaSaslMechanism?: typeof KAFKA_SASL_MECHANISMS[number]
  kafkaSaslUsername?: string
  kafkaSaslPassword?: string
}

/** What a client needs to reach a secured Kafka: TLS (with the CA PEM) and SCRAM credentials. */
export interface KafkaSecurity {
  tls: { ca?: string } | null
  sasl: { mechanism: 'scram-sha-256' | 'scram-sha-512', username: string, password: string } | null
}

/** Checks the Kafka security settings together and reads the CA file; a bad combination is a ConfigError. */
export function kafkaSecurity (s: KafkaSettings): KafkaSecurity {
  const problems: string[] = []
  const mechanism = s.kafkaSaslMechanism ?? 'none'
  const caFile = s.kafkaCaFile ?? ''
  if (caFile !== '' && s.kafkaTls !== true) problems.push('FLEET_KAFKA_CA_FILE is set but FLEET_KAFKA_TLS is not true')
  if (mechanism !== 'none') {
    if (s.kafkaTls !== true) problems.push(`FLEET_KAFKA_SASL_MECHANISM=${mechanism} needs FLEET_KAFKA_TLS=true (SCRAM does not encrypt the records)`)
    if ((s.kafkaSaslUsername ?? '') === '' || (s.kafkaSaslPassword ?? '') === '') problems.push(`FLEET_KAFKA_SASL_MECHANISM=${mechanism} needs FLEET_KAFKA_SASL_USERNAME and FLEET_KAFKA_SASL_PASSWORD`)
  }
  let ca: string | undefined
  if (caFile !== '' && problems.length === 0) {
    try {
      ca = readFileSync(caFile, 'utf8')
    } catch (err) {
      problems.push(`FLEET_KAFKA_CA_FILE: cannot read ${caFile} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
    }
    if (ca !== undefined && !ca.includes('-----BEGIN CERTIFICATE-----')) problems.push(`FLEET_KAFKA_CA_FILE: ${caFile} holds no PEM certificate`)
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return {
    tls: s.kafkaTls === true ? (ca === undefined ? {} : { ca }) : null,
    sasl: mechanism === 'none' ? null : { mechanism, username: s.kafkaSaslUsername!, password: s.kafkaSaslPassword! }
  }
}

/** The same security as @platformatic/kafka connection options (`tls`, `sasl`). */
export function platformaticSecurity (sec: KafkaSecurity): { tls?: { ca?: string }, sasl?: { mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512', username: string, password: string } } {
  return {
    ...(sec.tls === null ? {} : { tls: sec.tls }),
    ...(sec.sasl === null ? {} : { sasl: { mechanism: sec.sasl.mechanism === 'scram-sha-256' ? 'SCRAM-SHA-256' : 'SCRAM-SHA-512', username: sec.sasl.username, password: sec.sasl.password } })
  }
}

const levelName: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug'
}

const TRANSIENT_ANSWER = /coordinator is loading|coordinator is not available|not the correct coordinator|no leader for this topic-partition/i

export function createKafka (settings: KafkaSettings, log: Logger, clientIdSuffix = ''): Kafka {
  const kafkaLog = log.child({ component: 'kafkajs' })
  const sec = kafkaSecurity(settings)
  return new Kafka({
    clientId: settings.kafkaClientId + clientIdSuffix,
    brokers: settings.kafkaBrokers,
    ...(sec.tls === null ? {} : { ssl: sec.tls.ca === undefined ? true : { ca: [sec.tls.ca] } }),
    ...(sec.sasl === null ? {} : { sasl: sec.sasl as SASLOptions }),
    connectionTimeout: 3_000,
    requestTimeout: 10_000,
    // kafkajs' own retries are short; callers that must not lose data retry on top of them.
    retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2_000 },
    logLevel: logLevel.WARN,
    logCreator: () => ({ level: given, log: entry }) => {
      const { message, ...rest } = entry
      // Our producers bound kafkajs' retries on purpose and retry whole batches themselves (see
      // services/broker/src/kafka-ingest.ts), so this warning says nothing new.
      if (message.startsWith('Limiting retries for the idempotent producer')) return
      // A new cluster answers "coordinator is loading" / "not available" until __consumer_offsets
      // is ready; kafkajs retries these by itself, so they are not errors.
      const level = given === logLevel.ERROR && TRANSIENT_ANSWER.test(String(rest.error ?? '')) ? logLevel.DEBUG : given
      // kafkajs logs the whole config and stack; keep the line small.
      kafkaLog[levelName[level] ?? 'info']({ ns: entry.namespace, broker: rest.broker, error: rest.error }, message)
    }
  })
}

/**
 * Creates fleet's topics that are missing (single-node replication unless told); safe to run at
 * every start. Existing topics are left as they are (their replicas and settings are Kafka's business).
 */
export async function ensureTopics (admin: Admin, topics: KafkaTopic[] = Object.keys(topicPartitions) as KafkaTopic[], replicationFactor = 1, minInsyncReplicas?: number): Promise<string[]> {
  const existing = new Set(await admin.listTopics())
  const missing = topics.filter(t => !existing.has(t))
  if (missing.length > 0) {
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map(topic => ({
        topic,
        numPartitions: topicPartitions[topic],
        replicationFactor,
        ...(minInsyncReplicas === undefined ? {} : { configEntries: [{ name: 'min.insync.replicas', value: String(minInsyncReplicas) }] })
      }))
    })
  }
  return missing
}
