// The broker: the MQTT engine (mqtt-engine/) with fleet's policy hooks, Kafka ingest of telemetry, listeners and ops
// endpoints. `createBroker(config, deps)` is what main.ts, the tests and the all-in-one launcher use.
import { hostname } from 'node:os'
import type { Redis } from 'ioredis'
import { createKafka, kafkaSecurity, platformaticSecurity } from '../../shared/src/kafka.js'
import { createRedis } from '../../shared/src/redis-connection.js'
import type { Registry } from 'prom-client'
import { KafkaTopics } from '../../shared/src/topics.js'
import { createLogger, type Logger } from '../../shared/src/logger.js'
import { createRegistry } from '../../shared/src/metrics.js'
import { createOpsServer, type OpsServer } from '../../shared/src/ops-server.js'
import { createRedisErrorWatch } from '../../shared/src/redis-errors.js'
import { createAdmission } from './admission.js'
import { createAuthFailureLimiter } from './auth-failures.js'
import { createConnectShed } from './connect-shed.js'
import { createCommandRelay } from './command-relay.js'
import { redisCommandRecords } from './command-checks.js'
import { createCommandIntake, type CommandIntake } from './command-intake.js'
import { createPublishToCar } from './publish-to-car.js'
import { legacyTokens, type BrokerConfig } from './broker-config.js'
import { createCredentialCheck } from './credential-check.js'
import { createBrokerMetrics, type BrokerMetrics } from './broker-metrics.js'
import { createKafkaIngest, type IngestSink } from './kafka-ingest.js'
import { platformaticRecordProducer, type RecordProducer } from './record-producer.js'
import { startListeners, type Listeners } from './listeners.js'
import { ReasonCode, refreshKeepalive, type MqttEngine } from './mqtt-engine/index.js'
import { trackPresence } from './presence.js'
import { createBrokerEngine } from './broker-engine.js'
import { createStreamGate } from './stream-gate.js'
import { createTelemetryIntake } from './telemetry-intake.js'
import { createRejectionLog } from './rejection-log.js'
import { readTlsFiles, watchTlsFiles } from './tls-files.js'
import { watchRevocations } from './revocation-watch.js'
import { createVehicleAuth } from './vehicle-auth.js'
import { brokerReadiness } from './readiness.js'
import { drainCars } from './car-drain.js'

export interface BrokerDeps {
  log?: Logger
  registry?: Registry
  /** The ingest path's Kafka producer (default: @platformatic/kafka from the config). */
  producer?: RecordProducer
  redis?: Redis
}

/** Ports listened on; mqttPort is -1 when the plaintext TCP listener is off (FLEET_MQTT_PORT=-1). */
export interface BrokerAddresses { mqttPort: number, wsPort: number | null, tlsPort: number | null, wssPort: number | null, opsPort: number }

export interface FleetBroker {
  start: () => Promise<BrokerAddresses>
  /** Graceful stop: stop accepting, stop reading, finish Kafka writes and PUBACKs, close clients. */
  stop: () => Promise<void>
  readonly id: string
  /** The MQTT engine (mqtt-engine/): the broker's only way to aedes. */
  readonly engine: MqttEngine
  readonly metrics: BrokerMetrics
  readonly registry: Registry
  readonly sink: IngestSink
  readonly commandIntake: CommandIntake
}

const KEEPALIVE_REFRESH_MS = 1_000
const CLOSE_WAIT_MS = 5_000
/** Most remote addresses the failed-auth limiter tracks (about 100 B each). */
const AUTH_FAILURE_ADDRESSES = 100_000

