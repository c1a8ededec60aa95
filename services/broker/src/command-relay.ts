// The broker's part of cloud-to-car commands. Commands arrive from the commander on
// vehicles/{id}/commands and are routed by aedes like any QoS 1 message (queued for offline cars
// with persistent sessions). Here: a command past its expiresAt is never forwarded (not from a
// session's queue either); the car's PUBACK of a command becomes a `delivered` event, and the
// car's answer on vehicles/{id}/commands/ack an `acknowledged` / `rejected` / `failed` event, both
// produced to vehicle.command-events (key = vehicleId).
import { checkCommandAck, type CommandEvent, type CommandStatus } from '../../shared/src/command-schema.js'
import type { Logger } from '../../shared/src/logger.js'
import { KafkaTopics, parseVehicleTopic } from '../../shared/src/topics.js'
import type { BrokerMetrics } from './broker-metrics.js'
import type { IngestRecord, IngestSink } from './kafka-ingest.js'
import { subscriptionQos, type AuthorizeForwardHandler, type Client, type MqttEngine, type PublishPacket } from './mqtt-engine/index.js'
import type { VehicleIdentity } from './vehicle-auth.js'

/** How many recent commandIds per connection are remembered against duplicates (commands are rare). */
const SENT_PER_CONNECTION = 64

const ackStatus: Record<string, CommandStatus> = { ok: 'acknowledged', rejected: 'rejected', failed: 'failed' }

export type AckResult = { ok: true, record: IngestRecord, status: CommandStatus } | { ok: false, reason: 'invalid_ack', detail: string }

/** Turns a car's ack payload into its vehicle.command-events record. Never throws. */
export function commandAckRecord (vehicleId: string, payload: Buffer, brokerId: string, now: number): AckResult {
  let value: unknown
  try {
    value = JSON.parse(payload.toString('utf8'))
  } catch {
    return { ok: false, reason: 'invalid_ack', detail: 'not JSON' }
  }
  if (!checkCommandAck.Check(value)) {
    const first = checkCommandAck.Errors(value).First()
    return { ok: false, reason: 'invalid_ack', detail: `${first?.path || '(root)'}: ${first?.message ?? 'invalid'}` }
  }
  const status = ackStatus[value.result]!
  const event: CommandEvent = {
    commandId: value.commandId,
    vehicleId,
    status,
    at: new Date(now).toISOString(),
    source: `broker:${brokerId}`,
    ...(value.detail === undefined ? {} : { detail: value.detail })
  }
  return { ok: true, status, record: { topic: KafkaTopics.commandEvents, key: vehicleId, value: Buffer.from(JSON.stringify(event)), timestamp: now } }
}

/**
 * A command's Message Expiry Interval [MQTT-3.3.2-5] (seconds until its expiresAt, at least 1),
 * so a queued command expires in the session itself; undefined without one.
 */
export function commandExpirySeconds (packet: PublishPacket, now: number): number | undefined {
  const meta = commandMeta(packet)
  if (meta === null || meta.expiresAt === Number.POSITIVE_INFINITY) return undefined
  return Math.max(1, Math.ceil((meta.expiresAt - now) / 1_000))
}

/** commandId and expiry of a command payload, or null when it is not one. */
function commandMeta (packet: PublishPacket): { commandId: string, expiresAt: number } | null {
  try {
    const v = JSON.parse((packet.payload as Buffer).toString('utf8')) as { commandId?: unknown, expiresAt?: unknown }
    if (typeof v.commandId !== 'string') return null
    const expiresAt = typeof v.expiresAt === 'string' ? Date.parse(v.expiresAt) : Number.POSITIVE_INFINITY
    return { commandId: v.commandId, expiresAt: Number.isNaN(expiresAt) ? Number.POSITIVE_INFINITY : expiresAt }
  } catch {
    return null
  }
}

