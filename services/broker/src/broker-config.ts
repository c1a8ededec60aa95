// The broker's settings: every one an environment variable with a default, validated at start.
import { ConfigError, bool, int, oneOf, readConfig, str, type ConfigOf } from '../../shared/src/config.js'
import { devModeSetting, hostSetting, kafkaSettings, logSettings, opsPortSetting, redisSettings } from '../../shared/src/common-config.js'
import { devSecretProblems } from '../../shared/src/dev-secrets.js'

export const brokerSettings = {
  ...hostSetting,
  ...kafkaSettings,
  ...redisSettings,
  ...logSettings,
  ...devModeSetting,
  ...opsPortSetting('FLEET_BROKER_OPS_PORT', 9101),
  brokerId: str('FLEET_BROKER_ID', '', 'broker instance id in logs and metrics (default: host name + pid)'),
  mqttPort: int('FLEET_MQTT_PORT', 1883, 'MQTT over TCP (plaintext) port (0 = any free port, -1 = off: TLS only)', -1, 65535),
  wsPort: int('FLEET_MQTT_WS_PORT', 8083, 'MQTT over WebSocket (plaintext) port (0 = any free port, -1 = off)', -1, 65535),
  tlsPort: int('FLEET_MQTTS_PORT', 8883, 'MQTT over TLS port (on when FLEET_TLS_CERT_FILE is set; 0 = any free port, -1 = off)', -1, 65535),
  wssPort: int('FLEET_MQTT_WSS_PORT', 8084, 'MQTT over secure WebSocket port (on when FLEET_TLS_CERT_FILE is set; -1 = off)', -1, 65535),
  tlsCertFile: str('FLEET_TLS_CERT_FILE', '', 'broker certificate (PEM); reloaded when the file changes'),
  tlsKeyFile: str('FLEET_TLS_KEY_FILE', '', 'broker private key (PEM); reloaded when the file changes'),
  tlsCaFile: str('FLEET_TLS_CA_FILE', '', 'fleet CA (PEM) that car certificates must chain to'),
  tlsClientAuth: oneOf('FLEET_TLS_CLIENT_AUTH', 'either', 'TLS listeners: certificate (car certificate required), password (token only) or either', ['certificate', 'password', 'either'] as const),
  tlsHandshakeTimeoutMs: int('FLEET_TLS_HANDSHAKE_TIMEOUT_MS', 10_000, 'a TLS or secure WebSocket handshake not finished by then ends its socket (Node\'s default would hold it for 120 s)', 500, 120_000),
  tlsCrlFile: str('FLEET_TLS_CRL_FILE', '', 'certificate revocation list (PEM) of the fleet CA: car certificates it lists fail the TLS handshake; reloaded when the file changes'),
  vehicleTokenKey: str('FLEET_VEHICLE_TOKEN_KEY', '', 'migration only: signing key of the old HMAC car passwords, accepted until FLEET_LEGACY_TOKENS_UNTIL'),
  legacyTokensUntil: str('FLEET_LEGACY_TOKENS_UNTIL', '', 'migration only: ISO time until which old HMAC car passwords (FLEET_VEHICLE_TOKEN_KEY) are accepted besides provisioned credentials; at most 90 days ahead; empty = off', /^\d{4}-\d{2}-\d{2}(T[\d:.]+Z?)?$/),
  maxTelemetryBytes: int('FLEET_MAX_TELEMETRY_BYTES', 16_384, 'largest telemetry payload accepted; larger ones go to the DLQ', 256, 1_048_576),
  maxPacketBytes: int('FLEET_MAX_PACKET_BYTES', 262_144, 'largest MQTT packet read; a larger one closes the connection (MQTT 5: DISCONNECT 0x95; advertised as Maximum Packet Size)', 1_024, 268_435_455),
  lingerMs: int('FLEET_INGEST_LINGER_MS', 25, 'how long a Kafka batch waits for more records (longer: fewer, larger produce requests, less CPU in the broker and in Kafka per message; the wait adds to the PUBACK\'s latency)', 0, 1_000),
  maxBatch: int('FLEET_INGEST_MAX_BATCH', 2_000, 'most records in one Kafka produce request', 1, 100_000),
  maxConnections: int('FLEET_MAX_CONNECTIONS', 19_000, 'connected clients per broker process; more get CONNACK 3 (checked after the credentials)', 1, 10_000_000),
  connectRate: int('FLEET_CONNECT_RATE_PER_S', 2_000, 'new connections per second per broker process (burst of one second), charged after a successful credential check; more get CONNACK 3', 1, 1_000_000),
  maxPendingConnects: int('FLEET_MAX_PENDING_CONNECTS', 0, 'connects under way at once per broker process (CONNECT read, session not yet ready); more get CONNACK 3 before their credentials are checked (0 = no bound)', 0, 1_000_000),
  connectShedLagMs: int('FLEET_CONNECT_SHED_LAG_MS', 0, 'while the broker\'s event loop runs this late (sampled every 50 ms) new connects get CONNACK 3 before their credentials are checked, so the cars already connected keep their PUBACKs in time (0 = off)', 0, 600_000),
  connectRatePerAddress: int('FLEET_CONNECT_RATE_PER_ADDRESS', 0, 'new connections per second from one remote address; more are closed at accept, before a TLS handshake (0 = off; behind NAT or a proxy keep it off or high)', 0, 1_000_000),
  authFailuresPerMinute: int('FLEET_AUTH_FAILURES_PER_MINUTE', 30, 'failed credential checks per minute one remote address may make (after its burst); past it CONNACK 3 before credentials are checked (0 = off)', 0, 1_000_000),
  authFailureBurst: int('FLEET_AUTH_FAILURE_BURST', 20, 'failed credential checks one remote address may make at once', 1, 1_000_000),
  slowClientTimeoutMs: int('FLEET_SLOW_CLIENT_TIMEOUT_MS', 30_000, 'a client that does not read what it is sent for this long is disconnected', 0, 600_000),
  maxInflight: int('FLEET_MAX_INFLIGHT_PER_CAR', 64, 'unacknowledged telemetry per car before its socket stops being read (MQTT 5: advertised as Receive Maximum)', 1, 65_535),
  carPublishRate: int('FLEET_CAR_PUBLISH_RATE_PER_S', 100, 'publishes per second one car may send (token bucket); over it its socket is not read until it is back under (0 = no limit)', 0, 10_000_000),
  carPublishBurst: int('FLEET_CAR_PUBLISH_BURST', 200, 'publishes one car may send at once before its rate applies', 1, 10_000_000),
  heldBytesPerPod: int('FLEET_HELD_BYTES_PER_POD', 268_435_456, 'bytes of car messages awaiting Kafka one broker process may hold (payload + ~1 KiB each); past it no car is read until under 3/4 of it (0 = no limit)', 0, 68_719_476_736),
  drainMs: int('FLEET_BROKER_DRAIN_MS', 20_000, 'on SIGTERM: the whole drain. Cars are moved away (each once Kafka has its messages) by 3/4 of it, at FLEET_BROKER_DRAIN_RATE_PER_S or faster if needed; in-flight Kafka writes are awaited until it ends. Keep the pod\'s terminationGracePeriodSeconds above it + 10 s', 0, 600_000),
  drainRatePerS: int('FLEET_BROKER_DRAIN_RATE_PER_S', 1_000, 'on SIGTERM: cars moved away per second (their reconnects land on the other pods at this rate; keep it below their summed FLEET_CONNECT_RATE_PER_S)', 1, 1_000_000),
  connectTimeoutMs: int('FLEET_MQTT_CONNECT_TIMEOUT_MS', 10_000, 'a socket that sends no CONNECT within this is closed', 100, 600_000),
  persistence: oneOf('FLEET_BROKER_PERSISTENCE', 'redis', 'where sessions, subscriptions, retained and queued messages live; redis shares them between broker pods', ['redis', 'memory'] as const),
  heartbeatMs: int('FLEET_BROKER_HEARTBEAT_MS', 15_000, 'broker-to-broker heartbeat; a pod silent for 3 of them is dead and its cars\' wills are published', 1_000, 600_000),
  sessionExpiryS: int('FLEET_SESSION_EXPIRY_S', 604_800, 'a car\'s persistent session (subscriptions, queued commands, QoS 2 state) is dropped this long after its last connection ended; the most an MQTT 5 car\'s Session Expiry Interval may ask (CONNACK says the cap)', 1, 31_536_000),
  topicAliasMax: int('FLEET_MQTT_TOPIC_ALIAS_MAX', 16, 'MQTT 5: topic aliases one car may set per connection (Topic Alias Maximum; 0 = none)', 0, 65_535),
  serverKeepAliveS: int('FLEET_MQTT_SERVER_KEEPALIVE_S', 600, 'MQTT 5: the longest keep alive a car may use; a car asking for more (or none) is told this one (Server Keep Alive; 0 = the car\'s own). MQTT 3.1.1 cars keep theirs', 0, 65_535),
  maxQos2Pending: int('FLEET_MAX_QOS2_PENDING_PER_CAR', 16, 'QoS 2 PUBLISHes one car may have awaiting PUBREL (all its connections); one more closes the connection', 1, 65_535),
  commandGroup: str('FLEET_BROKER_COMMAND_GROUP', 'fleet-broker-commands', 'Kafka consumer group in which the broker pods share vehicle.commands', /^[A-Za-z0-9._-]{1,200}$/),
  commandPublishTimeoutMs: int('FLEET_BROKER_COMMAND_PUBLISH_TIMEOUT_MS', 10_000, 'longest wait for aedes to route or store a slice of commands before the slice is read again', 500, 600_000),
  requireRegistered: bool('FLEET_REQUIRE_REGISTERED', false, 'refuse cars not provisioned in Redis (npm run provision)')
}

