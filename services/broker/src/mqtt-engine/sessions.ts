// The shared session store and message bus of a broker pod: aedes-persistence-redis with fleet's
// rules installed on it (session-store, session-index, session-expiry, qos2-window) and the routed
// emitter (routing-emitter) whose shared half is mqemitter-redis.
import type { Client } from 'aedes'
import redisPersistence from 'aedes-persistence-redis'
import type { Redis } from 'ioredis'
import MQEmitterRedis from 'mqemitter-redis'
import type { MQEmitter } from 'mqemitter'
import type { RedisEvents } from '../../../shared/src/redis-errors.js'
import { checkRedisEmitterInternals } from './internals.js'
import { boundQos2State, type IncomingStore } from './qos2-window.js'
import { createLocalEmitter, createRoutingEmitter } from './routing-emitter.js'
import { expireQueues } from './session-expiry.js'
import { indexOwnSubscriptionsInRedis, type IndexedStore } from './session-index.js'
import { applySessionRules, type SessionStore } from './session-store.js'

export interface SharedSessionOptions {
  /** A new Redis connection like the others (Sentinel-aware): the emitter's two are made with it. */
  connect: () => Redis
  /** The persistence's own connection (ours to close: its destroy() needs the then closed emitter). */
  redis: Redis
  expirySeconds: number
  maxQos2Pending: number
  onQos2Full: (client: { id: string }) => void
  maySubscribe: (client: Client, filter: string) => boolean
  neverRetained: (filter: string) => boolean
  ownerOf: (filter: string) => string | null
  onStoreError: (op: string, err: Error) => void
  /** Counts and logs the emitter connections' errors (shared/redis-errors.ts). */
  watch: (name: string, conn: RedisEvents) => void
}

type RedisEmitter = MQEmitter & { subConn: RedisEvents & { disconnect: () => void }, pubConn: RedisEvents & { disconnect: () => void }, state: { on: (e: 'error', l: () => void) => unknown } }

export interface SharedSessions {
  persistence: unknown
  mq: MQEmitter
  /** Drops the emitter's connections (its QUITs wait forever while Redis is away). */
  dropEmitter: () => void
}

export function createSharedSessions (opts: SharedSessionOptions): SharedSessions {
  const { redis } = opts
  const store = redisPersistence({ conn: redis, packetTTL: () => opts.expirySeconds }) as unknown as SessionStore & IndexedStore & IncomingStore
  const persistence = applySessionRules(indexOwnSubscriptionsInRedis(expireQueues(boundQos2State(store, {
    redis,
    maxPending: opts.maxQos2Pending,
    ttlSeconds: opts.expirySeconds,
    onFull: opts.onQos2Full
  }), { redis, ttlSeconds: opts.expirySeconds }), { redis, ownerOf: opts.ownerOf }), {
    maySubscribe: opts.maySubscribe,
    neverRetained: opts.neverRetained,
    onStoreError: opts.onStoreError
  })
  // mqemitter-redis takes its two connections ready-made (subConn, pubConn), so they follow Sentinel too.
  const shared = new (MQEmitterRedis as unknown as new (o: object) => RedisEmitter)({ subConn: opts.connect(), pubConn: opts.connect() })
  checkRedisEmitterInternals(shared)
  // mqemitter-redis re-emits its connections' errors on `state`, where nobody listening means a
  // crash; they are counted on the connections themselves.
  shared.state.on('error', () => {})
  opts.watch('emitter-sub', shared.subConn)
  opts.watch('emitter-pub', shared.pubConn)
  return {
    persistence,
    mq: createRoutingEmitter({ local: createLocalEmitter(), shared }),
    dropEmitter () {
      shared.subConn.disconnect()
      shared.pubConn.disconnect()
    }
  }
}

/** A pod on its own (FLEET_BROKER_PERSISTENCE=memory): aedes' in-memory store, a local bus. */
export function createLocalSessions (): SharedSessions {
  return { persistence: undefined, mq: createLocalEmitter(), dropEmitter: () => {} }
}