export interface CommandRelayOptions {
  sink: IngestSink
  identity: VehicleIdentity
  brokerId: string
  metrics: BrokerMetrics
  log: Logger
  now?: () => number
}

export function createCommandRelay (opts: CommandRelayOptions): { authorizeForward: AuthorizeForwardHandler, attach: (engine: Pick<MqttEngine, 'onAck'>) => void } {
  const { sink, metrics, log } = opts
  const now = opts.now ?? Date.now

  // aedes keeps no copy of what it sent to a clean-session client, so its 'ack' event carries no
  // packet for them. A car's only QoS > 0 deliveries are its commands and its PUBACKs come in
  // delivery order [MQTT-4.6.0-2], so a queue of forwarded command ids per car names each PUBACK.
  const forwarded = new WeakMap<Client, string[]>()
  // The commandIds forwarded on each connection (the last few). A reconnecting car can be offered
  // one command twice: from its session's queue, and live, when the pattern subscription of the
  // routing emitter brings the same publish from another pod after the car's subscription was
  // restored (aedes' duplicate check covers the live path only). A connection gets a command once.
  const sent = new WeakMap<Client, string[]>()

  const authorizeForward: AuthorizeForwardHandler = (client, packet) => {
    const t = parseVehicleTopic(packet.topic)
    if (t?.kind !== 'commands') return packet
    if (opts.identity.get(client) !== t.vehicleId) {
      // Only a car's own session may hold its commands (acl.ts); this also catches a command queued
      // for another session before that rule, which leaves that queue here.
      metrics.refused.inc({ reason: 'forward_denied' })
      log.warn({ vehicleId: t.vehicleId, clientId: client.id.slice(0, 80) }, 'command for another car not forwarded')
      return null
    }
    const meta = commandMeta(packet)
    if (meta !== null && meta.expiresAt <= now()) {
      metrics.commands.inc({ event: 'expired_not_forwarded' })
      log.info({ vehicleId: t.vehicleId, commandId: meta.commandId }, 'expired command not delivered')
      return null
    }
    if (meta !== null) {
      const ids = sent.get(client) ?? []
      if (ids.includes(meta.commandId)) {
        metrics.commands.inc({ event: 'duplicate_not_forwarded' })
        log.debug({ vehicleId: t.vehicleId, commandId: meta.commandId }, 'command already forwarded on this connection')
        return null
      }
      ids.push(meta.commandId)
      if (ids.length > SENT_PER_CONNECTION) ids.shift()
      sent.set(client, ids)
    }
    const subQos = subscriptionQos(client, packet.topic)
    if (meta !== null && client.clean && packet.qos > 0 && subQos > 0) {
      const q = forwarded.get(client)
      if (q === undefined) forwarded.set(client, [meta.commandId])
      else q.push(meta.commandId)
    }
    return packet
  }

  const onAck = (packet: PublishPacket | undefined, client: Client | null) => {
    const vehicleId = client === null ? undefined : opts.identity.get(client)
    if (client === null || vehicleId === undefined) return
    let commandId: string | undefined
    if (packet?.topic === undefined) {
      commandId = client.clean ? forwarded.get(client)?.shift() : undefined
    } else if (parseVehicleTopic(packet.topic)?.kind === 'commands') {
      commandId = commandMeta(packet)?.commandId
    }
    if (commandId === undefined) return
    const at = now()
    const event: CommandEvent = { commandId, vehicleId, status: 'delivered', at: new Date(at).toISOString(), source: `broker:${opts.brokerId}` }
    metrics.commands.inc({ event: 'delivered' })
    sink.write({ topic: KafkaTopics.commandEvents, key: vehicleId, value: Buffer.from(JSON.stringify(event)), timestamp: at }, err => {
      // Only on shutdown: the car has the command; the commander's TTL settles its record.
      if (err) log.warn({ vehicleId, commandId, err: err.message }, 'delivered event not written')
    })
  }

  return {
    authorizeForward,
    attach: engine => { engine.onAck(onAck) }
  }
}