const LEGACY_MAX_MS = 90 * 24 * 3600 * 1000

/** The migration window of old HMAC tokens, or null when off. */
export function legacyTokens (config: BrokerConfig): { key: string, until: number } | null {
  return config.legacyTokensUntil === '' ? null : { key: config.vehicleTokenKey, until: Date.parse(config.legacyTokensUntil) }
}

export type BrokerConfig = ConfigOf<typeof brokerSettings>

export function loadBrokerConfig (env: NodeJS.ProcessEnv = process.env): BrokerConfig {
  const config = readConfig(brokerSettings, env)
  const problems: string[] = []
  if ((config.tlsCertFile === '') !== (config.tlsKeyFile === '')) problems.push('FLEET_TLS_CERT_FILE and FLEET_TLS_KEY_FILE must be set together')
  if (config.tlsClientAuth !== 'password' && config.tlsCertFile !== '' && config.tlsCaFile === '') problems.push(`FLEET_TLS_CA_FILE is needed for FLEET_TLS_CLIENT_AUTH=${config.tlsClientAuth}`)
  if (config.tlsCrlFile !== '' && config.tlsCertFile === '') problems.push('FLEET_TLS_CRL_FILE needs the TLS listener (FLEET_TLS_CERT_FILE)')
  if (config.legacyTokensUntil !== '') {
    const until = Date.parse(config.legacyTokensUntil)
    if (Number.isNaN(until)) problems.push('FLEET_LEGACY_TOKENS_UNTIL: not a date')
    else if (until > Date.now() + LEGACY_MAX_MS) problems.push('FLEET_LEGACY_TOKENS_UNTIL: at most 90 days ahead (a migration window, not a way of life)')
    if (config.vehicleTokenKey === '') problems.push('FLEET_LEGACY_TOKENS_UNTIL needs FLEET_VEHICLE_TOKEN_KEY (the key of the old tokens)')
  }
  problems.push(...devSecretProblems(config.devMode, { FLEET_VEHICLE_TOKEN_KEY: config.vehicleTokenKey }))
  const tlsOn = config.tlsCertFile !== '' && (config.tlsPort >= 0 || config.wssPort >= 0)
  if (config.mqttPort < 0 && config.wsPort < 0 && !tlsOn) problems.push('no MQTT listener: FLEET_MQTT_PORT and FLEET_MQTT_WS_PORT are -1 and TLS is off (FLEET_TLS_CERT_FILE)')
  if (problems.length > 0) throw new ConfigError(problems)
  return config
}
