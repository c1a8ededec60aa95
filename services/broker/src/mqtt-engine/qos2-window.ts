// Bounds the QoS 2 state a car can make Redis hold. aedes keeps each received QoS 2 PUBLISH until
// its PUBREL [MQTT-4.3.3-2] under `incoming:<clientId>:<id>` (aedes-persistence-redis): the whole
// packet, without expiry, never cleaned if the PUBREL never comes, and aedes' limit
// (maxInflightInbound) is per connection — one car reconnecting could fill Redis. Fleet writes a
// car's message to Kafka before its PUBREC (telemetry-intake.ts), so what must survive until the
// PUBREL is only "this packet id was received": here that is one field per packet id in one hash
// per client, at most `maxPending` of them (checked and written in one Lua call, so across the
// car's connections and pods), expiring with the session. Past the cap the store refuses and
// aedes closes the connection (MQTT 3.1.1 has no reason code for it).

/** The hash of a client's received QoS 2 packet ids awaiting their PUBREL. */
export const qos2StateKey = (clientId: string) => `fleet:qos2:${encodeURIComponent(clientId)}`

/** KEYS[1]=hash; ARGV: packet id, cap, ttl seconds. 1 = stored (or already there), 0 = full. */
const STORE_LUA = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
  redis.call('HSET', KEYS[1], ARGV[1], '1')
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1`

export interface Qos2Redis {
  eval: (script: string, numKeys: number, ...args: Array<string | number>) => Promise<unknown>
  hexists: (key: string, field: string) => Promise<number>
  hdel: (key: string, field: string) => Promise<number>
  del: (key: string) => Promise<number>
}

interface Client { id: string }
interface Packet { messageId?: number }

/** The incoming-store methods of aedes' persistence (promise forms, as aedes 1.x calls them). */
export interface IncomingStore {
  incomingStorePacket: (client: Client, packet: Packet) => Promise<void>
  incomingGetPacket: (client: Client, packet: Packet) => Promise<unknown>
  incomingDelPacket: (client: Client, packet: Packet) => Promise<void>
  cleanIncoming?: (client: Client) => Promise<void>
}

export class Qos2WindowFullError extends Error {
  readonly code = 'QOS2_WINDOW_FULL'
  constructor (limit: number) { super(`more than ${limit} QoS 2 PUBLISHes awaiting PUBREL`) }
}

export interface Qos2WindowOptions {
  redis: Qos2Redis
  /** Received QoS 2 packet ids awaiting PUBREL per client id, over all its connections. */
  maxPending: number
  /** Expiry of the state (the session expiry): refreshed at every store. */
  ttlSeconds: number
  onFull: (client: Client) => void
}

/** Replaces the persistence's incoming store (in place) and returns it. */
export function boundQos2State<P extends IncomingStore> (store: P, opts: Qos2WindowOptions): P {
  const { redis, maxPending, ttlSeconds } = opts
  store.incomingStorePacket = async (client, packet) => {
    const stored = await redis.eval(STORE_LUA, 1, qos2StateKey(client.id), String(packet.messageId), maxPending, ttlSeconds)
    if (stored !== 1) {
      opts.onFull(client)
      throw new Qos2WindowFullError(maxPending)
    }
  }
  store.incomingGetPacket = async (client, packet) => {
    if (await redis.hexists(qos2StateKey(client.id), String(packet.messageId)) !== 1) throw new Error('no such packet')
    // aedes only asks whether it is there (a resend, or a PUBREL to answer); the message is in Kafka
    return { cmd: 'publish', messageId: packet.messageId }
  }
  store.incomingDelPacket = async (client, packet) => { await redis.hdel(qos2StateKey(client.id), String(packet.messageId)) }
  // [MQTT-3.1.2-6] a clean session starts and ends without this state
  store.cleanIncoming = async client => { await redis.del(qos2StateKey(client.id)) }
  return store
}

/**
 * The same bound for aedes' in-memory store (FLEET_BROKER_PERSISTENCE=memory, one pod): received
 * packet ids per client id in a Map. aedes 1.2.0 had a per-connection cap (maxInflightInbound);
 * aedes 2.0.0-beta.1 has none (docs/broker-internals.md).
 */
export function boundQos2StateInMemory<P extends IncomingStore> (store: P, opts: Omit<Qos2WindowOptions, 'redis' | 'ttlSeconds'>): P {
  const received = new Map<string, Set<number>>()
  store.incomingStorePacket = async (client, packet) => {
    let ids = received.get(client.id)
    if (ids === undefined) received.set(client.id, ids = new Set())
    if (!ids.has(packet.messageId!) && ids.size >= opts.maxPending) {
      opts.onFull(client)
      throw new Qos2WindowFullError(opts.maxPending)
    }
    ids.add(packet.messageId!)
  }
  store.incomingGetPacket = async (client, packet) => {
    if (received.get(client.id)?.has(packet.messageId!) !== true) throw new Error('no such packet')
    return { cmd: 'publish', messageId: packet.messageId }
  }
  store.incomingDelPacket = async (client, packet) => {
    const ids = received.get(client.id)
    ids?.delete(packet.messageId!)
    if (ids?.size === 0) received.delete(client.id)
  }
  store.cleanIncoming = async client => { received.delete(client.id) }
  return store
}
