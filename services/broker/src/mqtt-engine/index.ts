// The MQTT engine behind one wall: the only part of fleet that imports aedes, mqtt-packet (broker
// side), the persistence and the emitters, or knows their private fields. The rest of the broker
// uses the named operations of MqttEngine and client-ops.ts; at start the engine checks that every
// internal it relies on is there (internals.ts) and refuses to start naming the first one missing.
import type { IncomingMessage } from 'node:http'
import { Duplex } from 'node:stream'
import { Aedes, type AuthenticateHandler, type AuthorizeForwardHandler, type AuthorizePublishHandler, type AuthorizeSubscribeHandler, type Client, type PreConnectHandler, type PublishPacket } from 'aedes'
import { checkBrokerInternals, checkClientInternals, checkPersistenceInternals, clientInternals } from './internals.js'
import { checkReadBufferInternals, createPacketGuard, type FastPublish } from './packet-guard.js'
import { boundQos2StateInMemory, Qos2WindowFullError, type IncomingStore } from './qos2-window.js'
import type { SharedSessions } from './sessions.js'

export type { AuthenticateError, AuthenticateHandler, AuthorizeForwardHandler, AuthorizePublishHandler, AuthorizeSubscribeHandler, Client, PreConnectHandler, PublishPacket } from 'aedes'
export { holdAck, isMqtt5, pubackCode, publishRouted, ReasonCode, refreshKeepalive, subscriptionQos, willOf, writePubacks } from './client-ops.js'
export { MissingInternalError } from './internals.js'
export type { FastPublish } from './packet-guard.js'
export { createLocalSessions, createSharedSessions, type SharedSessionOptions, type SharedSessions } from './sessions.js'
export { isExactCommandsTopic } from './routing-emitter.js'
export { liveSessionKeys, MARK_OFFLINE_AND_EXPIRE_LUA, sessionKeys } from './session-expiry.js'
export { sessionSubscriptionsKey } from './session-index.js'

/** How long a server DISCONNECT may take before the connection is destroyed. */
const DISCONNECT_WAIT_MS = 5_000

/** fleet's policy, as aedes' hooks. */
export interface EngineHooks {
  preConnect: PreConnectHandler
  authenticate: AuthenticateHandler
  authorizePublish: AuthorizePublishHandler
  authorizeSubscribe: AuthorizeSubscribeHandler
  authorizeForward: AuthorizeForwardHandler
}

export interface MqttEngineOptions {
  id: string
  heartbeatMs: number
  connectTimeoutMs: number
  /** QoS 2 PUBLISHes awaiting PUBREL per car (qos2-window.ts); the Redis store bounds it itself. */
  maxQos2Pending: number
  onQos2Full: (client: { id: string }) => void
  slowClientTimeoutMs: number
  /** Largest packet read; a larger one closes the connection (packet-guard.ts). */
  maxPacketBytes: number
  sessions: SharedSessions
  hooks: EngineHooks
  /** Packets whose route ended in authorizePublish (Kafka, or a copy already routed): aedes
   *  routes them nowhere, no emitter, retained store or offline queue. */
  endsHere: (packet: PublishPacket) => boolean
  /** Cars' telemetry read straight off the socket (fast-publish.ts). */
  fast?: FastPublish
  /** Whether a car's socket is not to be read now (car-flow.ts). */
  isHeld?: (client: Client) => boolean
  onPacketTooLarge: (client: Client) => void
  /** What MQTT 5 cars are told in their CONNACK, and held to. */
  mqtt5: {
    /** Receive Maximum: fleet's per-car in-flight window. */
    receiveMaximum: number
    /** Session Expiry Interval cap (seconds); a car asking more is told this one. */
    sessionExpiryMaxS: number
    /** Topic Alias Maximum (0 = none). */
    topicAliasMaximum: number
    /** Server Keep Alive (seconds): the longest a car may use (0 = the car's own). */
    serverKeepAliveS: number
  }
}

/** Why a connected client's error happened, as far as fleet counts it. */
export type ClientErrorKind = 'qos2_window' | 'packet_too_large' | 'other'

