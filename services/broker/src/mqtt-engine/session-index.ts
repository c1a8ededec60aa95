// Who holds a session subscription to a car's commands topic, answered by Redis instead of memory.
//
// aedes-persistence-redis keeps every stored subscription of the whole fleet in an in-memory trie
// on every broker pod (loaded from Redis at start, kept current by a $SYS broadcast through Redis
// on every change), so that a command published on any pod can be queued for the car's session
// wherever the car is. That costs each pod about 1 KB per car in the fleet, connected or not, and a
// Redis round trip to every pod per new session. A car's commands topic needs no such index: the
// ACL lets only the car itself hold it (client id = vehicle id) and only as that exact topic, so
// "who holds vehicles/X/commands" is "does session X hold it", one HEXISTS on the session's own
// subscription hash — read once per command queued, which is rare next to telemetry.
//
// So a car's own commands subscription is written to its session hash (same key and encoding as
// aedes-persistence-redis, so the car's reconnect restores it as before) without entering the
// fleet-wide index, and enqueueing a command asks Redis. Every other subscription (wildcards,
// service clients) keeps the library's path. Sessions stored before this change are still in the
// trie; a session found both ways is queued for once.
import type { Client } from 'aedes'
import msgpack from 'msgpack-lite'
import { settle, type StoredSubscription } from './session-store.js'

/** aedes-persistence-redis' key of a client's subscription hash (asyncPersistence.js clientSubKey). */
export const sessionSubscriptionsKey = (clientId: string) => `client:${encodeURIComponent(clientId)}`

export interface IndexRedis {
  hset: (key: string, values: Record<string, Buffer>) => Promise<unknown>
  hexists: (key: string, field: string) => Promise<number>
}

interface Subscriber { clientId: string, topic: string, qos: number }

/** The part of aedes' persistence (promise forms, as aedes 1.x calls them) this rule wraps. */
export interface IndexedStore {
  addSubscriptions: (client: Client, subs: StoredSubscription[], cb?: unknown) => unknown
  subscriptionsByTopic: (topic: string, cb?: unknown) => unknown
  outgoingEnqueueCombi: (subs: Subscriber[], packet: unknown, cb?: unknown) => unknown
}

export interface IndexRules {
  redis: IndexRedis
  /** The one client id that may hold this exact topic, or null for topics indexed as usual. */
  ownerOf: (topic: string) => string | null
}

/** Stands for "the owner, if its session holds the topic": resolved when a packet is queued. */
const toLookUp = new WeakSet<Subscriber>()

/** Installs the rule on a persistence instance (in place) and returns it. */
export function indexOwnSubscriptionsInRedis<P extends IndexedStore> (store: P, rules: IndexRules): P {
  const addSubscriptions = store.addSubscriptions.bind(store) as (client: Client, subs: StoredSubscription[]) => Promise<unknown>
  const subscriptionsByTopic = store.subscriptionsByTopic.bind(store) as (topic: string) => Promise<Subscriber[]>
  const outgoingEnqueueCombi = store.outgoingEnqueueCombi.bind(store) as (subs: Subscriber[], packet: unknown) => Promise<void>
  const { redis, ownerOf } = rules

  store.addSubscriptions = (client, subs, cb) => {
    const own = subs.filter(s => ownerOf(s.topic) === client.id)
    const rest = own.length === 0 ? subs : subs.filter(s => !own.includes(s))
    const work = async () => {
      if (own.length > 0) await redis.hset(sessionSubscriptionsKey(client.id), Object.fromEntries(own.map(s => [s.topic, msgpack.encode(s)])))
      if (rest.length > 0) await addSubscriptions(client, rest)
      return client
    }
    return settle(work(), cb)
  }

  store.subscriptionsByTopic = (topic, cb) => {
    const owner = ownerOf(topic)
    const subs = subscriptionsByTopic(topic)
    if (owner === null) return settle(subs, cb)
    return settle(subs.then(found => {
      if (found.some(s => s.clientId === owner)) return found
      const marker: Subscriber = { clientId: owner, topic, qos: 1 }
      toLookUp.add(marker)
      return [...found, marker]
    }), cb)
  }

  store.outgoingEnqueueCombi = (subs, packet, cb) => {
    if (!subs?.some(s => toLookUp.has(s))) return settle(outgoingEnqueueCombi(subs, packet), cb)
    const resolve = async () => {
      const held = await Promise.all(subs.map(s => toLookUp.has(s) ? redis.hexists(sessionSubscriptionsKey(s.clientId), s.topic).then(n => n === 1) : true))
      await outgoingEnqueueCombi(subs.filter((_, i) => held[i]), packet)
    }
    return settle(resolve(), cb)
  }
  return store
}
