// The fleet operations api: fastify with the fleet plugin (app.ts) on one port, /metrics with
// /healthz and /readyz on the ops port (kept off the public port), plus what feeds
// it (Redis reads, the anomaly feed from Kafka, command updates, the fleet sampler) and the
// command issuer. `createApi(config, deps)` is what main.ts, the tests and the all-in-one launcher
// use; `app` is there for app.inject().
import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import fastifyJwt from '@fastify/jwt'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Ajv } from 'ajv'
import addFormatsModule from 'ajv-formats'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { createRedis } from '../../shared/src/redis-connection.js'
import { Partitioners, type Kafka } from 'kafkajs'
import { Counter, Histogram, type Registry } from 'prom-client'
import { createCommandIssuer } from '../../shared/src/command-issuer.js'
import { createCommandStore, EXPIRING_COMMANDS_KEY } from '../../shared/src/command-store.js'
import { createKafka } from '../../shared/src/kafka.js'
import { createLogger, type Logger } from '../../shared/src/logger.js'
import { createRegistry } from '../../shared/src/metrics.js'
import { createOpsServer, type OpsServer, type ReadinessCheck } from '../../shared/src/ops-server.js'
import { createRedisErrorWatch } from '../../shared/src/redis-errors.js'
import { createRenewableProducer } from '../../shared/src/renewable-producer.js'
import { createVehicleLifecycle } from '../../shared/src/vehicle-lifecycle.js'
import { createAnomalyFeed } from './anomaly-feed.js'
import { DEV_API_KEYS, parseApiKeys, type ApiConfig } from './api-config.js'
import { fleetApi } from './app.js'
import { createCarHistoryReader } from './car-history-reader.js'
import { createCommandUpdates } from './command-updates.js'
import type { ApiContext } from './context.js'
import { createFleetPositions } from './fleet-positions.js'
import { createFleetReader } from './fleet-reader.js'
import { createFleetSampler } from './fleet-sampler.js'
import { createVehicleIndexBuilder } from './vehicle-index-build.js'
import { createAuthenticator } from './plugins/auth.js'
import { createAuthLimiter } from './plugins/auth-limiter.js'
import { installProblems } from './plugins/problems.js'
import { createStreamLimiter } from './sse.js'

export interface ApiDeps {
  log?: Logger
  registry?: Registry
  kafka?: Kafka
}

