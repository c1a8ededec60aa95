// Every Redis client of a service is made here, so one setting chooses between one Redis
// (FLEET_REDIS_URL) and the master that Redis Sentinel names (FLEET_REDIS_SENTINELS): sessions,
// the emitter, credentials and state then all follow the same master after a failover.
import { Redis, type RedisOptions } from 'ioredis'

export interface RedisSettings {
  redisUrl: string
  redisSentinels?: string[]
  redisSentinelName?: string
}

/** The ioredis options for these settings, merged with the caller's own (timeouts, queues). */
export function redisOptions (s: RedisSettings, extra: RedisOptions = {}): RedisOptions {
  const sentinels = s.redisSentinels ?? []
  if (sentinels.length === 0) return { ...extra }
  const url = new URL(s.redisUrl)
  const db = Number(url.pathname.replace('/', '') || 0)
  return {
    ...extra,
    sentinels: sentinels.map(hp => {
      const i = hp.lastIndexOf(':')
      return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) }
    }),
    name: s.redisSentinelName ?? 'fleet',
    // the URL still carries what the master needs: user, password, database, TLS
    ...(url.username === '' ? {} : { username: decodeURIComponent(url.username) }),
    ...(url.password === '' ? {} : { password: decodeURIComponent(url.password) }),
    ...(db > 0 ? { db } : {}),
    ...(url.protocol === 'rediss:' ? { tls: {}, enableTLSForSentinelMode: true } : {}),
    // A Sentinel's +switch-master reconnects at once, instead of after the old master's socket
    // times out; a READONLY answer (we reached a demoted master) reconnects through the Sentinels.
    failoverDetector: true,
    reconnectOnError: err => err.message.startsWith('READONLY') ? 2 : false
  }
}

/** A Redis client for these settings (Sentinel when FLEET_REDIS_SENTINELS is set). */
export function createRedis (s: RedisSettings, extra: RedisOptions = {}): Redis {
  const sentinels = s.redisSentinels ?? []
  return sentinels.length === 0 ? new Redis(s.redisUrl, extra) : new Redis(redisOptions(s, extra))
}

/** Where these settings point, for logs (no password). */
export function describeRedis (s: RedisSettings): string {
  const sentinels = s.redisSentinels ?? []
  if (sentinels.length > 0) return `master "${s.redisSentinelName ?? 'fleet'}" of Sentinels ${sentinels.join(',')}`
  const url = new URL(s.redisUrl)
  return `${url.protocol}//${url.host}${url.pathname}`
}
