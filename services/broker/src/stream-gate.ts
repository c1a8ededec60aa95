// Where a car's stream enters the broker: sockets past the connection limit (plus some slack) or
// over the per-address connect rate are closed at accept, before a byte is read or a TLS handshake
// is made (listeners.ts asks admitSocket of every listener's raw socket), so file descriptors,
// memory and handshake CPU stay bounded; the rest go to the MQTT engine once their listener has
// made them a stream. The gate remembers what a stream's listener
// knew (its TLS socket, a WebSocket's peer address) for the CONNECT policy.
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { TLSSocket } from 'node:tls'
import { isVehicleId } from '../../shared/src/topics.js'
import { createAddressLimiter } from './admission.js'
import type { BrokerMetrics } from './broker-metrics.js'
import type { StreamInfo } from './listeners.js'
import type { Client } from './mqtt-engine/index.js'
import type { TransportIdentity } from './vehicle-auth.js'

/** Sockets not yet connected that may be open beyond the connection limit. */
const SOCKET_SLACK = 500

/** The vehicleId named by a verified car certificate (subject CN), its serial and notBefore, or null. */
export function certificateOf (socket: TLSSocket): { vehicleId: string, serial: string, notBefore: number } | null {
  if (!socket.authorized) return null
  const peer = socket.getPeerCertificate()
  const cn = peer?.subject?.CN
  const id = Array.isArray(cn) ? cn[0] : cn
  if (typeof id !== 'string' || !isVehicleId(id)) return null
  return { vehicleId: id, serial: peer.serialNumber ?? '', notBefore: Date.parse(peer.valid_from ?? '') || 0 }
}

export interface StreamGateOptions {
  maxConnections: number
  /** New connections per second from one remote address (0 = off). */
  perAddressRate: number
  tlsClientAuth: TransportIdentity['mode']
  metrics: BrokerMetrics
  /** True while the broker drains: nothing new is let in. */
  draining: () => boolean
  handle: (stream: Duplex, req?: IncomingMessage) => void
}

export function createStreamGate (opts: StreamGateOptions) {
  const { metrics } = opts
  const streams = new WeakMap<object, StreamInfo>()
  const addressLimiter = createAddressLimiter(opts.perAddressRate)
  let openSockets = 0
  const onSocketClose = () => { openSockets-- }
  return {
    /** At accept, on every listener's TCP socket: false (and the socket closed) past the limits. */
    admitSocket (socket: Socket): boolean {
      const draining = opts.draining()
      if (draining || openSockets >= opts.maxConnections + SOCKET_SLACK) {
        if (!draining) metrics.refused.inc({ reason: 'max_sockets' })
        socket.destroy()
        return false
      }
      if (!addressLimiter.allow(socket.remoteAddress)) {
        metrics.refused.inc({ reason: 'address_rate' })
        socket.destroy()
        return false
      }
      openSockets++
      socket.on('close', onSocketClose) // 'close' comes once; one shared listener costs no closure per car
      return true
    },
    /** An admitted socket become an MQTT stream (after its TLS handshake or WebSocket upgrade). */
    onStream (stream: Duplex, info: StreamInfo, req?: IncomingMessage): void {
      // a handshake or upgrade that ended after the drain began
      if (opts.draining()) {
        stream.destroy()
        return
      }
      // only TLS streams carry what transport() asks, and WebSocket streams their peer's address
      if (info.tls !== null || info.listener === 'ws') streams.set(stream, info)
      opts.handle(stream, req)
    },
    /** How the client may authenticate on its listener, and its verified certificate if any. */
    transport (client: Client): TransportIdentity {
      const info = streams.get(client.conn)
      if (info === undefined || info.tls === null) return { mode: 'password', certVehicleId: null }
      const cert = certificateOf(info.tls)
      return { mode: opts.tlsClientAuth, certVehicleId: cert?.vehicleId ?? null, ...(cert === null ? {} : { cert }) }
    },
    /** TCP and TLS sockets know their peer; a WebSocket stream does not, its listener told us. */
    remoteAddress: (client: Client): string | undefined => (client.conn as Partial<Socket>).remoteAddress ?? streams.get(client.conn)?.remoteAddress,
    stop: () => addressLimiter.stop()
  }
}
