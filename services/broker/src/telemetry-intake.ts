// PUBLISH policy and the ingest step. Runs as aedes' authorizePublish, the one hook that runs
// before aedes would write a QoS 1 PUBACK. Telemetry (and a car's command acks) is validated and
// written to Kafka (or, if invalid, to the DLQ with its reason), and its PUBACK is written by us once Kafka acknowledged
// the record, in the order the PUBLISHes arrived [MQTT-4.6.0-2] (aedes is told the packet is
// QoS 0 so it writes none itself: holdAck). The car's socket keeps being read — so PINGREQs are answered
// while Kafka is slow or down — until the car has `maxInflight` messages unacknowledged; then its
// socket is no longer read until Kafka catches up (per-car backpressure, memory bounded by
// maxInflight × max payload). Ingested packets end here: they are marked so the broker does not
// route them on (nobody may subscribe to telemetry). The commander's QoS 1 commands get the same
// care the other way round: their PUBACK waits until aedes has routed them (routeCommand).
// An MQTT 5 car is told why in its PUBACK and stays connected: 0x87 for a topic it may not publish
// to, 0x97 over its publish rate (the message goes nowhere), 0x99 for a message sent to the DLQ;
// its User Properties become the Kafka record's headers (user-properties.ts).
import type { Logger } from '../../shared/src/logger.js'
import { parseTelemetry } from '../../shared/src/telemetry-schema.js'
import { KafkaTopics, MqttTopics } from '../../shared/src/topics.js'
import { publishTopicFor } from './acl.js'
import { commandAckRecord, commandExpirySeconds } from './command-relay.js'
import type { BrokerMetrics } from './broker-metrics.js'
import type { IngestRecord, IngestSink } from './kafka-ingest.js'
import type { RejectionLog } from './rejection-log.js'
import type { VehicleIdentity } from './vehicle-auth.js'
import { createCarFlow } from './car-flow.js'
import { holdAck, isMqtt5, pubackCode, publishRouted, ReasonCode, writePubacks, type AuthorizePublishHandler, type Client, type PublishPacket } from './mqtt-engine/index.js'
import { userPropertyHeaders, type UserProperties } from './user-properties.js'