export interface FleetApi {
  start: () => Promise<{ port: number, opsPort: number }>
  stop: () => Promise<void>
  readonly app: FastifyInstance
  readonly registry: Registry
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

/** Bodies are validated as sent (a string is not an integer); query strings, params and headers are coerced from text. */
function validators () {
  const common = { useDefaults: true, removeAdditional: false, allErrors: false, discriminator: true, strict: false } as const
  const body = addFormats(new Ajv({ ...common, coerceTypes: false }))
  const text = addFormats(new Ajv({ ...common, coerceTypes: 'array' }))
  return ({ schema, httpPart }: { schema: object, httpPart?: string }) => (httpPart === 'body' ? body : text).compile(schema)
}

export function createApi (config: ApiConfig, deps: ApiDeps = {}): FleetApi {
  const instanceId = `${hostname()}-${process.pid}`
  const log = deps.log ?? createLogger('api', config.logLevel)
  const registry = deps.registry ?? createRegistry('api')
  const kafka = deps.kafka ?? createKafka(config, log, `-api-${instanceId}`)
  const redisOpts = { lazyConnect: true, maxRetriesPerRequest: 2, connectTimeout: 3_000 }
  const redis = createRedis(config, redisOpts)
  const subscriber = createRedis(config, { lazyConnect: true, connectTimeout: 3_000 })
  const redisErrors = createRedisErrorWatch('api', registry, log)
  redisErrors.watch('records', redis)
  redisErrors.watch('updates', subscriber)
  const producerRenewals = new Counter({ name: 'fleet_api_producer_renewals_total', help: 'Kafka producers replaced after a non-retriable send error, by Kafka error', labelNames: ['error'], registers: [registry] })
  const producer = createRenewableProducer({
    create: () => kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner }),
    log,
    onRenew: reason => producerRenewals.inc({ error: reason })
  })
  const admin = kafka.admin()
  const store = createCommandStore(redis, { retentionS: config.commandRetentionS })
  const reader = createFleetReader(redis)
  const feedRestarts = new Counter({ name: 'fleet_api_consumer_restarts_total', help: 'crashed anomaly-feed consumers replaced by a new one, by the error that stopped them', labelNames: ['error'], registers: [registry] })
  const feed = createAnomalyFeed({ kafka, capacity: config.anomalyBuffer, instanceId, log, onRestart: err => feedRestarts.inc({ error: err.name }) })
  const updates = createCommandUpdates(subscriber)
  const vehicleIndex = createVehicleIndexBuilder({ redis, log, registry, retryMs: config.sampleIntervalMs })
  const sampler = createFleetSampler({ admin, reader, feed, inFlight: () => redis.zcard(EXPIRING_COMMANDS_KEY), intervalMs: config.sampleIntervalMs, log })
  const lateCommands = new Counter({ name: 'fleet_api_commands_late_total', help: 'commands answered 202 because Kafka was slow, by what Kafka then did (queued, failed)', labelNames: ['outcome'], registers: [registry] })
  const issuer = createCommandIssuer({
    store,
    producer,
    queueTimeoutMs: config.commandQueueTimeoutMs,
    onLateOutcome: ({ commandId, queued, detail }) => {
      lateCommands.inc({ outcome: queued ? 'queued' : 'failed' })
      if (queued) log.info({ commandId }, 'slow command queued: Kafka acknowledged it after the 202')
      else log.error({ commandId, err: detail }, 'slow command not queued: recorded as failed after the 202')
    }
  })
  const lifecycle = createVehicleLifecycle(redis, producer)
  const authFailures = new Counter({ name: 'fleet_api_auth_failures_total', help: 'refused logins by reason (missing, invalid_key, invalid_jwt) and requests refused 429 after too many (limited)', labelNames: ['reason'], registers: [registry] })
  const streamsDropped = new Counter({ name: 'fleet_api_streams_dropped_total', help: 'event streams closed because their reader did not read (FLEET_API_STREAM_BUFFER_BYTES waiting)', registers: [registry] })
  const streams = createStreamLimiter(config.maxStreams, { maxBufferBytes: config.streamBufferBytes, onDropped: () => streamsDropped.inc() })
  const ctx: ApiContext = { config, store, issuer, reader, feed, sampler, updates, streams, positions: createFleetPositions(redis), history: createCarHistoryReader(redis), redis, lifecycle }
  let kafkaUp = false

  const app = Fastify({
    loggerInstance: log as unknown as FastifyBaseLogger,
    genReqId: req => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    },
    bodyLimit: config.bodyLimit,
    // Only the nearest `trustProxyHops` proxies are believed: X-Forwarded-For is read from the
    // right, and the first address no trusted proxy vouches for is the client.
    trustProxy: config.trustProxyHops === 0 ? false : (_address: string, hop: number) => hop < config.trustProxyHops,
    connectionTimeout: 60_000,
    requestTimeout: 30_000,
    keepAliveTimeout: 10_000,
    forceCloseConnections: true,
    return503OnClosing: true,
    routerOptions: { maxParamLength: 200 }
  }).withTypeProvider<TypeBoxTypeProvider>()
  app.setValidatorCompiler(validators())
  installProblems(app)
  const duration = new Histogram({ name: 'fleet_api_request_seconds', help: 'api requests by route, method and status', labelNames: ['route', 'method', 'status'], buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30], registers: [registry] })
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id)
    reply.header('x-content-type-options', 'nosniff')
  })
  app.addHook('onResponse', async (request, reply) => {
    duration.observe({ route: request.routeOptions.url ?? 'unmatched', method: request.method, status: String(reply.statusCode) }, reply.elapsedTime / 1000)
  })
  if (config.jwtSecret !== '') {
    void app.register(fastifyJwt, {
      secret: config.jwtSecret,
      verify: { algorithms: ['HS256'], allowedIss: config.jwtIssuer, allowedAud: config.jwtAudience, requiredClaims: ['exp', 'iat', 'sub', 'iss', 'aud'], maxAge: config.jwtMaxAgeS * 1000 }
    })
  }
  const verifyJwt = (token: string) => {
    const claims = app.jwt.verify<{ iat: number, exp: number, sub?: unknown, role?: unknown }>(token)
    // maxAge bounds now - iat; a token must also not be made to live longer than that.
    if (claims.exp - claims.iat > config.jwtMaxAgeS) throw new Error('token lifetime longer than FLEET_API_JWT_MAX_AGE_S')
    if (claims.iat > Date.now() / 1000 + 60) throw new Error('token issued in the future')
    return claims
  }
  const auth = createAuthenticator({
    keys: parseApiKeys(config.apiKeys),
    limiter: createAuthLimiter({ maxFailures: config.authFailuresPerMin }),
    onFailure: reason => authFailures.inc({ reason }),
    ...(config.jwtSecret === '' ? {} : { verifyJwt })
  })
  const checks: ReadinessCheck[] = [
    { name: 'redis', check: () => redis.status === 'ready' },
    { name: 'kafka', check: () => kafkaUp },
    { name: 'anomalyFeed', check: () => feed.ready() },
    { name: 'commandUpdates', check: () => updates.ready() }
  ]
  let ops: OpsServer | null = null
  void app.register(fleetApi, {
    ctx,
    authHook: auth.hook,
    checks
  })

  return {
    app,
    registry,
    async start () {
      if (config.apiKeys === DEV_API_KEYS) log.warn('FLEET_DEV_MODE: the published development API keys are in use')
      await Promise.all([redis.connect(), subscriber.connect()])
      await updates.start()
      await Promise.all([producer.connect(), admin.connect()])
      kafkaUp = true
      await feed.start()
      await vehicleIndex.start()
      await sampler.start()
      ops = createOpsServer({ host: config.host, port: config.opsPort, registry, checks, log })
      const opsPort = await ops.start()
      await app.listen({ host: config.host, port: config.port })
      const addr = app.server.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : config.port
      log.info({ port, opsPort }, 'api listening')
      return { port, opsPort }
    },
    async stop () {
      sampler.stop()
      vehicleIndex.stop()
      await app.close()
      await ops?.stop()
      await feed.stop()
      await Promise.all([producer.disconnect().catch(() => {}), admin.disconnect().catch(() => {})])
      kafkaUp = false
      updates.stop()
      redis.disconnect()
      log.info('api stopped')
    }
  }
}
