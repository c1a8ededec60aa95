// PUBLISH policy and the ingest step. Runs as aedes' authorizePublish, the one hook that runs
// before aedes would write a QoS 1 PUBACK. Telemetry (and a car's command acks) is validated and
// written to Kafka (or, if invalid, to the DLQ with its reason), and its PUBACK is written by us once Kafka acknowledged
// the record, in the order the PUBLISHes arrived [MQTT-4.6.0-2] (aedes is told the packet is
// QoS 0 so it writes none itself). The car's socket keeps being read — so PINGREQs are answered
// while Kafka is slow or down — until the car has `maxInflight` messages unacknowledged; then its
// socket is no longer read until Kafka catches up (per-car backpressure, memory bounded by
// maxInflight × max payload). Ingested packets end here: they are marked so the broker does not
// route them on (nobody may subscribe to telemetry).
import type { AuthorizePublishHandler, Client, PublishPacket } from 'aedes'
import type { Logger } from '../../shared/src/logger.js'
import { parseTelemetry } from '../../shared/src/telemetry-schema.js'
import { KafkaTopics } from '../../shared/src/topics.js'
import { publishTopicFor } from './acl.js'
import { commandAckRecord } from './command-relay.js'
import type { BrokerMetrics } from './broker-metrics.js'
import type { IngestRecord, IngestSink } from './kafka-ingest.js'
import type { VehicleIdentity } from './vehicle-auth.js'

/** How much of a refused payload the DLQ record keeps. */
const DLQ_PAYLOAD_BYTES = 4_096

export interface IntakeOptions {
  identity: VehicleIdentity
  sink: IngestSink
  maxTelemetryBytes: number
  /** Unacknowledged messages per car before its socket stops being read. */
  maxInflight: number
  brokerId: string
  metrics: BrokerMetrics
  log: Logger
  /** Whether this client's QoS 2 PUBLISH with this packet id was received before and still
   *  awaits its PUBREL (aedes' incoming store); a resend of it must not reach Kafka again. */
  qos2Received?: (client: Client, packet: PublishPacket) => Promise<boolean>
}

export interface Intake {
  authorizePublish: AuthorizePublishHandler
  /** True for packets whose only destination is Kafka. */
  isIngested: (packet: PublishPacket) => boolean
  /** Clients whose socket is not read until Kafka catches up; they are alive all the same. */
  heldClients: () => Iterable<Client>
}

export class PublishDeniedError extends Error {
  readonly code = 'PUBLISH_DENIED'
  constructor () { super('not authorized to publish to this topic') }
}

interface CarFlow {
  /** Messages written to the sink and not yet acknowledged by Kafka. */
  pending: number
  /** Callbacks of packets held because the car reached its window (one read can hold many). */
  held: Array<() => void>
}

