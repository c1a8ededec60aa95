// Where a car's stream enters the broker: sockets past the connection limit (plus some slack) or
// over the per-address connect rate are closed before a byte is read, so file descriptors and
// memory stay bounded; the rest go to the MQTT engine. The gate remembers what a stream's listener
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
  let openStreams = 0
  const onStreamClose = () => { openStreams-- }
  return {
    onStream (stream: Duplex, info: StreamInfo, req?: IncomingMessage): void {
      const draining = opts.draining()
      if (draining || openStreams >= opts.maxConnections + SOCKET_SLACK) {
        if (!draining) metrics.refused.inc({ reason: 'max_sockets' })
        stream.destroy()
        return
      }
      if (!addressLimiter.allow(info.remoteAddress)) {
        metrics.refused.inc({ reason: 'address_rate' })
        stream.destroy()
        return
      }
      openStreams++
      stream.on('close', onStreamClose) // 'close' comes once; one shared listener costs no closure per car
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
