// PUBLISH policy and the ingest step. Runs as aedes' authorizePublish, the one hook that runs
// before aedes would write a QoS 1 PUBACK. Telemetry (and a car's command acks) is validated and
// written to Kafka (or, if invalid, to the DLQ with its reason), and its PUBACK is written by us once Kafka acknowledged
// the record, in the order the PUBLISHes arrived [MQTT-4.6.0-2] (aedes is told the packet is
// QoS 0 so it writes none itself: holdAck). The car's socket keeps being read — so PINGREQs are answered
// while Kafka is slow or down — until the car has `maxInflight` messages unacknowledged; then its
// socket is no longer read until Kafka catches up (per-car backpressure, memory bounded by
// maxInflight × max payload). Ingested packets end here: they are marked so the broker does not
// route them on (nobody may subscribe to telemetry).
// An MQTT 5 car is told why in its PUBACK and stays connected: 0x87 for a topic it may not publish
// to, 0x97 over its publish rate (the message goes nowhere), 0x99 for a message sent to the DLQ;
// its User Properties become the Kafka record's headers (user-properties.ts).
import type { Logger } from '../../shared/src/logger.js'
import { telemetryIdBytes } from '../../shared/src/telemetry-decode.js'
import { KafkaTopics } from '../../shared/src/topics.js'
import { publishTopicFor } from './acl.js'
import { commandAckRecord } from './command-relay.js'
import type { BrokerMetrics } from './broker-metrics.js'
import type { IngestRecord, IngestSink } from './kafka-ingest.js'
import type { RejectionLog } from './rejection-log.js'
import type { VehicleIdentity } from './vehicle-auth.js'
import { createCarFlow } from './car-flow.js'
import { createIngestRecords } from './ingest-records.js'
import { createPubackBatch } from './puback-batch.js'
import { createQos2Ingest } from './qos2-ingest.js'
import { holdAck, isMqtt5, ReasonCode, type AuthorizePublishHandler, type Client, type PublishPacket } from './mqtt-engine/index.js'

export interface IntakeOptions {
  identity: VehicleIdentity
  sink: IngestSink
  maxTelemetryBytes: number
  /** Unacknowledged messages per car before its socket stops being read. */
  maxInflight: number
  /** Per-car publish rate and burst (0 = no limit), and the pod's held-bytes budget (0 = none): car-flow.ts. */
  ratePerSecond?: number
  burst?: number
  podHeldBytes?: number
  brokerId: string
  metrics: BrokerMetrics
  log: Logger
  /** Whether this client's QoS 2 PUBLISH with this packet id was received before and still
   *  awaits its PUBREL (aedes' incoming store); a resend of it must not reach Kafka again. */
  qos2Received?: (client: Client, packet: PublishPacket) => Promise<boolean>
  /** The per-car list of recent refusals, so a car's owner can find why (GET /v1/vehicles/{id}/rejections). */
  rejections?: Pick<RejectionLog, 'add'>
}

export interface Intake {
  authorizePublish: AuthorizePublishHandler
  /**
   * A car's QoS 0/1 PUBLISH to its own telemetry topic, taken straight off its socket by the fast
   * path (packet-guard.ts) with the same checks, records and PUBACKs as authorizePublish. True if
   * the car is now at its window: `resume` runs once it is below it again.
   */
  telemetry: (client: Client, vehicleId: string, qos: 0 | 1, messageId: number, payload: Buffer, resume: () => void) => boolean
  /** True for packets whose only destination is Kafka. */
  isIngested: (packet: PublishPacket) => boolean
  /** Clients whose socket is not read until Kafka catches up; they are alive all the same. */
  heldClients: () => Iterable<Client>
  /** Bytes of messages held on this pod (car-flow.ts). */
  heldBytes: () => number
  /** Whether the car's socket is not to be read now. */
  isHeld: (client: Client) => boolean
  /** The car's PUBACKs still owed (its messages awaiting Kafka). */
  pendingOf: (client: Client) => number
}

export class PublishDeniedError extends Error {
  readonly code = 'PUBLISH_DENIED'
  constructor () { super('not authorized to publish to this topic') }
}

