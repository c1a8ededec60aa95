// The commander: keeps the command records in Redis as the projection of vehicle.command-events
// (command-projection + command-lifecycle), declares commands expired (expiry-sweeper) and, when
// configured, turns anomalies into commands (anomaly-rule). It speaks Kafka and Redis only: the
// broker pods consume vehicle.commands themselves. `createCommander(config, deps)` is what main.ts,
// the tests and the all-in-one launcher use. Its consumers run under the consumer supervisor and
// its producer is replaced after a non-retriable error: a Kafka outage never leaves it dead.
import { hostname } from 'node:os'
import { createRedis } from '../../shared/src/redis-connection.js'
import { Partitioners, type Consumer, type ConsumerConfig, type Kafka } from 'kafkajs'
import type { Registry } from 'prom-client'
import { createCommandIssuer } from '../../shared/src/command-issuer.js'
import { createCommandStore } from '../../shared/src/command-store.js'
import { createKafka } from '../../shared/src/kafka.js'
import { createLogger, type Logger } from '../../shared/src/logger.js'
import { createRegistry } from '../../shared/src/metrics.js'
import { createRedisErrorWatch } from '../../shared/src/redis-errors.js'
import { createOpsServer, type OpsServer } from '../../shared/src/ops-server.js'
import { createRenewableProducer } from '../../shared/src/renewable-producer.js'
import { createSupervisedConsumer, type SupervisedConsumer } from '../../shared/src/supervised-consumer.js'
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
  const producer = createRenewableProducer({
    create: () => kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner }),
    log,
    onRenew: reason => metrics.producerRenewals.inc({ error: reason })
  })
  const issuer = createCommandIssuer({ store, producer })
  const consumerConfig = (name: string): ConsumerConfig => ({ groupId: `${config.groupId}.${name}`, sessionTimeout: 10_000, rebalanceTimeout: 10_000, heartbeatInterval: 1_000, allowAutoTopicCreation: false, retry: { retries: 8, initialRetryTime: 300, maxRetryTime: 5_000 } })
  const supervised = (name: string, run: (consumer: Consumer, progress: () => void) => Promise<void>): SupervisedConsumer => createSupervisedConsumer({
    name,
    kafka,
    config: consumerConfig(name),
    run,
    log,
    initialBackoffMs: config.restartBackoffMs,
    maxBackoffMs: config.restartBackoffMaxMs,
    onRestart: err => metrics.consumerRestarts.inc({ consumer: name, error: err.name })
  })
  const consumers: Array<{ name: string, consumer: SupervisedConsumer }> = [
    { name: 'events', consumer: supervised('events', (c, progress) => runProjection(c, { redis: projectionRedis, metrics, log }, progress)) },
    ...(rules.length > 0
      ? [{ name: 'anomalies', consumer: supervised('anomalies', (c, progress) => runAnomalyRules(c, { rules, issuer, redis, cooldownS: config.anomalyCooldownS, ttlS: config.anomalyCommandTtlS, metrics, log }, progress)) }]
      : [])
  ]
  const consuming = () => consumers.every(c => c.consumer.ready())
  let sweeper: { stop: () => Promise<void> } | null = null
  let ops: OpsServer | null = null

  return {
    id,
    metrics,
    registry,
    async start () {
      await Promise.all([redis.connect(), projectionRedis.connect()])
      await producer.connect()
      for (const c of consumers) await c.consumer.start()
      if (rules.length > 0) log.info({ rules: config.anomalyRules }, 'anomaly rules on')
      sweeper = startSweeper({ redis, store, producer, metrics, log, graceMs: config.expiryGraceMs, intervalMs: config.sweepIntervalMs })
      ops = createOpsServer({
        host: config.host,
        port: config.opsPort,
        registry,
        log,
        checks: [
          { name: 'redis', check: () => redis.status === 'ready' && projectionRedis.status === 'ready' },
          { name: 'kafka', check: consuming }
        ]
      })
      const opsPort = await ops.start()
      log.info({ opsPort, rules: rules.length }, 'commander started')
      return { opsPort }
    },
    async ready (timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs
      while (!consuming()) {
        if (Date.now() > deadline) throw new Error(`commander not ready: groups ${consumers.map(c => `${c.name}=${c.consumer.state}/${c.consumer.ready()}`).join(' ')}`)
        await new Promise(resolve => setTimeout(resolve, 50))
      }
    },
    async stop () {
      await sweeper?.stop()
      await Promise.all(consumers.map(c => c.consumer.stop().catch(() => {})))
      await producer.disconnect().catch(() => {})
      redis.disconnect()
      projectionRedis.disconnect()
      await ops?.stop()
      log.info('commander stopped')
    }
  }
}
