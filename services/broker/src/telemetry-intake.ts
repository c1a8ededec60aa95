// PUBLISH policy and the ingest step. Runs as aedes' authorizePublish, the one hook that runs
// before a QoS 1 PUBACK is written: telemetry is validated and written to Kafka (or, if invalid,
// to the DLQ with its reason) and the callback — and with it the PUBACK and the next read from
// the car's socket — waits for Kafka's acknowledgement. Ingested packets end there: they are
// marked so the broker does not route them on (nobody may subscribe to telemetry).
import type { AuthorizePublishHandler, Client, PublishPacket } from 'aedes'
import type { Logger } from '../../shared/src/logger.js'
import { parseTelemetry } from '../../shared/src/telemetry-schema.js'
import { KafkaTopics } from '../../shared/src/topics.js'
import { publishTopicFor } from './acl.js'
import type { BrokerMetrics } from './broker-metrics.js'
import type { IngestSink } from './kafka-ingest.js'
import type { VehicleIdentity } from './vehicle-auth.js'

/** How much of a refused payload the DLQ record keeps. */
const DLQ_PAYLOAD_BYTES = 4_096

export interface IntakeOptions {
  identity: VehicleIdentity
  sink: IngestSink
  maxTelemetryBytes: number
  brokerId: string
  metrics: BrokerMetrics
  log: Logger
}

export interface Intake {
  authorizePublish: AuthorizePublishHandler
  /** True for packets whose only destination is Kafka. */
  isIngested: (packet: PublishPacket) => boolean
  /** Clients waiting on Kafka; their keepalive is kept alive while we hold them. */
  heldClients: () => Iterable<Client>
}

export class PublishDeniedError extends Error {
  readonly code = 'PUBLISH_DENIED'
  constructor () { super('not authorized to publish to this topic') }
}

export function createTelemetryIntake (opts: IntakeOptions): Intake {
  const { identity, sink, metrics, log } = opts
  const ingested = new WeakSet<PublishPacket>()
  const held = new Map<Client, number>()
  const counters = new Map<string, { inc: () => void }>()
  const countIn = (cls: string, qos: number) => {
    const k = cls + qos
    let c = counters.get(k)
    if (c === undefined) counters.set(k, c = metrics.messagesIn.labels(cls, String(qos)))
    c.inc()
  }

  const hold = (client: Client) => held.set(client, (held.get(client) ?? 0) + 1)
  const release = (client: Client) => {
    const n = (held.get(client) ?? 1) - 1
    if (n <= 0) held.delete(client)
    else held.set(client, n)
  }

  const authorizePublish: AuthorizePublishHandler = (client, packet, callback) => {
    if (client === null) {
      callback(null)
      return
    }
    const topic = publishTopicFor(identity, client, packet.topic)
    if (topic === null) {
      metrics.refused.inc({ reason: 'publish_denied' })
      log.warn({ vehicleId: identity.get(client), topicLength: packet.topic.length }, 'publish refused: closing connection')
      callback(new PublishDeniedError())
      return
    }
    if (topic.kind !== 'telemetry') {
      countIn(topic.kind === 'status' ? 'status' : 'command_ack', packet.qos)
      callback(null)
      return
    }
    countIn('telemetry', packet.qos)
    ingested.add(packet)
    const receivedAt = Date.now()
    const result = parseTelemetry(packet.payload as Buffer, topic.vehicleId, opts.maxTelemetryBytes)
    hold(client)
    const done = (err?: Error) => {
      release(client)
      callback(err ?? null)
    }
    if (result.ok) {
      sink.write({ topic: KafkaTopics.telemetry, key: topic.vehicleId, value: packet.payload as Buffer, timestamp: receivedAt }, done)
      return
    }
    metrics.dlq.inc({ reason: result.reason })
    log.warn({ vehicleId: topic.vehicleId, reason: result.reason, detail: result.detail }, 'invalid telemetry sent to the DLQ')
    const payload = packet.payload as Buffer
    const record = {
      vehicleId: topic.vehicleId,
      topic: packet.topic,
      reason: result.reason,
      detail: result.detail,
      receivedAt: new Date(receivedAt).toISOString(),
      brokerId: opts.brokerId,
      payloadBytes: payload.byteLength,
      payloadTruncated: payload.byteLength > DLQ_PAYLOAD_BYTES,
      payloadBase64: payload.subarray(0, DLQ_PAYLOAD_BYTES).toString('base64')
    }
    sink.write({
      topic: KafkaTopics.telemetryDlq,
      key: topic.vehicleId,
      value: Buffer.from(JSON.stringify(record)),
      timestamp: receivedAt,
      headers: { reason: result.reason }
    }, done)
  }

  return {
    authorizePublish,
    isIngested: packet => ingested.has(packet),
    heldClients: () => held.keys()
  }
}
