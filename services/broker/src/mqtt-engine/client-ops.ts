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

/** Writes the PUBACKs [MQTT-3.4] of `ids` in one socket write; nothing if the socket is gone. */
export function writePubacks (client: Client, ids: readonly number[]): void {
  const conn = client.conn
  if (conn.destroyed || !conn.writable) return
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

/** Keeps a connection alive that sends nothing because fleet does not read it (car-flow.ts). */
export function refreshKeepalive (client: Client): void {
  clientInternals(client)._keepaliveTimer?.refresh()
}
