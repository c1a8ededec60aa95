// Sessions that expire (issue #21): a car's persistent session — its subscription hash, its queue
// of undelivered commands and its QoS 2 state — lives on in Redis for `expirySeconds` after its
// last connection ended, then Redis drops it (MQTT 5's Session Expiry Interval, applied to the
// 3.1.1 sessions fleet's cars hold; without it a car that never comes back is kept forever).
// Queued packets themselves carry the same expiry (aedes-persistence-redis' packetTTL). While the
// car is connected its keys do not expire: the connect removes the expiry, and only the pod that
// holds the car's latest connection (presence's `conn`, so not the pod that just lost it to a
// takeover) sets it when that connection ends, in the same Lua call that marks the car offline.
import { sessionSubscriptionsKey } from './session-index.js'
import { qos2StateKey } from './qos2-window.js'
import { settle } from './session-store.js'

/** aedes-persistence-redis' key of a client's queue of undelivered packets (outgoingKey). */
export const sessionQueueKey = (clientId: string) => `outgoing:${encodeURIComponent(clientId)}`

/** Keys that expire with the session (the QoS 2 state keeps the expiry it gets at each store). */
export const sessionKeys = (clientId: string) => [sessionSubscriptionsKey(clientId), sessionQueueKey(clientId), qos2StateKey(clientId)]

/** Keys whose expiry a connect removes. */
export const liveSessionKeys = (clientId: string) => [sessionSubscriptionsKey(clientId), sessionQueueKey(clientId)]

/**
 * KEYS[1]=presence hash, KEYS[2]=online set, KEYS[3..]=session keys; ARGV: conn, vehicleId, since,
 * expiry seconds. Like MARK_OFFLINE_LUA (shared/src/presence.ts), only for its own connection.
 */
export const MARK_OFFLINE_AND_EXPIRE_LUA = `
if redis.call('HGET', KEYS[1], 'conn') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'online', '0', 'since', ARGV[3])
redis.call('SREM', KEYS[2], ARGV[2])
for i = 3, #KEYS do redis.call('EXPIRE', KEYS[i], ARGV[4]) end
return 1`

interface Subscriber { clientId: string }
// method syntax: aedes' own subscriber objects carry more than the client id
export interface QueueStore { outgoingEnqueueCombi (subs: Subscriber[], packet: unknown, cb?: unknown): unknown }
export interface ExpiryRedis { expire: (key: string, seconds: number) => Promise<number> }

/**
 * A queue written while its car is away (a command for an offline car) gets the session's expiry
 * too; the car's next connect removes it. Installs the rule on a persistence instance (in place).
 */
export function expireQueues<P extends QueueStore> (store: P, opts: { redis: ExpiryRedis, ttlSeconds: number }): P {
  const enqueue = store.outgoingEnqueueCombi.bind(store) as (subs: Subscriber[], packet: unknown) => Promise<void>
  store.outgoingEnqueueCombi = (subs, packet, cb) => settle((async () => {
    await enqueue(subs, packet)
    if (subs !== undefined && subs.length > 0) await Promise.all(subs.map(s => opts.redis.expire(sessionQueueKey(s.clientId), opts.ttlSeconds)))
  })(), cb)
  return store
}
