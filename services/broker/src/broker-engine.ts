// The broker's MQTT engine as fleet configures it: sessions shared through Redis (or in memory),
// fleet's hooks (auth, ACL, intake, command relay), the fast path, MQTT 5 limits, and the
// metrics and logs of what the engine reports.
import type { Redis } from 'ioredis'
import { createRedis } from '../../shared/src/redis-connection.js'
import type { Logger } from '../../shared/src/logger.js'
import type { RedisErrorWatch } from '../../shared/src/redis-errors.js'
import { MqttTopics } from '../../shared/src/topics.js'
import { commandsTopicOwner, createAuthorizeSubscribe, maySubscribe } from './acl.js'
import type { BrokerConfig } from './broker-config.js'
import type { BrokerMetrics } from './broker-metrics.js'
import type { createCommandRelay } from './command-relay.js'
import { createLocalSessions, createMqttEngine, createSharedSessions, isExactCommandsTopic, type Client, type MqttEngine } from './mqtt-engine/index.js'
import type { Intake } from './telemetry-intake.js'
import type { createVehicleAuth } from './vehicle-auth.js'

export interface BrokerEngineDeps {
  id: string
  log: Logger
  metrics: BrokerMetrics
  watch: RedisErrorWatch['watch']
  /** The session store's own connection; null: sessions in memory (one pod). */
  persistenceRedis: Redis | null
  auth: ReturnType<typeof createVehicleAuth>
  intake: Intake
  commands: ReturnType<typeof createCommandRelay>
}

export function createBrokerEngine (config: BrokerConfig, deps: BrokerEngineDeps): MqttEngine {
  const { id, log, metrics, persistenceRedis, auth, intake, commands } = deps
  const onQos2Full = (client: { id: string }) => {
    log.warn({ clientId: client.id.slice(0, 80), limit: config.maxQos2Pending }, 'too many QoS 2 PUBLISHes awaiting PUBREL: connection closed')
  }
  const engine = createMqttEngine({
    id,
    onQos2Full,
    heartbeatMs: config.heartbeatMs,
    connectTimeoutMs: config.connectTimeoutMs,
    maxQos2Pending: config.maxQos2Pending,
    slowClientTimeoutMs: config.slowClientTimeoutMs,
    maxPacketBytes: config.maxPacketBytes,
    sessions: persistenceRedis === null
      ? createLocalSessions()
      : createSharedSessions({
        connect: () => createRedis(config, { enableAutoPipelining: true }),
        redis: persistenceRedis,
        expirySeconds: config.sessionExpiryS,
        maxQos2Pending: config.maxQos2Pending,
        onQos2Full,
        maySubscribe: (client, filter) => maySubscribe(auth.identity, client, filter),
        neverRetained: isExactCommandsTopic,
        ownerOf: commandsTopicOwner,
        onStoreError: (op, err) => {
          metrics.sessionErrors.inc({ op })
          log.debug({ op, err: err.message }, 'session store write failed; connection kept')
        },
        watch: deps.watch
      }),
    hooks: {
      preConnect: auth.preConnect,
      authenticate: auth.authenticate,
      authorizePublish: intake.authorizePublish,
      authorizeSubscribe: createAuthorizeSubscribe(auth.identity, metrics, log),
      authorizeForward: commands.authorizeForward
    },
    // Telemetry's route is Kafka: it never enters the emitter, retained store or offline queues.
    endsHere: packet => intake.isIngested(packet),
    fast: {
      vehicleOf: auth.identity.get,
      topicOf: MqttTopics.telemetry,
      take: intake.telemetry,
      taken: count => metrics.fastPath.inc(count)
    },
    isHeld: intake.isHeld,
    mqtt5: {
      receiveMaximum: config.maxInflight,
      sessionExpiryMaxS: config.sessionExpiryS,
      topicAliasMaximum: config.topicAliasMax,
      serverKeepAliveS: config.serverKeepAliveS
    },
    onPacketTooLarge: client => {
      metrics.refused.inc({ reason: 'packet_too_large' })
      log.warn({ clientId: client.id?.slice(0, 80) }, 'packet too large: connection closed')
    }
  })
  commands.attach(engine)

  engine.onClient(() => metrics.connections.set(engine.connectedClients()))
  engine.onClientDisconnect(() => metrics.connections.set(engine.connectedClients()))
  const overQos2Window = new WeakSet<Client>()
  engine.onClientError((client, err, kind) => {
    // every packet of the read fails alike, the connection is counted once
    if (kind === 'qos2_window' && !overQos2Window.has(client)) {
      overQos2Window.add(client)
      metrics.refused.inc({ reason: 'qos2_window' })
    }
    metrics.clientErrors.inc({ stage: 'connected' })
    log.debug({ err: err.message }, 'client error')
  })
  engine.onEngineError(err => {
    metrics.sessionErrors.inc({ op: 'engine' })
    log.warn({ err: err.message }, 'session store failed outside a connection (wills sweep, session wipe or offline enqueue); the broker keeps serving')
  })
  engine.onConnectionError(err => {
    metrics.clientErrors.inc({ stage: 'before_connect' })
    log.debug({ err: err.message }, 'connection error before CONNECT completed')
  })
  return engine
}
