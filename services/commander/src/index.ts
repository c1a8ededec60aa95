// The commander: keeps the command records in Redis as the projection of vehicle.command-events
// (command-projection + command-lifecycle), declares commands expired (expiry-sweeper) and, when
// configured, turns anomalies into commands (anomaly-rule). It speaks Kafka and Redis only: the
// broker pods consume vehicle.commands themselves. `createCommander(config, deps)` is what main.ts,
// the tests and the all-in-one launcher use.
import { hostname } from 'node:os'
import { createRedis } from '../../shared/src/redis-connection.js'
import { Partitioners, type Consumer, type Kafka, type Producer } from 'kafkajs'
import type { Registry } from 'prom-client'
import { createCommandIssuer } from '../../shared/src/command-issuer.js'
import { createCommandStore } from '../../shared/src/command-store.js'
import { createKafka } from '../../shared/src/kafka.js'
import { createLogger, type Logger } from '../../shared/src/logger.js'
import { createRegistry } from '../../shared/src/metrics.js'
import { createRedisErrorWatch } from '../../shared/src/redis-errors.js'
import { createOpsServer, type OpsServer } from '../../shared/src/ops-server.js'
import { runAnomalyRules } from './anomaly-rule.js'
import { runProjection } from './command-projection.js'
import { parseAnomalyRules, type CommanderConfig } from './commander-config.js'
import { createCommanderMetrics, type CommanderMetrics } from './commander-metrics.js'
import { startSweeper } from './expiry-sweeper.js'

export interface CommanderDeps {
  log?: Logger
  registry?: Registry
  kafka?: Kafka
}

export interface FleetCommander {
  /** Connects and joins the consumer groups; resolves with the ops port. */
  start: () => Promise<{ opsPort: number }>
  /** Resolves when every consumer has joined its group. */
  ready: (timeoutMs?: number) => Promise<void>
  stop: () => Promise<void>
  readonly id: string
  readonly metrics: CommanderMetrics
  readonly registry: Registry
}

export function createCommander (config: CommanderConfig, deps: CommanderDeps = {}): FleetCommander {
  const id = config.commanderId || `${hostname()}-${process.pid}`
  const log = (deps.log ?? createLogger('commander', config.logLevel)).child({ commanderId: id })
  const registry = deps.registry ?? createRegistry('commander')
  const metrics = createCommanderMetrics(registry)
  const rules = parseAnomalyRules(config.anomalyRules)
  const kafka = deps.kafka ?? createKafka(config, log, `-commander-${id}`)
  const redisOpts = { lazyConnect: true, maxRetriesPerRequest: 3, connectTimeout: 3_000 }
  const redis = createRedis(config, redisOpts)
  // WATCH/MULTI of the projection needs a connection nobody else uses.
  const projectionRedis = createRedis(config, redisOpts)
  const redisErrors = createRedisErrorWatch('commander', registry, log)
  redisErrors.watch('records', redis)
  redisErrors.watch('projection', projectionRedis)
  const store = createCommandStore(redis, { retentionS: config.commandRetentionS })
  const producer: Producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner })
  const consumerOpts = { sessionTimeout: 10_000, rebalanceTimeout: 10_000, heartbeatInterval: 1_000, allowAutoTopicCreation: false, retry: { retries: 8, initialRetryTime: 300, maxRetryTime: 5_000 } }
  const consumers: Array<{ name: string, consumer: Consumer, joined: boolean }> = [
    { name: 'events', consumer: kafka.consumer({ groupId: `${config.groupId}.events`, ...consumerOpts }), joined: false },
    ...(rules.length > 0 ? [{ name: 'anomalies', consumer: kafka.consumer({ groupId: `${config.groupId}.anomalies`, ...consumerOpts }), joined: false }] : [])
  ]
  for (const c of consumers) {
    c.consumer.on(c.consumer.events.GROUP_JOIN, () => { c.joined = true })
    c.consumer.on(c.consumer.events.CRASH, e => {
      c.joined = false
      log.warn({ consumer: c.name, err: e.payload.error.message, restart: e.payload.restart }, 'consumer crashed')
    })
  }
  let sweeper: { stop: () => Promise<void> } | null = null
  let ops: OpsServer | null = null

  return {
    id,
    metrics,
    registry,
    async start () {
      await Promise.all([redis.connect(), projectionRedis.connect()])
      await producer.connect()
      const byName = (name: string) => consumers.find(c => c.name === name)!.consumer
      for (const c of consumers) await c.consumer.connect()
      await runProjection(byName('events'), { redis: projectionRedis, metrics, log })
      if (rules.length > 0) {
        const issuer = createCommandIssuer({ store, producer })
        await runAnomalyRules(byName('anomalies'), { rules, issuer, redis, cooldownS: config.anomalyCooldownS, ttlS: config.anomalyCommandTtlS, metrics, log })
        log.info({ rules: config.anomalyRules }, 'anomaly rules on')
      }
      sweeper = startSweeper({ redis, store, producer, metrics, log, graceMs: config.expiryGraceMs, intervalMs: config.sweepIntervalMs })
      ops = createOpsServer({
        host: config.host,
        port: config.opsPort,
        registry,
        log,
        checks: [
          { name: 'redis', check: () => redis.status === 'ready' && projectionRedis.status === 'ready' },
          { name: 'kafka', check: () => consumers.every(c => c.joined) }
        ]
      })
      const opsPort = await ops.start()
      log.info({ opsPort, rules: rules.length }, 'commander started')
      return { opsPort }
    },
    async ready (timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs
      while (!consumers.every(c => c.joined)) {
        if (Date.now() > deadline) throw new Error(`commander not ready: groups ${consumers.map(c => `${c.name}=${c.joined}`).join(' ')}`)
        await new Promise(resolve => setTimeout(resolve, 50))
      }
    },
    async stop () {
      await sweeper?.stop()
      await Promise.all(consumers.map(c => c.consumer.disconnect().catch(() => {})))
      await producer.disconnect().catch(() => {})
      redis.disconnect()
      projectionRedis.disconnect()
      await ops?.stop()
      log.info('commander stopped')
    }
  }
}