export interface MqttEngine {
  /** Serves one MQTT stream (TCP, TLS or WebSocket). */
  handle: (stream: Duplex, req?: IncomingMessage) => void
  /** Checks the internals, then starts aedes (heartbeats, the persistence's setup). */
  start: () => Promise<void>
  /** Closes every client and the engine; after `timeoutMs` the emitter's connections are
   *  dropped instead of waiting (false). */
  close: (timeoutMs: number) => Promise<boolean>
  connectedClients: () => number
  /** The connection registered on this pod under a client id (a car's is its vehicle id). */
  clientById: (clientId: string) => Client | undefined
  /** Stops reading every connection (shutdown). */
  pauseReads: () => void
  /** The connections registered on this pod. */
  clients: () => Client[]
  /** Stops reading one connection (a drain moving it away). */
  pause: (client: Client) => void
  /** Publishes a server message (a command): `done` runs once it is routed through the emitter
   *  and stored for the persistent sessions that subscribe to it. */
  publish: (packet: PublishPacket, done: (err?: Error) => void) => void
  /** Whether this QoS 2 PUBLISH was received before and still awaits its PUBREL. */
  qos2Received: (client: Client, packet: PublishPacket) => Promise<boolean>
  /** The packets queued in a session for its next connection (tests, operations). */
  queuedFor: (clientId: string) => AsyncIterable<{ topic: string, payload: Buffer, qos: number }>
  /** Ends a connection from the server side. */
  disconnect: (client: Client) => void
  /** Ends a car's connection with an MQTT 5 DISCONNECT reason code (ReasonCode: 0x9C "use
   *  another server" for a drain); an MQTT 3.1.1 car's connection is just closed. */
  disconnectCar: (client: Client, reasonCode: number) => Promise<void>
  /** The seconds a car's session outlives its connection: an MQTT 5 car's Session Expiry
   *  Interval as granted (capped), else undefined (the server's setting applies). */
  sessionExpiryOf: (client: Client) => number | undefined
  onClient: (listener: (client: Client) => void) => void
  onClientReady: (listener: (client: Client) => void) => void
  onClientDisconnect: (listener: (client: Client) => void) => void
  onClientError: (listener: (client: Client, err: Error, kind: ClientErrorKind) => void) => void
  onConnectionError: (listener: (err: Error) => void) => void
  /** The engine's own failures outside any connection (its persistence: the wills sweep, a
   *  session wipe, enqueueing for offline sessions); the engine keeps running. */
  onEngineError: (listener: (err: Error) => void) => void
  /** A client acknowledged a QoS 1/2 delivery; `packet` lacks its topic for clean sessions. */
  onAck: (listener: (packet: PublishPacket | undefined, client: Client | null) => void) => void
  /** A message aedes routed (tests watch this). */
  onPublish: (listener: (packet: PublishPacket, client: Client | null) => void) => void
  offPublish: (listener: (packet: PublishPacket, client: Client | null) => void) => void
}

type Done = (err?: Error) => void
type Persistence = { incomingGetPacket: (client: Client, packet: PublishPacket) => Promise<unknown>, cleanIncoming?: (client: Client) => Promise<void>, outgoingStream: (client: { id: string }) => AsyncIterable<{ topic: string, payload: Buffer, qos: number }> }

/** A stream that never sends a byte: the start-up check's connection. */
const silentStream = () => new Duplex({ read () {}, write (_chunk, _enc, cb) { cb() } })

const EARLY_DISCONNECT = Symbol('fleet.disconnectAfterConnect')
/** How long a server DISCONNECT waits for a connection's CONNECT to finish (its queue written). */
const CONNECT_FINISH_WAIT_MS = 2_000
type Disconnect = (this: Client, opts?: unknown, done?: unknown) => void

/** aedes 2.0.0-beta.1 writes a server DISCONNECT only to a client that is `connected`, which it
 *  becomes once the session's queued messages are written, after its CONNACK; a car told to go in
 *  between (a takeover by a second connection, a drain) was closed without its reason code. Such a
 *  client is now told once its CONNECT has finished (its queue written, nothing lost), or closed
 *  as before if that takes longer than CONNECT_FINISH_WAIT_MS. Set on aedes' Client prototype once
 *  (no per-connection memory). */
function disconnectAfterConnect (proto: Record<string | symbol, unknown>): void {
  if (proto[EARLY_DISCONNECT] === true) return
  const original = proto.disconnect as Disconnect
  proto.disconnect = function (this: Client, opts?: unknown, done?: unknown) {
    const c = clientInternals(this)
    // registered (the CONNACK is written at once after) but its CONNECT not finished
    if (c.version === 5 && c.connecting && !c.connected && !c.closed && !c.errored && (c.broker as { clients: Record<string, Client> }).clients[this.id] === this) {
      const go = () => {
        clearTimeout(timer)
        this.off('connected', go)
        original.call(this, opts, done)
      }
      const timer = setTimeout(go, CONNECT_FINISH_WAIT_MS)
      this.once('connected', go)
      return
    }
    original.call(this, opts, done)
  }
  proto[EARLY_DISCONNECT] = true
}