/** How much of a refused payload the DLQ record keeps. */
const DLQ_PAYLOAD_BYTES = 4_096

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
  /** True for the commander's QoS 1 command packets: a copy was routed (routeCommand), the packet itself goes nowhere. */
  isRerouted: (packet: PublishPacket) => boolean
  /** Clients whose socket is not read until Kafka catches up; they are alive all the same. */
  heldClients: () => Iterable<Client>
  /** Bytes of messages held on this pod (car-flow.ts). */
  heldBytes: () => number
  /** Whether the car's socket is not to be read now. */
  isHeld: (client: Client) => boolean
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

  // PUBACKs of one Kafka batch for one car leave in one socket write.
  let acks = new Map<Client, number[]>()
  const flushAcks = () => {
    const due = acks
    acks = new Map()
    for (const [client, ids] of due) writePubacks(client, ids)
  }
  const queueAck = (client: Client, messageId: number, reason = 0) => {
    if (acks.size === 0) setImmediate(flushAcks)
    const code = pubackCode(messageId, reason)
    const codes = acks.get(client)
    if (codes === undefined) acks.set(client, [code])
    else codes.push(code)
  }
  const flow = createCarFlow({ sink, maxInflight, ratePerSecond: opts.ratePerSecond ?? 0, burst: opts.burst ?? 1, podBytes: opts.podHeldBytes ?? 0, ack: queueAck, metrics })

  /**
   * QoS 1 commands are routed before their PUBACK. aedes writes a QoS 1 PUBACK first and routes
   * (and queues for an offline car) after, so the commander would mark a command `sent` that a
   * broker killed in between never queued, or that reached an offline car's queue just after the
   * car came back and drained it. Here the command is published as a copy and the commander's
   * packet turned into a QoS 0 one that goes nowhere (isRerouted); the PUBACK is written once
   * aedes has routed the copy and stored it for offline sessions, in the order the PUBLISHes came
   * [MQTT-4.6.0-2]. If that fails the commander's connection is closed without the PUBACK, and
   * mqtt.js sends the command again on its next connection.
   */
  const rerouted = new WeakSet<PublishPacket>()
  const commandAcks = new WeakMap<Client, Array<{ messageId: number, done: boolean }>>()
  function routeCommand (client: Client, packet: PublishPacket) {
    // a queued command expires in the session: its TTL, or the publisher's own Message Expiry
    // Interval if shorter [MQTT-3.3.2-5]
    const expiries = [commandExpirySeconds(packet, Date.now()), packet.properties?.messageExpiryInterval].filter((s): s is number => s !== undefined && s > 0)
    const expiry = expiries.length === 0 ? undefined : Math.min(...expiries)
    const routed = { cmd: 'publish', topic: packet.topic, payload: packet.payload, qos: 1, retain: false, dup: false, ...(expiry === undefined ? {} : { properties: { messageExpiryInterval: expiry } }) } as PublishPacket
    const entry = { messageId: holdAck(packet), done: false }
    rerouted.add(packet)
    let queue = commandAcks.get(client)
    if (queue === undefined) commandAcks.set(client, queue = [])
    queue.push(entry)
    const q = queue
    publishRouted(client, routed, err => {
      if (err) {
        metrics.commands.inc({ event: 'route_failed' })
        log.warn({ err: err.message, topic: routed.topic }, 'command not routed: closing the commander\'s connection without its PUBACK')
        q.length = 0
        client.conn.destroy()
        return
      }
      entry.done = true
      while (q.length > 0 && q[0]!.done) queueAck(client, q.shift()!.messageId)
    })
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
    const done = (err: Error | null) => flow.pace(client, Date.now(), () => callback(err))
    w.add(id)
    qos2Received(client, packet).then(seen => {
      if (seen) {
        w.delete(id)
        metrics.qos2Resends.inc()
        done(null)
        return
      }
      sink.write(record, err => {
        w.delete(id)
        done(err ?? null)
      })
    }, () => {
      // the store could not say: at least once, never lost
      sink.write(record, err => {
        w.delete(id)
        done(err ?? null)
      })
    })
  }

  /** The Kafka record of a car's telemetry: itself if valid (its User Properties as headers),
   *  else its DLQ record (logged, counted). */
  function telemetryRecord (vehicleId: string, payload: Buffer, receivedAt: number, props?: UserProperties): IngestRecord {
    const parsed = parseTelemetry(payload, vehicleId, opts.maxTelemetryBytes)
    if (!parsed.ok) return dlqRecord(vehicleId, MqttTopics.telemetry(vehicleId), payload, parsed, receivedAt)
    const headers = userPropertyHeaders(props)
    if (!headers.ok) return dlqRecord(vehicleId, MqttTopics.telemetry(vehicleId), payload, headers, receivedAt)
    return { topic: KafkaTopics.telemetry, key: vehicleId, value: payload, timestamp: receivedAt, ...(headers.headers === undefined ? {} : { headers: headers.headers }) }
  }

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

  function dlqRecord (vehicleId: string, topic: string, payload: Buffer, refusal: { reason: string, detail: string }, receivedAt: number): IngestRecord {
    metrics.dlq.inc({ reason: refusal.reason })
    log.warn({ vehicleId, reason: refusal.reason, detail: refusal.detail }, 'invalid message sent to the DLQ')
    opts.rejections?.add(vehicleId, { topic, reason: refusal.reason, detail: refusal.detail, receivedAt })
    const record = {
      vehicleId,
      topic,
      reason: refusal.reason,
      detail: refusal.detail,
      receivedAt: new Date(receivedAt).toISOString(),
      brokerId: opts.brokerId,
      payloadBytes: payload.byteLength,
      payloadTruncated: payload.byteLength > DLQ_PAYLOAD_BYTES,
      payloadBase64: payload.subarray(0, DLQ_PAYLOAD_BYTES).toString('base64')
    }
    return {
      topic: KafkaTopics.telemetryDlq,
      key: vehicleId,
      value: Buffer.from(JSON.stringify(record)),
      timestamp: receivedAt,
      headers: { reason: refusal.reason }
    }
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
    if (v5 && packet.qos < 2 && topic.kind !== 'commands' && !flow.withinRate(client, receivedAt)) {
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
      case 'commands':
        // From the commander; routed to the car (and queued for it while offline). Never retained.
        countIn('command', packet.qos)
        packet.retain = false
        if (packet.qos === 1) routeCommand(client, packet)
        callback(null)
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
        record = telemetryRecord(topic.vehicleId, payload, receivedAt, v5 ? packet.properties?.userProperties : undefined)
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
      countIn('telemetry', qos)
      const now = Date.now()
      return flow.ingest(client, qos === 1 ? messageId : undefined, telemetryRecord(vehicleId, payload, now), resume, now)
    },
    isIngested: packet => ingested.has(packet),
    isRerouted: packet => rerouted.has(packet),
    heldClients: flow.heldClients,
    heldBytes: flow.heldBytes,
    isHeld: flow.isHeld
  }
}