export function createTelemetryIntake (opts: IntakeOptions): Intake {
  const { identity, sink, metrics, log, maxInflight } = opts
  const ingested = new WeakSet<PublishPacket>()
  const flows = new WeakMap<Client, CarFlow>()
  const held = new Set<Client>()
  const counters = new Map<string, { inc: () => void }>()
  const countIn = (cls: string, qos: number) => {
    const k = cls + qos
    let c = counters.get(k)
    if (c === undefined) counters.set(k, c = metrics.messagesIn.labels(cls, String(qos)))
    c.inc()
  }

  // PUBACKs of one Kafka batch for one car leave in one socket write.
  let acks = new Map<Client, number[]>()
  const flushAcks = () => {
    const due = acks
    acks = new Map()
    for (const [client, ids] of due) {
      const conn = client.conn
      if (conn.destroyed || !conn.writable) continue
      const buf = Buffer.allocUnsafe(ids.length * 4)
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i]!
        buf[i * 4] = 0x40 // PUBACK
        buf[i * 4 + 1] = 2
        buf[i * 4 + 2] = id >> 8
        buf[i * 4 + 3] = id & 0xff
      }
      conn.write(buf)
    }
  }
  const queueAck = (client: Client, messageId: number) => {
    if (acks.size === 0) setImmediate(flushAcks)
    const ids = acks.get(client)
    if (ids === undefined) acks.set(client, [messageId])
    else ids.push(messageId)
  }

  // QoS 2 packet ids of each client whose Kafka write is under way.
  const qos2Writing = new WeakMap<Client, Set<number>>()
  const qos2Received = opts.qos2Received ?? (async () => false)

  function ingestQos2 (client: Client, packet: PublishPacket, record: IngestRecord, callback: (err?: Error | null) => void) {
    // QoS 2 keeps aedes' own flow: its PUBREC waits for Kafka by holding the callback. A PUBLISH
    // re-sent (DUP) before the PUBREL is answered by aedes with a PUBREC only [MQTT-4.3.3-2]; this
    // runs before aedes' check, so it asks the same store, else Kafka would get the message twice.
    const id = packet.messageId!
    let writing = qos2Writing.get(client)
    if (writing === undefined) qos2Writing.set(client, writing = new Set())
    const w = writing
    if (w.has(id)) {
      callback(null)
      return
    }
    w.add(id)
    qos2Received(client, packet).then(seen => {
      if (seen) {
        w.delete(id)
        metrics.qos2Resends.inc()
        callback(null)
        return
      }
      sink.write(record, err => {
        w.delete(id)
        callback(err ?? null)
      })
    }, () => {
      // the store could not say: at least once, never lost
      sink.write(record, err => {
        w.delete(id)
        callback(err ?? null)
      })
    })
  }

  function ingest (client: Client, packet: PublishPacket, record: IngestRecord, callback: (err?: Error | null) => void) {
    if (packet.qos === 2) {
      ingestQos2(client, packet, record, callback)
      return
    }
    let flow = flows.get(client)
    if (flow === undefined) flows.set(client, flow = { pending: 0, held: [] })
    const f = flow
    const messageId = packet.qos === 1 ? packet.messageId : undefined
    packet.qos = 0 // aedes must not PUBACK before Kafka has the record; we do it below
    f.pending++
    sink.write(record, err => {
      f.pending--
      // On error (shutdown) no PUBACK: the car still holds the message and resends it.
      if (err === undefined && messageId !== undefined) queueAck(client, messageId)
      if (f.held.length > 0 && f.pending < maxInflight) {
        const resume = f.held
        f.held = []
        held.delete(client)
        for (const r of resume) r()
      }
    })
    if (f.pending >= maxInflight) {
      f.held.push(() => callback(null))
      held.add(client)
    } else {
      callback(null)
    }
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
    const receivedAt = Date.now()
    const payload = packet.payload as Buffer
    let result: { ok: true, record: IngestRecord } | { ok: false, reason: string, detail: string }
    switch (topic.kind) {
      case 'status':
        countIn('status', packet.qos)
        callback(null)
        return
      case 'commands':
        // From the commander; routed to the car (and queued for it while offline). Never retained.
        countIn('command', packet.qos)
        packet.retain = false
        callback(null)
        return
      case 'commandAck': {
        countIn('command_ack', packet.qos)
        const ack = commandAckRecord(topic.vehicleId, payload, opts.brokerId, receivedAt)
        if (ack.ok) metrics.commands.inc({ event: ack.status })
        result = ack
        break
      }
      case 'telemetry': {
        countIn('telemetry', packet.qos)
        const parsed = parseTelemetry(payload, topic.vehicleId, opts.maxTelemetryBytes)
        result = parsed.ok
          ? { ok: true, record: { topic: KafkaTopics.telemetry, key: topic.vehicleId, value: payload, timestamp: receivedAt } }
          : parsed
        break
      }
    }
    ingested.add(packet)
    if (result.ok) {
      ingest(client, packet, result.record, callback)
      return
    }
    metrics.dlq.inc({ reason: result.reason })
    log.warn({ vehicleId: topic.vehicleId, reason: result.reason, detail: result.detail }, 'invalid message sent to the DLQ')
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
    ingest(client, packet, {
      topic: KafkaTopics.telemetryDlq,
      key: topic.vehicleId,
      value: Buffer.from(JSON.stringify(record)),
      timestamp: receivedAt,
      headers: { reason: result.reason }
    }, callback)
  }

  return {
    authorizePublish,
    isIngested: packet => ingested.has(packet),
    heldClients: () => held
  }
}
