// The broker: aedes with fleet's policy hooks, Kafka ingest of telemetry, listeners and ops
// endpoints. `createBroker(config, deps)` is what main.ts, the tests and the all-in-one launcher use.
import { hostname } from 'node:os'
import { Aedes, type Client, type PublishPacket } from 'aedes'
import type { Redis } from 'ioredis'
import { createRedis } from '../../shared/src/redis-connection.js'
import type { Kafka } from 'kafkajs'
import redisPersistence from 'aedes-persistence-redis'
import MQEmitterRedis from 'mqemitter-redis'
import type { Registry } from 'prom-client'
import { createKafka, kafkaSecurity, platformaticSecurity } from '../../shared/src/kafka.js'
import { KafkaTopics, MqttTopics, isVehicleId } from '../../shared/src/topics.js'
import { createLogger, type Logger } from '../../shared/src/logger.js'
import { createRegistry } from '../../shared/src/metrics.js'
import { createOpsServer, type OpsServer } from '../../shared/src/ops-server.js'
import { createRedisErrorWatch, type RedisEvents } from '../../shared/src/redis-errors.js'
import { commandsTopicOwner, createAuthorizeSubscribe, maySubscribe } from './acl.js'
import { createAddressLimiter, createAdmission } from './admission.js'
import { createAuthFailureLimiter } from './auth-failures.js'
import { createCommandRelay } from './command-relay.js'
import { redisCommandRecords } from './command-checks.js'
import { createCommandIntake, type CommandIntake } from './command-intake.js'
import { createPublishToCar } from './publish-to-car.js'
import { legacyTokens, type BrokerConfig } from './broker-config.js'
import { createCredentialCheck } from './credential-check.js'
import { createBrokerMetrics, type BrokerMetrics } from './broker-metrics.js'
import { createKafkaIngest, type IngestSink } from './kafka-ingest.js'
import { kafkajsRecordProducer, platformaticRecordProducer, type RecordProducer } from './record-producer.js'
import { startListeners, type Listeners } from './listeners.js'
import { createPacketGuard, type FastPublish } from './packet-guard.js'
import { trackPresence } from './presence.js'
import { createLocalEmitter, createRoutingEmitter, isExactCommandsTopic } from './routing-emitter.js'
import { indexOwnSubscriptionsInRedis, type IndexedStore } from './session-index.js'
import { boundQos2State, Qos2WindowFullError, type IncomingStore as Qos2Store } from './qos2-window.js'
import { expireQueues } from './session-expiry.js'
import { applySessionRules, type SessionStore } from './session-store.js'
import { createTelemetryIntake } from './telemetry-intake.js'
import { createRejectionLog } from './rejection-log.js'
import { readTlsFiles, watchTlsFiles } from './tls-files.js'
import { watchRevocations } from './revocation-watch.js'
import type { StreamInfo } from './listeners.js'
import type { Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { createVehicleAuth } from './vehicle-auth.js'
import { brokerReadiness } from './readiness.js'
import { drainCars } from './car-drain.js'

export interface BrokerDeps {
  log?: Logger
  registry?: Registry
  kafka?: Kafka
  redis?: Redis
}

/** Ports listened on; mqttPort is -1 when the plaintext TCP listener is off (FLEET_MQTT_PORT=-1). */
export interface BrokerAddresses { mqttPort: number, wsPort: number | null, tlsPort: number | null, wssPort: number | null, opsPort: number }

/** The vehicleId named by a verified car certificate (subject CN), its serial and notBefore, or null. */
function certificateOf (socket: TLSSocket): { vehicleId: string, serial: string, notBefore: number } | null {
  if (!socket.authorized) return null
  const peer = socket.getPeerCertificate()
  const cn = peer?.subject?.CN
  const id = Array.isArray(cn) ? cn[0] : cn
  if (typeof id !== 'string' || !isVehicleId(id)) return null
  return { vehicleId: id, serial: peer.serialNumber ?? '', notBefore: Date.parse(peer.valid_from ?? '') || 0 }
}

export interface FleetBroker {
  start: () => Promise<BrokerAddresses>
  /** Graceful stop: stop accepting, stop reading, finish Kafka writes and PUBACKs, close clients. */
  stop: () => Promise<void>
  readonly id: string
  readonly aedes: Aedes
  readonly metrics: BrokerMetrics
  readonly registry: Registry
  readonly sink: IngestSink
  readonly commandIntake: CommandIntake
}

/** The part of aedes' persistence that holds received QoS 2 packets until their PUBREL. */
interface IncomingStore { incomingGetPacket: (client: Client, packet: PublishPacket) => Promise<unknown> }

const KEEPALIVE_REFRESH_MS = 1_000
type RedisEmitter = import('mqemitter').MQEmitter & { subConn: RedisEvents & { disconnect: () => void }, pubConn: RedisEvents & { disconnect: () => void }, state: { on: (e: 'error', l: () => void) => unknown } }
// mqemitter-redis takes its two connections ready-made (subConn, pubConn), so they follow Sentinel too.
const redisEmitter = (config: BrokerConfig) => new (MQEmitterRedis as unknown as new (o: object) => RedisEmitter)({
  subConn: createRedis(config, { enableAutoPipelining: true }),
  pubConn: createRedis(config, { enableAutoPipelining: true })
})
const SOCKET_SLACK = 500
const CLOSE_WAIT_MS = 5_000
/** Most remote addresses the failed-auth limiter tracks (about 100 B each). */
const AUTH_FAILURE_ADDRESSES = 100_000

export async function createBroker (config: BrokerConfig, deps: BrokerDeps = {}): Promise<FleetBroker> {
  const id = config.brokerId || `${hostname()}-${process.pid}`
  const log = (deps.log ?? createLogger('broker', config.logLevel)).child({ brokerId: id })
  const registry = deps.registry ?? createRegistry('broker')
  let gaugeFailures = () => 0
  let gaugeHeld = () => 0
  const metrics = createBrokerMetrics(registry, { authFailureAddresses: () => gaugeFailures(), heldBytes: () => gaugeHeld() })
  const redisErrors = createRedisErrorWatch('broker', registry, log)
  const ownRedis = deps.redis === undefined
  const redis = deps.redis ?? createRedis(config, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 3_000 })
  const producer: RecordProducer = deps.kafka !== undefined || config.kafkaClient === 'kafkajs'
    ? kafkajsRecordProducer(deps.kafka ?? createKafka(config, log, `-broker-${id}`))
    : platformaticRecordProducer({ clientId: `${config.kafkaClientId}-broker-${id}`, brokers: config.kafkaBrokers, topics: [KafkaTopics.telemetry, KafkaTopics.telemetryDlq, KafkaTopics.commandEvents], security: platformaticSecurity(kafkaSecurity(config)) })
  const sink = createKafkaIngest({ producer, lingerMs: config.lingerMs, maxBatch: config.maxBatch, log, metrics })
  let connectedClients = () => 0
  const admission = createAdmission({ maxConnections: config.maxConnections, connectsPerSecond: config.connectRate, connected: () => connectedClients() })
  const streams = new WeakMap<object, StreamInfo>()
  const tlsFiles = { certFile: config.tlsCertFile, keyFile: config.tlsKeyFile, caFile: config.tlsCaFile, crlFile: config.tlsCrlFile }
  const transport = (client: Client) => {
    const info = streams.get(client.conn)
    if (info === undefined || info.tls === null) return { mode: 'password' as const, certVehicleId: null }
    const cert = certificateOf(info.tls)
    return { mode: config.tlsClientAuth, certVehicleId: cert?.vehicleId ?? null, ...(cert === null ? {} : { cert }) }
  }
  const check = createCredentialCheck({ redis, requireRegistered: config.requireRegistered, legacy: legacyTokens(config) })
  const failures = createAuthFailureLimiter({ perMinute: config.authFailuresPerMinute, burst: config.authFailureBurst, maxAddresses: AUTH_FAILURE_ADDRESSES })
  gaugeFailures = failures.size
  // TCP and TLS sockets know their peer; a WebSocket stream does not, its listener told us.
  const remoteAddress = (client: Client) => (client.conn as Partial<Socket>).remoteAddress ?? streams.get(client.conn)?.remoteAddress
  const auth = createVehicleAuth({ admit: admission.admit, failures, remoteAddress, transport, check, metrics, log })
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
    // aedes' own store of QoS 2 packets awaiting PUBREL (rejects when there is none)
    qos2Received: (client, packet) => (aedes as unknown as { persistence: IncomingStore }).persistence.incomingGetPacket(client, packet).then(() => true, () => false)
  })

  gaugeHeld = intake.heldBytes
  const commands = createCommandRelay({ sink, identity: auth.identity, brokerId: id, metrics, log })
  const shared = config.persistence === 'redis'
  // aedes-persistence-redis' own destroy() needs the (then closed) emitter; its connection is ours to close.
  const persistenceRedis = shared ? createRedis(config) : null
  redisErrors.watch('state', redis)
  if (persistenceRedis !== null) redisErrors.watch('sessions', persistenceRedis)
  // mqemitter-redis re-emits its connections' errors on `state`, where nobody listening means a
  // crash; they are counted on the connections themselves.
  let emitter: RedisEmitter | null = null
  const sharedEmitter = (): RedisEmitter => {
    const e = emitter = redisEmitter(config)
    e.state.on('error', () => {})
    redisErrors.watch('emitter-sub', e.subConn)
    redisErrors.watch('emitter-pub', e.pubConn)
    return e
  }
  const aedes = new Aedes({
    id,
    heartbeatInterval: config.heartbeatMs,
    ...(shared
      ? {
          persistence: applySessionRules(indexOwnSubscriptionsInRedis(expireQueues(boundQos2State(redisPersistence({ conn: persistenceRedis!, packetTTL: () => config.sessionExpiryS }) as unknown as SessionStore & IndexedStore & Qos2Store, {
            redis: persistenceRedis!,
            maxPending: config.maxQos2Pending,
            ttlSeconds: config.sessionExpiryS,
            onFull: client => {
              log.warn({ clientId: client.id.slice(0, 80), limit: config.maxQos2Pending }, 'too many QoS 2 PUBLISHes awaiting PUBREL: connection closed')
            }
          }), { redis: persistenceRedis!, ttlSeconds: config.sessionExpiryS }), {
            redis: persistenceRedis!,
            ownerOf: commandsTopicOwner
          }), {
            maySubscribe: (client, filter) => maySubscribe(auth.identity, client, filter),
            neverRetained: isExactCommandsTopic,
            onStoreError: (op, err) => {
              metrics.sessionErrors.inc({ op })
              log.debug({ op, err: err.message }, 'session store write failed; connection kept')
            }
          }) as never,
          mq: config.emitter === 'routed'
            ? createRoutingEmitter({ local: createLocalEmitter(), shared: sharedEmitter() })
            : sharedEmitter()
        }
      : { mq: createLocalEmitter() }),
    connectTimeout: config.connectTimeoutMs,
    maxInflightInbound: config.maxQos2Pending,
    drainTimeout: config.slowClientTimeoutMs,
    preConnect: auth.preConnect,
    authenticate: auth.authenticate,
    authorizePublish: intake.authorizePublish,
    authorizeSubscribe: createAuthorizeSubscribe(auth.identity, metrics, log),
    authorizeForward: commands.authorizeForward
  })
  commands.attach(aedes)
  const commandIntake = createCommandIntake({
    kafka: deps.kafka ?? createKafka(config, log, `-broker-${id}-commands`),
    groupId: config.commandGroup,
    records: redisCommandRecords(redis),
    publish: createPublishToCar(aedes),
    sink,
    brokerId: id,
    metrics,
    log,
    publishTimeoutMs: config.commandPublishTimeoutMs
  })
  connectedClients = () => aedes.connectedClients
  trackPresence(aedes, { redis, identity: auth.identity, brokerId: id, sessionExpirySeconds: config.sessionExpiryS, metrics, log })
  // Telemetry's route is Kafka: it never enters the emitter, retained store or offline queues.
  // (aedes calls publish(packet, client, done) internally; its types only know (packet, done).)
  type Done = (err?: Error) => void
  const publish = aedes.publish.bind(aedes) as unknown as (packet: PublishPacket, client: Client | Done | null, done?: Done) => void
  aedes.publish = ((packet: PublishPacket, client: Client | Done | null, done?: Done) => {
    if (intake.isIngested(packet) && config.emitter === 'routed') {
      // Call back asynchronously, as aedes' own emitters do; its read loop expects that contract.
      const cb = typeof client === 'function' ? client : done
      if (cb !== undefined) process.nextTick(cb)
      return
    }
    publish(packet, client, done)
  }) as unknown as Aedes['publish']

  aedes.on('client', () => metrics.connections.set(aedes.connectedClients))
  aedes.on('clientDisconnect', () => metrics.connections.set(aedes.connectedClients))
  const overQos2Window = new WeakSet<Client>()
  aedes.on('clientError', (client: Client, err: Error) => {
    // past the QoS 2 window: aedes' own per-connection check or the per-car one (qos2-window.ts);
    // every packet of the read fails alike, the connection is counted once
    if ((err instanceof Qos2WindowFullError || err.message.startsWith('maxInflightInbound')) && !overQos2Window.has(client)) {
      overQos2Window.add(client)
      metrics.refused.inc({ reason: 'qos2_window' })
    }
    metrics.clientErrors.inc({ stage: 'connected' })
    log.debug({ err: err.message }, 'client error')
  })
  aedes.on('connectionError', (_client: Client, err: Error) => {
    metrics.clientErrors.inc({ stage: 'before_connect' })
    log.debug({ err: err.message }, 'connection error before CONNECT completed')
  })

  let listeners: Listeners | null = null
  let ops: OpsServer | null = null
  let keepalive: NodeJS.Timeout | null = null
  let draining = false
  let stopTlsWatch: (() => void) | null = null
  const revocations = createRedis(config, { lazyConnect: true })
  redisErrors.watch('revocations', revocations)
  let openStreams = 0
  const addressLimiter = createAddressLimiter(config.connectRatePerAddress)

  // The fast path ends where ingested packets end anyway; with redis-all they go on to Redis.
  const fastPublish: FastPublish | undefined = config.fastPath && config.emitter === 'routed'
    ? {
        vehicleOf: auth.identity.get,
        topicOf: MqttTopics.telemetry,
        take: intake.telemetry,
        taken: count => metrics.fastPath.inc(count)
      }
    : undefined
  const guardPackets = createPacketGuard(config.maxPacketBytes, client => {
    metrics.refused.inc({ reason: 'packet_too_large' })
    log.warn({ clientId: client.id?.slice(0, 80) }, 'packet too large: connection closed')
  }, fastPublish, intake.isHeld)
  const onStreamClose = () => { openStreams-- }
  const onStream = (stream: import('node:stream').Duplex, info: StreamInfo, req?: import('node:http').IncomingMessage) => {
    // Sockets that never complete CONNECT count too: past the limit plus some slack, refuse
    // before reading a byte, so file descriptors and memory stay bounded.
    if (draining || openStreams >= config.maxConnections + SOCKET_SLACK) {
      if (!draining) metrics.refused.inc({ reason: 'max_sockets' })
      stream.destroy()
      return
    }
    if (!addressLimiter.allow(info.remoteAddress)) {
      metrics.refused.inc({ reason: 'address_rate' })
      stream.destroy()
      return
    }
    openStreams++
    stream.on('close', onStreamClose) // 'close' comes once; one shared listener costs no closure per car
    // only TLS streams carry what transport() asks, and WebSocket streams their peer's address
    if (info.tls !== null || info.listener === 'ws') streams.set(stream, info)
    guardPackets(aedes.handle(stream, req as never))
  }

  return {
    id,
    aedes,
    metrics,
    registry,
    sink,
    commandIntake,
    async start () {
      if (ownRedis) await redis.connect()
      await producer.connect()
      await aedes.listen()
      const tls = config.tlsCertFile === ''
        ? null
        : { port: config.tlsPort, wssPort: config.wssPort, context: readTlsFiles(tlsFiles), requestCert: config.tlsClientAuth !== 'password', rejectUnauthorized: config.tlsClientAuth === 'certificate' }
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
        onStream,
        onTlsError: err => {
          metrics.refused.inc({ reason: 'tls_handshake' })
          log.debug({ err: err.message }, 'TLS handshake failed')
        }
      })
      if (tls !== null) {
        const l = listeners
        stopTlsWatch = watchTlsFiles(tlsFiles, context => l.setSecureContext(context), log, ok => metrics.tlsReloads.inc({ result: ok ? 'ok' : 'refused' }))
      }
      await watchRevocations({ aedes, subscriber: revocations, identity: auth.identity, metrics, log })
      await commandIntake.start()
      // A car whose PUBACK we hold cannot send PINGREQ (its socket is not read); it is alive.
      keepalive = setInterval(() => {
        for (const client of intake.heldClients()) (client as unknown as { _keepaliveTimer?: NodeJS.Timeout | null })._keepaliveTimer?.refresh()
      }, KEEPALIVE_REFRESH_MS)
      keepalive.unref()
      ops = createOpsServer({
        host: config.host,
        port: config.opsPort,
        registry,
        log,
        checks: brokerReadiness({
          accepting: () => !draining,
          connected: () => aedes.connectedClients,
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
        clients: () => Object.values((aedes as unknown as { clients: Record<string, Client> }).clients),
        ratePerSecond: config.drainRatePerS,
        moveByMs: config.drainMs * 0.75,
        closeByMs: config.drainMs,
        pause: client => (client as unknown as { pause: () => void }).pause(),
        pendingOf: intake.pendingOf,
        // aedes 1.x speaks MQTT 3.1.1, which has no server DISCONNECT: the socket is closed
        close: client => client.close()
      })
      log.info(moved, 'cars moved away')
      const drained = await sink.drain(Math.max(0, config.drainMs - (Date.now() - started)))
      log.info({ drained, pending: sink.pending(), ms: Date.now() - started }, 'ingest drained')
      // Give the PUBACKs of the last batch a turn to be written before sockets close.
      await new Promise(resolve => setImmediate(resolve))
      // aedes.close ends with the emitter's QUITs, which ioredis holds until Redis answers: with
      // Redis away that is forever, so after a while its connections are dropped instead.
      let slow: NodeJS.Timeout | undefined
      await Promise.race([
        new Promise<void>(resolve => aedes.close(() => resolve())),
        new Promise<void>(resolve => {
          slow = setTimeout(() => {
            log.warn({ ms: CLOSE_WAIT_MS }, 'clients not closed in time (Redis away?); dropping the emitter connections')
            emitter?.subConn.disconnect()
            emitter?.pubConn.disconnect()
            resolve()
          }, CLOSE_WAIT_MS)
        })
      ])
      clearTimeout(slow)
      await intakeStopped
      sink.close()
      if (keepalive !== null) clearInterval(keepalive)
      await producer.disconnect().catch(() => {})
      stopTlsWatch?.()
      addressLimiter.stop()
      failures.stop()
      revocations.disconnect()
      // quit, not disconnect: the offline marks of the clients just closed are still in flight
      if (ownRedis) await redis.quit().catch(() => redis.disconnect())
      persistenceRedis?.disconnect()
      await ops?.stop()
      log.info({ ms: Date.now() - started }, 'broker stopped')
    }
  }
}