export function createTelemetryIntake (opts: IntakeOptions): Intake {
  const { identity, sink, metrics, log, maxInflight } = opts
  const ingested = new WeakSet<PublishPacket>()
  const counters = new Map<string, { inc: () => void }>()
  const countIn = (cls: string, qos: number) => {
    const k = cls + qos
    let c = counters.get(k)
    if (c === undefined) counters.set(k, c = metrics.messagesIn.labels(cls, String(qos)))
    c.inc()
  }

  // the fast path's counters, looked up once: no label string per message
  const telemetryIn = [metrics.messagesIn.labels('telemetry', '0'), metrics.messagesIn.labels('telemetry', '1')] as const
  const queueAck = createPubackBatch()
  const flow = createCarFlow({ sink, maxInflight, ratePerSecond: opts.ratePerSecond ?? 0, burst: opts.burst ?? 1, podBytes: opts.podHeldBytes ?? 0, ack: queueAck, metrics })

  const { telemetryRecord, dlqRecord } = createIngestRecords(opts)
  /** Each car's id as the bytes its telemetry carries (null: an id the schema refuses). */
  const idBytes = new WeakMap<Client, Buffer | null>()
  const idBytesOf = (client: Client, vehicleId: string): Buffer | null => {
    let b = idBytes.get(client)
    if (b === undefined) idBytes.set(client, b = telemetryIdBytes(vehicleId))
    return b
  }
  const ingestQos2 = createQos2Ingest({ sink, flow, metrics, qos2Received: opts.qos2Received })

  /** An MQTT 5 car's QoS 0/1 message that goes nowhere: PUBACK `reason` in its turn (QoS 1). */
  function refuse (client: Client, packet: PublishPacket, reason: number, receivedAt: number, callback: (err?: Error | null) => void): void {
    ingested.add(packet)
    if (packet.qos === 0) {
      callback(null)
      return
    }
    const resume = () => callback(null)
    if (!flow.refuse(client, holdAck(packet), reason, resume, receivedAt)) resume()
  }

  const authorizePublish: AuthorizePublishHandler = (client, packet, callback) => {
    if (client === null) {
      callback(null)
      return
    }
    const topic = publishTopicFor(identity, client, packet.topic)
    const v5 = isMqtt5(client)
    const receivedAt = Date.now()
    if (topic === null) {
      metrics.refused.inc({ reason: 'publish_denied' })
      if (v5 && packet.qos < 2) {
        // [MQTT-3.3.4-1]-compatible refusal: the v5 car is told 0x87 and stays connected
        log.warn({ vehicleId: identity.get(client), topicLength: packet.topic.length }, 'publish refused: PUBACK 0x87')
        refuse(client, packet, ReasonCode.notAuthorized, receivedAt, callback)
        return
      }
      // MQTT 3.1.1 has no way to say no but closing; aedes answers a v5 QoS 2 with PUBREC 0x87
      log.warn({ vehicleId: identity.get(client), topicLength: packet.topic.length }, v5 ? 'publish refused: PUBREC 0x87' : 'publish refused: closing connection')
      callback(new PublishDeniedError())
      return
    }
    packet.retain = false // no car topic keeps a retained message: nobody may subscribe to one (acl.ts)
    if (v5 && packet.qos < 2 && !flow.withinRate(client, receivedAt)) {
      // over its rate a v5 car is told so (quota exceeded) instead of being slowed down
      metrics.refused.inc({ reason: 'publish_rate' })
      refuse(client, packet, ReasonCode.quotaExceeded, receivedAt, callback)
      return
    }
    const payload = packet.payload as Buffer
    let record: IngestRecord
    switch (topic.kind) {
      case 'status':
        countIn('status', packet.qos)
        flow.pace(client, receivedAt, () => callback(null))
        return
      case 'commandAck': {
        countIn('command_ack', packet.qos)
        const ack = commandAckRecord(topic.vehicleId, payload, opts.brokerId, receivedAt)
        if (ack.ok) metrics.commands.inc({ event: ack.status })
        record = ack.ok ? ack.record : dlqRecord(topic.vehicleId, packet.topic, payload, ack, receivedAt)
        break
      }
      case 'telemetry':
        countIn('telemetry', packet.qos)
        record = telemetryRecord(topic.vehicleId, idBytesOf(client, topic.vehicleId), payload, receivedAt, v5 ? packet.properties?.userProperties : undefined)
        break
    }
    ingested.add(packet)
    if (packet.qos === 2) {
      ingestQos2(client, packet, record, callback)
      return
    }
    // aedes must not PUBACK before Kafka has the record; ingest does
    const messageId = packet.qos === 1 ? holdAck(packet) : undefined
    const resume = () => callback(null)
    const reason = v5 && record.topic === KafkaTopics.telemetryDlq ? ReasonCode.payloadFormatInvalid : 0
    if (!flow.ingest(client, messageId, record, resume, receivedAt, reason)) resume()
  }

  return {
    authorizePublish,
    telemetry (client, vehicleId, qos, messageId, payload, resume) {
      telemetryIn[qos].inc()
      const now = Date.now()
      return flow.ingest(client, qos === 1 ? messageId : undefined, telemetryRecord(vehicleId, idBytesOf(client, vehicleId), payload, now), resume, now)
    },
    isIngested: packet => ingested.has(packet),
    heldClients: flow.heldClients,
    heldBytes: flow.heldBytes,
    isHeld: flow.isHeld,
    pendingOf: flow.pendingOf
  }
}
