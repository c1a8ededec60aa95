// The broker's Kafka producer behind one small interface: @platformatic/kafka, idempotent with
// acks=all and one request in flight, a car's records on the partition Kafka's Java client (and the
// other services' kafkajs) would choose. It takes about a third of kafkajs' CPU per record
// (docs/architecture.md, Kafka client).
import { Producer as PlatformaticProducer, ProduceAcks, stringSerializer, type Serializers } from '@platformatic/kafka'
import { keyHashCache } from '../../shared/src/kafka-partitioner.js'
import type { platformaticSecurity } from '../../shared/src/kafka.js'
import type { IngestRecord } from './kafka-ingest.js'

export interface RecordProducer {
  /** Fails when Kafka cannot be reached (a broker does not start without it). */
  connect: () => Promise<void>
  /** Resolves once Kafka acknowledged every record (acks=all), rejects when any was not. */
  send: (records: readonly IngestRecord[]) => Promise<void>
  disconnect: () => Promise<void>
}

export interface PlatformaticProducerOptions {
  clientId: string
  brokers: string[]
  /** Topics looked up at connect, so that a broker without Kafka fails to start. */
  topics: string[]
  /** TLS and SASL/SCRAM (services/shared/src/kafka.ts platformaticSecurity). */
  security?: ReturnType<typeof platformaticSecurity>
}

const serializers: Serializers<string, Buffer, string, string> = {
  key: stringSerializer,
  value: (v?: Buffer) => v,
  headerKey: stringSerializer,
  headerValue: stringSerializer
}

/** The first cause of an aggregated client error, so that a log line says what failed. */
function describe (err: unknown): Error {
  if (!(err instanceof Error)) return new Error(String(err))
  const inner = (err as { errors?: unknown[] }).errors?.[0] ?? (err as { cause?: unknown }).cause
  if (inner instanceof Error && inner !== err) return new Error(`${err.message} ${describe(inner).message}`, { cause: err })
  return err
}

export function platformaticRecordProducer (opts: PlatformaticProducerOptions): RecordProducer {
  // Each car's partition hash is computed once; the client takes it modulo the partition count.
  const hash = keyHashCache()
  const producer = new PlatformaticProducer<string, Buffer, string, string>({
    clientId: opts.clientId,
    bootstrapBrokers: opts.brokers,
    ...opts.security,
    serializers,
    idempotent: true,
    acks: ProduceAcks.ALL,
    autocreateTopics: false,
    connectTimeout: 3_000,
    timeout: 10_000,
    // The client's own retries are short; kafka-ingest retries whole batches on top of them.
    retries: 3,
    retryDelay: 200,
    partitioner: message => typeof message.key === 'string' ? hash(message.key) : 0
  })
  return {
    async connect () {
      try {
        await producer.metadata({ topics: opts.topics })
      } catch (err) {
        throw describe(err)
      }
    },
    async send (records) {
      const messages = records.map(r => ({ topic: r.topic, key: r.key, value: r.value, timestamp: BigInt(r.timestamp), headers: r.headers }))
      try {
        await producer.send({ messages })
      } catch (err) {
        throw describe(err)
      }
    },
    disconnect: () => producer.close()
  }
}