/** See GHSA-52qw-whmv-87c5 above: a Client's maps keyed by topic filter and broker id. */
function nullPrototypeMaps (client: Client): void {
  const c = client as unknown as { subscriptions: object, duplicates: object }
  c.subscriptions = Object.create(null) as object
  c.duplicates = Object.create(null) as object
}

export function createMqttEngine (opts: MqttEngineOptions): MqttEngine {
  const aedes = new Aedes({
    id: opts.id,
    heartbeatInterval: opts.heartbeatMs,
    ...(opts.sessions.persistence === undefined ? {} : { persistence: opts.sessions.persistence as never }),
    mq: opts.sessions.mq,
    connectTimeout: opts.connectTimeoutMs,
    drainTimeout: opts.slowClientTimeoutMs,
    receiveMaximum: opts.mqtt5.receiveMaximum,
    sessionExpiryIntervalLimit: opts.mqtt5.sessionExpiryMaxS,
    topicAliasMaximum: opts.mqtt5.topicAliasMaximum,
    maximumPacketSize: opts.maxPacketBytes,
    ...opts.hooks,
    preConnect: (client, packet, done) => {
      // MQTT 5 Server Keep Alive [MQTT-3.2.2-21]: aedes' keepaliveLimit would also refuse MQTT
      // 3.1.1 cars above it (CONNACK 6), which fleet's cars never were; so it is set for v5 only.
      const limit = opts.mqtt5.serverKeepAliveS
      if (packet.protocolVersion === 5 && limit > 0 && (!packet.keepalive || packet.keepalive > limit)) {
        clientInternals(client)._serverKeepAlive = limit
      }
      opts.hooks.preConnect(client, packet, done)
    }
  })
  // aedes 2.0.0-beta.1 arms a timer per disconnected MQTT 5 session on the pod it left and wipes
  // the session when it fires unless the car is connected to that same pod: with pods sharing
  // sessions in Redis, a car that moved to another pod would lose its session there. Fleet expires
  // sessions in Redis (presence.ts, session-expiry.ts); aedes only ends sessions of expiry 0.
  const expiring = aedes as unknown as { scheduleSessionExpiry: (client: Client) => void }
  const scheduleSessionExpiry = expiring.scheduleSessionExpiry.bind(aedes)
  expiring.scheduleSessionExpiry = client => {
    const c = clientInternals(client)
    if (c.version !== 5 || c.sessionExpiryInterval === 0) scheduleSessionExpiry(client)
  }
  // aedes emits 'error' on itself when its persistence fails outside any client (the wills sweep
  // every 4 heartbeats, a session wipe, enqueueing a message for offline sessions, whose publish
  // then never calls back: the command intake's timeout reads it again). An EventEmitter 'error'
  // nobody listens to ends the process: a Redis outage longer than ioredis' retries took every
  // broker down at the next sweep. Listened to from the start, reported through onEngineError.
  const engineErrorListeners: Array<(err: Error) => void> = []
  ;(aedes as unknown as { on: (event: 'error', listener: (err: Error) => void) => void }).on('error', err => { for (const l of engineErrorListeners) l(err) })
  const internals = aedes as unknown as { clients: Record<string, Client>, brokers: Record<string, unknown>, persistence: Persistence }
  // GHSA-52qw-whmv-87c5: maps keyed by ids from the wire must not answer for 'constructor' (a valid
  // vehicle id); aedes 1.2.0 made them null-prototype objects, 2.0.0-beta.1 does not.
  internals.clients = Object.create(null) as Record<string, Client>
  internals.brokers = Object.create(null) as Record<string, unknown>

  // aedes' publish(packet, client, done) is where a PUBLISH is routed after authorizePublish.
  const publish = aedes.publish.bind(aedes) as unknown as (packet: PublishPacket, client: Client | Done | null, done?: Done) => void
  aedes.publish = ((packet: PublishPacket, client: Client | Done | null, done?: Done) => {
    if (opts.endsHere(packet)) {
      // Call back asynchronously, as aedes' own emitters do; its read loop expects that contract.
      const cb = typeof client === 'function' ? client : done
      if (cb !== undefined) process.nextTick(cb)
      return
    }
    publish(packet, client, done)
  }) as unknown as Aedes['publish']

  // Too large is seen by the packet guard (bytes held) or by aedes (the declared length, MQTT 5:
  // DISCONNECT 0x95), whichever comes first; the connection is reported once.
  const tooLarge = new WeakSet<Client>()
  const onTooLarge = (client: Client) => {
    if (tooLarge.has(client)) return
    tooLarge.add(client)
    opts.onPacketTooLarge(client)
  }
  const guard = createPacketGuard(opts.maxPacketBytes, onTooLarge, opts.fast, opts.isHeld)

  return {
    handle: (stream, req) => {
      const client = aedes.handle(stream, req as never)
      nullPrototypeMaps(client)
      guard(client)
    },
    async start () {
      if (opts.sessions.persistence !== undefined) checkPersistenceInternals(opts.sessions.persistence)
      const probe = silentStream()
      const client = aedes.handle(probe)
      try {
        checkClientInternals(client)
        checkReadBufferInternals()
        disconnectAfterConnect(Object.getPrototypeOf(client) as Record<string | symbol, unknown>)
      } finally {
        probe.destroy()
      }
      await aedes.listen()
      checkBrokerInternals(aedes)
      if (opts.sessions.persistence === undefined) boundQos2StateInMemory(internals.persistence as unknown as IncomingStore, { maxPending: opts.maxQos2Pending, onFull: opts.onQos2Full })
      // [MQTT-3.1.2-6] a clean session ends with its connection: aedes 1.2.0 dropped its QoS 2
      // state on close, 2.0.0-beta.1 does not
      aedes.on('clientDisconnect', (client: Client) => {
        if (client.clean) internals.persistence.cleanIncoming?.(client).catch(() => {})
      })
    },
    async close (timeoutMs) {
      // Give the PUBACKs of the last batch a turn to be written before sockets close.
      await new Promise(resolve => setImmediate(resolve))
      // aedes.close ends with the emitter's QUITs, which ioredis holds until Redis answers: with
      // Redis away that is forever, so after a while its connections are dropped instead.
      let slow: NodeJS.Timeout | undefined
      const closed = await Promise.race([
        new Promise<boolean>(resolve => aedes.close(() => resolve(true))),
        new Promise<boolean>(resolve => {
          slow = setTimeout(() => {
            opts.sessions.dropEmitter()
            resolve(false)
          }, timeoutMs)
        })
      ])
      clearTimeout(slow)
      return closed
    },
    connectedClients: () => aedes.connectedClients,
    clientById: clientId => Object.hasOwn(internals.clients, clientId) ? internals.clients[clientId] : undefined,
    pauseReads () {
      for (const client of Object.values(internals.clients)) (client as unknown as { pause: () => void }).pause()
    },
    clients: () => Object.values(internals.clients),
    pause: client => { (client as unknown as { pause: () => void }).pause() },
    publish: (packet, done) => { aedes.publish(packet, err => done(err ?? undefined)) },
    qos2Received: (client, packet) => internals.persistence.incomingGetPacket(client, packet).then(() => true, () => false),
    queuedFor: clientId => internals.persistence.outgoingStream({ id: clientId }),
    disconnect: client => { client.close() },
    // bounded: aedes calls back only once the write and the close are done, which a car that
    // reads nothing can hold up; a drain must not wait on one car
    disconnectCar: (client, reasonCode) => new Promise<void>(resolve => {
      const late = setTimeout(() => { client.conn.destroy(); resolve() }, DISCONNECT_WAIT_MS)
      client.disconnect({ reasonCode }, () => { clearTimeout(late); resolve() })
    }),
    sessionExpiryOf: client => {
      const c = clientInternals(client)
      return c.version === 5 ? c.sessionExpiryInterval : undefined
    },
    onClient: listener => { aedes.on('client', listener) },
    onClientReady: listener => { aedes.on('clientReady', listener) },
    onClientDisconnect: listener => { aedes.on('clientDisconnect', listener) },
    onClientError: listener => {
      aedes.on('clientError', (client: Client, err: Error) => {
        // past the QoS 2 window: aedes' own per-connection check or the per-car one (qos2-window.ts)
        const kind = err instanceof Qos2WindowFullError ? 'qos2_window' : (err as { maximumPacketSize?: number }).maximumPacketSize !== undefined ? 'packet_too_large' : 'other'
        if (kind === 'packet_too_large') onTooLarge(client)
        listener(client, err, kind)
      })
    },
    onConnectionError: listener => { aedes.on('connectionError', (_client: Client, err: Error) => listener(err)) },
    onEngineError: listener => { engineErrorListeners.push(listener) },
    onAck: listener => { aedes.on('ack', listener as never) },
    onPublish: listener => { aedes.on('publish', listener as never) },
    offPublish: listener => { aedes.off('publish', listener as never) }
  }
}
