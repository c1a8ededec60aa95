// Every Redis connection a service opens gets an error listener: without one, ioredis prints each
// failed reconnect to stderr, and an EventEmitter that re-emits them (mqemitter-redis' `state`)
// throws and takes the process down. A Redis outage is an expected fault: one warning when a
// connection is lost, one info line when it is back, every error counted.
import { Counter, type Registry } from 'prom-client'
import type { Logger } from './logger.js'

/** What ioredis' Redis (and Cluster) offer for this. */
export interface RedisEvents {
  on: (event: 'error' | 'ready', listener: (err?: Error) => void) => unknown
}

export interface RedisErrorWatch {
  /** Watches one connection under a name for the logs and the metric. */
  watch: (name: string, conn: RedisEvents) => void
}

/** One per service instance; `fleet_<service>_redis_errors_total{connection}` counts the errors. */
export function createRedisErrorWatch (service: string, registry: Registry, log: Logger): RedisErrorWatch {
  const errors = new Counter({ name: `fleet_${service}_redis_errors_total`, help: 'Redis connection errors, by connection (ioredis reconnects by itself)', labelNames: ['connection'], registers: [registry] })
  return {
    watch (name, conn) {
      let down = false
      errors.inc({ connection: name }, 0)
      conn.on('error', err => {
        errors.inc({ connection: name })
        if (down) return
        down = true
        log.warn({ connection: name, err: err?.message }, 'Redis connection lost; reconnecting')
      })
      conn.on('ready', () => {
        if (!down) return
        down = false
        log.info({ connection: name }, 'Redis connection back')
      })
    }
  }
}
