// The private parts of aedes, its Client, mqtt-packet's parser, the persistence and the Redis
// emitter that fleet relies on, written down once. checkInternals() runs at start and names the
// first one missing, so a version bump that moves one fails at start, not under load.
// docs/broker-internals.md says why each is used.
import type { Client } from 'aedes'

/** mqtt-packet's parser as aedes holds it per connection. */
export interface ParserInternals {
  parse: (buf: Buffer) => number
  _list: { length: number }
  _stateCounter: number
  settings: { cmd?: string, protocolVersion?: number, bridgeMode?: boolean }
  /** aedes sets this to the connection's Client. */
  client: Client
}

/** aedes' per-connection state: its read loop counts packets under way in `_parsingBatch` and
 *  reads again (`_nextBatch`) when the count is back at 0. */
export interface ClientInternals {
  connackSent: boolean
  _parser: ParserInternals
  _parsingBatch: number
  _nextBatch: () => void
  _rejectingPacketTooLarge: boolean
  _paused?: boolean
  _keepaliveInterval: number
  _keepaliveTimer: { refresh: () => void } | null
  _will: { topic: string } | null | undefined
  connected: boolean
  /** From CONNECT until its actions (authenticate … CONNACK, queued messages written) finish. */
  connecting: boolean
  closed: boolean
  errored: boolean
  subscriptions: Record<string, { qos?: number } | undefined>
  version?: number | null
  /** MQTT 5: the Session Expiry Interval granted at CONNECT (seconds). */
  sessionExpiryInterval: number
  /** MQTT 5: the keep alive imposed in the CONNACK (Server Keep Alive), set before CONNECT runs. */
  _serverKeepAlive?: number
  broker: unknown
}

export const clientInternals = (client: Client) => client as unknown as ClientInternals

/** The persistence methods fleet wraps or calls (session-store, session-index, session-expiry, qos2-window). */
export const PERSISTENCE_METHODS = [
  'delWill', 'addSubscriptions', 'createRetainedStreamCombi', 'outgoingClearMessageId', 'outgoingUpdate', 'subscriptionsByTopic',
  'outgoingEnqueueCombi', 'incomingStorePacket', 'incomingGetPacket', 'incomingDelPacket', 'outgoingStream'
] as const

type Check = [name: string, ok: (o: Record<string, unknown>) => boolean]
const isFn = (v: unknown) => typeof v === 'function'
const isNum = (v: unknown) => typeof v === 'number'

const CLIENT_CHECKS: Check[] = [
  ['Client._parser', c => typeof c._parser === 'object' && c._parser !== null],
  ['Client._parsingBatch', c => isNum(c._parsingBatch)],
  ['Client._nextBatch', c => isFn(c._nextBatch)],
  ['Client._rejectingPacketTooLarge', c => typeof c._rejectingPacketTooLarge === 'boolean'],
  ['Client.pause/resume (_paused)', c => isFn(c.pause) && isFn(c.resume) && (c._paused === undefined || typeof c._paused === 'boolean')],
  ['Client._keepaliveInterval', c => isNum(c._keepaliveInterval)],
  ['Client._keepaliveTimer', c => '_keepaliveTimer' in c],
  ['Client._will', c => '_will' in c],
  ['Client.connackSent', c => typeof c.connackSent === 'boolean'],
  ['Client.sessionExpiryInterval', c => isNum(c.sessionExpiryInterval)],
  ['Client.disconnect(opts, done)', c => isFn(c.disconnect)],
  ['Client.connected', c => typeof c.connected === 'boolean'],
  ['Client.connecting', c => typeof c.connecting === 'boolean'],
  ['Client.closed', c => typeof c.closed === 'boolean'],
  ['Client.errored', c => typeof c.errored === 'boolean'],
  ['Client.once/off (the \'connected\' event)', c => isFn(c.once) && isFn(c.off)],
  ['Client.broker.scheduleSessionExpiry', c => isFn((c.broker as { scheduleSessionExpiry?: unknown })?.scheduleSessionExpiry)],
  ['Client.subscriptions', c => typeof c.subscriptions === 'object' && c.subscriptions !== null],
  ['Client.duplicates', c => typeof c.duplicates === 'object' && c.duplicates !== null],
  ['Client.broker.publish(packet, client, done)', c => isFn((c.broker as { publish?: unknown })?.publish) && (c.broker as { publish: { length: number } }).publish.length === 3],
  ['Client.conn \'readable\' listener = Client._nextBatch', c => (c.conn as { listeners?: (e: string) => unknown[] })?.listeners?.('readable').includes(c._nextBatch) === true]
]

const PARSER_CHECKS: Check[] = [
  ['Parser.parse', p => isFn(p.parse) && isFn(Object.getPrototypeOf(p)?.parse)],
  ['Parser._list', p => isNum((p._list as { length?: unknown })?.length)],
  ['Parser._stateCounter', p => isNum(p._stateCounter)],
  ['Parser.settings', p => typeof p.settings === 'object' && p.settings !== null],
  ['Parser.client', p => typeof p.client === 'object']
]

export class MissingInternalError extends Error {
  readonly code = 'MQTT_ENGINE_INTERNAL_MISSING'
  constructor (readonly internal: string) {
    super(`aedes internal missing: ${internal} (fleet pins aedes, mqtt-packet and the persistence exactly; see docs/broker-internals.md)`)
  }
}

function run (checks: Check[], target: unknown): void {
  const o = (target ?? {}) as Record<string, unknown>
  for (const [name, ok] of checks) if (!ok(o)) throw new MissingInternalError(name)
}

/** Checks a fresh Client (aedes.handle on a stream that sent nothing) and its parser. */
export function checkClientInternals (client: unknown): void {
  run(CLIENT_CHECKS, client)
  run(PARSER_CHECKS, (client as { _parser: unknown })._parser)
}

/** Checks a persistence instance for the methods fleet wraps or calls. */
export function checkPersistenceInternals (persistence: unknown): void {
  if (typeof persistence !== 'object' || persistence === null) throw new MissingInternalError('Aedes.persistence')
  const p = persistence as Record<string, unknown>
  for (const m of PERSISTENCE_METHODS) if (!isFn(p[m])) throw new MissingInternalError(`persistence.${m}`)
}

/** Checks the broker object (after listen(), which sets up its persistence). */
export function checkBrokerInternals (aedes: unknown): void {
  const a = aedes as { clients?: unknown, persistence?: unknown }
  if (typeof a.clients !== 'object' || a.clients === null) throw new MissingInternalError('Aedes.clients')
  checkPersistenceInternals(a.persistence)
}

/** mqemitter-redis' connections and error re-emitter, which fleet watches and drops on a stuck close. */
export function checkRedisEmitterInternals (emitter: unknown): void {
  const e = emitter as Record<string, { on?: unknown, disconnect?: unknown } | undefined>
  for (const name of ['subConn', 'pubConn'] as const) {
    if (!isFn(e[name]?.on) || !isFn(e[name]?.disconnect)) throw new MissingInternalError(`MQEmitterRedis.${name}`)
  }
  if (!isFn(e.state?.on)) throw new MissingInternalError('MQEmitterRedis.state')
}
