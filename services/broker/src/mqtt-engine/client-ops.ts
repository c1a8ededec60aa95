// Named operations on one connection, for the broker's policy modules: what they need of aedes'
// Client beyond its public fields, without knowing its private names.
import type { Client, PublishPacket } from 'aedes'
import { clientInternals } from './internals.js'

/** The will the car sent in its CONNECT (read before aedes stores it), or null. */
export function willOf (client: Client): { topic: string } | null {
  return clientInternals(client)._will ?? null
}

/** The QoS of the client's subscription to exactly `topic`, or 0. */
export function subscriptionQos (client: Client, topic: string): number {
  return clientInternals(client).subscriptions[topic]?.qos ?? 0
}

/**
 * Publishes `packet` as if `client` had sent it, calling `done` once aedes routed it and stored it
 * for offline sessions (aedes calls publish(packet, client, done) itself; its types only know
 * (packet, done)).
 */
export function publishRouted (client: Client, packet: PublishPacket, done: (err?: Error) => void): void {
  (clientInternals(client).broker as { publish: (p: PublishPacket, c: Client, d: (err?: Error) => void) => void }).publish(packet, client, done)
}

/**
 * Takes a QoS 1 PUBLISH's acknowledgement away from aedes: fleet writes the PUBACK itself once
 * the message is in Kafka (writePubacks). Returns its packet id.
 */
export function holdAck (packet: PublishPacket): number {
  const id = packet.messageId!
  packet.qos = 0 // aedes writes no PUBACK for QoS 0
  return id
}

/** Whether the client connected with MQTT 5 (reason codes, properties). */
export function isMqtt5 (client: Client): boolean {
  return clientInternals(client).version === 5
}

/** One PUBACK to write: packet id + reason code × 65536 (one number, no object per message). */
export const pubackCode = (messageId: number, reason = 0) => messageId + reason * 65_536

/**
 * Writes PUBACKs [MQTT-3.4] (pubackCode each, or one) in one socket write; nothing if the socket is gone.
 * Success is the 4-byte form in both versions (MQTT 5 §3.4.2.1: no reason code means 0x00); an
 * MQTT 5 client's refusal carries its reason code.
 */
export function writePubacks (client: Client, codes: number | readonly number[]): void {
  const conn = client.conn
  if (conn.destroyed || !conn.writable) return
  if (typeof codes === 'number') {
    const buf = Buffer.allocUnsafe(codes >= 65_536 ? 5 : 4)
    putPuback(buf, 0, codes)
    conn.write(buf)
    return
  }
  let size = 0
  for (const c of codes) size += c >= 65_536 ? 5 : 4
  const buf = Buffer.allocUnsafe(size)
  let p = 0
  for (const c of codes) p = putPuback(buf, p, c)
  conn.write(buf)
}

/** Writes one PUBACK (pubackCode) at `p`; returns the offset after it. */
function putPuback (buf: Buffer, p: number, code: number): number {
  const id = code & 0xffff
  const reason = code >>> 16
  buf[p++] = 0x40 // PUBACK
  buf[p++] = reason === 0 ? 2 : 3
  buf[p++] = id >> 8
  buf[p++] = id & 0xff
  if (reason !== 0) buf[p++] = reason
  return p
}

/** MQTT 5 reason codes fleet sends (MQTT 5 §2.4). */
export const ReasonCode = {
  notAuthorized: 0x87,
  serverShuttingDown: 0x8b,
  sessionTakenOver: 0x8e,
  quotaExceeded: 0x97,
  payloadFormatInvalid: 0x99,
  useAnotherServer: 0x9c
} as const

/** Keeps a connection alive that sends nothing because fleet does not read it (car-flow.ts). */
export function refreshKeepalive (client: Client): void {
  clientInternals(client)._keepaliveTimer?.refresh()
}