export async function createBroker (config: BrokerConfig, deps: BrokerDeps = {}): Promise<FleetBroker> {
  const id = config.brokerId || `${hostname()}-${process.pid}`
  const log = (deps.log ?? createLogger('broker', config.logLevel)).child({ brokerId: id })
  const registry = deps.registry ?? createRegistry('broker')
  let gaugeFailures = () => 0
  let gaugeHeld = () => 0
  let gaugePending = () => 0
  const shed = createConnectShed({ maxPending: config.maxPendingConnects, lagMs: config.connectShedLagMs })
  const metrics = createBrokerMetrics(registry, { authFailureAddresses: () => gaugeFailures(), heldBytes: () => gaugeHeld(), pendingRecords: () => gaugePending(), connectsPending: shed.pending, eventLoopLateMs: shed.lateMs })
  const redisErrors = createRedisErrorWatch('broker', registry, log)
  const ownRedis = deps.redis === undefined
  const redis = deps.redis ?? createRedis(config, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 3_000 })
  const producer: RecordProducer = deps.producer ?? platformaticRecordProducer({ clientId: `${config.kafkaClientId}-broker-${id}`, brokers: config.kafkaBrokers, topics: [KafkaTopics.telemetry, KafkaTopics.telemetryDlq, KafkaTopics.commandEvents], security: platformaticSecurity(kafkaSecurity(config)) })
  const sink = createKafkaIngest({ producer, lingerMs: config.lingerMs, maxBatch: config.maxBatch, log, metrics })
  gaugePending = sink.pending
  let connectedClients = () => 0
  const admission = createAdmission({ maxConnections: config.maxConnections, connectsPerSecond: config.connectRate, connected: () => connectedClients() })
  const tlsFiles = { certFile: config.tlsCertFile, keyFile: config.tlsKeyFile, caFile: config.tlsCaFile, crlFile: config.tlsCrlFile }
  let draining = false
  const gate = createStreamGate({ maxConnections: config.maxConnections, perAddressRate: config.connectRatePerAddress, tlsClientAuth: config.tlsClientAuth, metrics, draining: () => draining, handle: (stream, req) => engine.handle(stream, req) })
  const check = createCredentialCheck({ redis, requireRegistered: config.requireRegistered, legacy: legacyTokens(config) })
  const failures = createAuthFailureLimiter({ perMinute: config.authFailuresPerMinute, burst: config.authFailureBurst, maxAddresses: AUTH_FAILURE_ADDRESSES })
  gaugeFailures = failures.size
  const auth = createVehicleAuth({ admit: admission.admit, shed, failures, remoteAddress: gate.remoteAddress, transport: gate.transport, check, metrics, log })
  const intake = createTelemetryIntake({
    identity: auth.identity,
    sink,
    maxTelemetryBytes: config.maxTelemetryBytes,
    maxInflight: config.maxInflight,
    ratePerSecond: config.carPublishRate,
    burst: config.carPublishBurst,
    podHeldBytes: config.heldBytesPerPod,
    brokerId: id,
    metrics,
    log,
    rejections: createRejectionLog({ redis, source: `broker:${id}`, registry, log }),
    qos2Received: (client, packet) => engine.qos2Received(client, packet)
  })

  gaugeHeld = intake.heldBytes
  const commands = createCommandRelay({ sink, identity: auth.identity, brokerId: id, metrics, log })
  const shared = config.persistence === 'redis'
  const persistenceRedis = shared ? createRedis(config) : null
  redisErrors.watch('state', redis)
  if (persistenceRedis !== null) redisErrors.watch('sessions', persistenceRedis)
  const engine = createBrokerEngine(config, { id, log, metrics, watch: redisErrors.watch, persistenceRedis, auth, intake, commands })
  const commandIntake = createCommandIntake({
    kafka: createKafka(config, log, `-broker-${id}-commands`),
    groupId: config.commandGroup,
    records: redisCommandRecords(redis),
    publish: createPublishToCar(engine),
    sink,
    brokerId: id,
    metrics,
    log,
    publishTimeoutMs: config.commandPublishTimeoutMs
  })
  connectedClients = engine.connectedClients
  engine.onClientReady(client => { shed.end(client) })
  trackPresence(engine, { redis, identity: auth.identity, brokerId: id, sessionExpirySeconds: config.sessionExpiryS, metrics, log })

  let listeners: Listeners | null = null
  let ops: OpsServer | null = null
  let keepalive: NodeJS.Timeout | null = null
  let stopTlsWatch: (() => void) | null = null
  const revocations = createRedis(config, { lazyConnect: true })
  redisErrors.watch('revocations', revocations)
  return {
    id,
    engine,
    metrics,
    registry,
    sink,
    commandIntake,
    async start () {
      if (ownRedis) await redis.connect()
      await producer.connect()
      await engine.start()
      const tls = config.tlsCertFile === ''
        ? null
        : { port: config.tlsPort, wssPort: config.wssPort, context: readTlsFiles(tlsFiles), requestCert: config.tlsClientAuth !== 'password', rejectUnauthorized: config.tlsClientAuth === 'certificate', handshakeTimeoutMs: config.tlsHandshakeTimeoutMs }
      listeners = await startListeners({
        host: config.host,
        mqttPort: config.mqttPort,
        wsPort: config.wsPort,
        tls,
        maxFrameBytes: config.maxPacketBytes,
        onFrameTooLarge: () => {
          metrics.refused.inc({ reason: 'packet_too_large' })
          log.warn('WebSocket message larger than FLEET_MAX_PACKET_BYTES: connection closed')
        },
        admitSocket: gate.admitSocket,
        onStream: gate.onStream,
        onTlsError: err => {
          metrics.refused.inc({ reason: 'tls_handshake' })
          log.debug({ err: err.message }, 'TLS handshake failed')
        }
      })
      if (tls !== null) {
        const l = listeners
        stopTlsWatch = watchTlsFiles(tlsFiles, context => l.setSecureContext(context), log, ok => metrics.tlsReloads.inc({ result: ok ? 'ok' : 'refused' }))
      }
      await watchRevocations({ engine, subscriber: revocations, identity: auth.identity, metrics, log })
      await commandIntake.start()
      // A car whose PUBACK we hold cannot send PINGREQ (its socket is not read); it is alive.
      keepalive = setInterval(() => {
        for (const client of intake.heldClients()) refreshKeepalive(client)
      }, KEEPALIVE_REFRESH_MS)
      keepalive.unref()
      ops = createOpsServer({
        host: config.host,
        port: config.opsPort,
        registry,
        log,
        checks: brokerReadiness({
          accepting: () => !draining,
          connected: engine.connectedClients,
          maxConnections: config.maxConnections,
          heldBytes: intake.heldBytes,
          maxHeldBytes: config.heldBytesPerPod,
          kafka: () => sink.healthy(),
          redis: () => redis.status === 'ready'
        })
      })
      const opsPort = await ops.start()
      const addresses = { mqttPort: listeners.mqttPort ?? -1, wsPort: listeners.wsPort, tlsPort: listeners.tlsPort, wssPort: listeners.wssPort, opsPort }
      log.info(addresses, 'broker listening')
      return addresses
    },
    async stop () {
      if (draining) return
      draining = true
      const started = Date.now()
      // leaving the group waits for the fetch under way: alongside the drain, done before the sink closes
      const intakeStopped = commandIntake.stop()
      await listeners?.close()
      const moved = await drainCars({
        clients: engine.clients,
        ratePerSecond: config.drainRatePerS,
        moveByMs: config.drainMs * 0.75,
        closeByMs: config.drainMs,
        pause: engine.pause,
        pendingOf: intake.pendingOf,
        // an MQTT 5 car is told to use another server [MQTT-3.14.2.1: 0x9C]; a 3.1.1 car's socket is closed
        close: client => { engine.disconnectCar(client, ReasonCode.useAnotherServer).catch(() => {}) }
      })
      log.info(moved, 'cars moved away')
      engine.pauseReads()
      const drained = await sink.drain(Math.max(0, config.drainMs - (Date.now() - started)))
      log.info({ drained, pending: sink.pending(), ms: Date.now() - started }, 'ingest drained')
      if (!await engine.close(CLOSE_WAIT_MS)) log.warn({ ms: CLOSE_WAIT_MS }, 'clients not closed in time (Redis away?); dropped the emitter connections')
      await intakeStopped
      sink.close()
      if (keepalive !== null) clearInterval(keepalive)
      await producer.disconnect().catch(() => {})
      stopTlsWatch?.()
      gate.stop()
      failures.stop()
      shed.stop()
      revocations.disconnect()
      // quit, not disconnect: the offline marks of the clients just closed are still in flight
      if (ownRedis) await redis.quit().catch(() => redis.disconnect())
      persistenceRedis?.disconnect()
      await ops?.stop()
      log.info({ ms: Date.now() - started }, 'broker stopped')
    }
  }
}
