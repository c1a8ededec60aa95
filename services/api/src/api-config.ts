// The api's settings: every one an environment variable with a default, validated at start.
import { createHash } from 'node:crypto'
import { ConfigError, int, readConfig, str, type ConfigOf } from '../../shared/src/config.js'
import { devModeSetting, hostSetting, kafkaSettings, logSettings, opsPortSetting, redisSettings } from '../../shared/src/common-config.js'
import { devSecretProblems } from '../../shared/src/dev-secrets.js'
import { COMMAND_TTL_LIMITS_S } from '../../shared/src/command-schema.js'

export const ROLES = ['read-only', 'operator'] as const
export type Role = typeof ROLES[number]

export const DEV_API_KEYS = 'dev-operator:operator:fleet-dev-operator-key,dev-viewer:read-only:fleet-dev-read-only-key'

export const apiSettings = {
  ...hostSetting,
  ...kafkaSettings,
  ...redisSettings,
  ...logSettings,
  ...devModeSetting,
  port: int('FLEET_API_PORT', 8080, 'HTTP port of the api, the dashboard, /docs, /healthz and /readyz (0 = any free port); /metrics is on the ops port only', 0, 65535),
  ...opsPortSetting('FLEET_API_OPS_PORT', 9104),
  apiKeys: str('FLEET_API_KEYS', DEV_API_KEYS, 'operator API keys, comma-separated: `key` (an operator), `role:key` or `name:role:key`; role is operator or read-only; keys are 16+ characters of A-Z a-z 0-9 . _ ~ + / = -'),
  jwtSecret: str('FLEET_API_JWT_SECRET', '', 'HS256 secret (32+ characters) of operator JWTs (claims: sub, role = operator or read-only, iss, aud, iat, exp); empty = JWTs off'),
  jwtIssuer: str('FLEET_API_JWT_ISSUER', '', 'the `iss` every JWT must carry (required when JWTs are on)'),
  jwtAudience: str('FLEET_API_JWT_AUDIENCE', '', 'the `aud` every JWT must carry (required when JWTs are on)'),
  jwtMaxAgeS: int('FLEET_API_JWT_MAX_AGE_S', 3_600, 'oldest accepted JWT (now - iat) and longest lifetime (exp - iat), seconds', 60, 7 * 24 * 3600),
  authFailuresPerMin: int('FLEET_API_AUTH_FAILURES_PER_MIN', 20, 'failed logins one address may make per minute; past it every request from it gets 429 with Retry-After until the minute is over', 1, 100_000),
  rateLimitPerMin: int('FLEET_API_RATE_LIMIT_PER_MIN', 1_200, 'requests per minute from one address (health and metrics excepted)', 1, 10_000_000),
  commandRateLimitPerMin: int('FLEET_API_COMMAND_RATE_LIMIT_PER_MIN', 120, 'commands per minute one address may send', 1, 10_000_000),
  bodyLimit: int('FLEET_API_BODY_LIMIT_BYTES', 16_384, 'largest request body; larger ones get 413', 256, 10_485_760),
  commandTtlS: int('FLEET_API_COMMAND_TTL_S', 300, 'TTL of a command when the request gives no ttlSeconds', COMMAND_TTL_LIMITS_S.min, COMMAND_TTL_LIMITS_S.max),
  commandQueueTimeoutMs: int('FLEET_API_COMMAND_QUEUE_TIMEOUT_MS', 5_000, 'longest wait for Kafka to take a new command; past it POST answers 202 (pending, still being queued) and the record tells the outcome', 100, 120_000),
  commandRetentionS: int('FLEET_COMMAND_RETENTION_S', 7 * 24 * 3600, 'how long a command record stays in Redis after its expiry', 60, 365 * 24 * 3600),
  maxWaitS: int('FLEET_API_MAX_WAIT_S', 30, 'longest long-poll (?waitSeconds=) on a command', 0, 300),
  sampleIntervalMs: int('FLEET_API_SAMPLE_INTERVAL_MS', 5_000, 'how often the fleet summary (messages/s from Kafka offsets, score statistics) is sampled', 200, 600_000),
  anomalyBuffer: int('FLEET_API_ANOMALY_BUFFER', 500, 'recent fleet-wide anomalies kept in memory for the feed (read from vehicle.anomalies)', 10, 100_000),
  maxStreams: int('FLEET_API_MAX_STREAMS', 200, 'open event streams (SSE) per api process; more get 503', 1, 100_000),
  streamBufferBytes: int('FLEET_API_STREAM_BUFFER_BYTES', 1_048_576, 'bytes an event stream may hold for a reader that does not read; past it the stream is closed', 16_384, 64 * 1_048_576),
  mapTilesUrl: str('FLEET_API_MAP_TILES_URL', '', 'map tiles under the dashboard\'s fleet map, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png (the tile origin is added to the page\'s CSP img-src); empty = a plain projection of the fleet\'s positions that needs no network', /^$|^https?:\/\/[^\s"'<>]+\{z\}[^\s"'<>]*$/),
  trustProxyHops: int('FLEET_API_TRUST_PROXY_HOPS', 0, 'proxies in front of the api whose X-Forwarded-For entries are trusted (0 = none: the client address is the TCP peer); the client address is the entry that many hops from the right', 0, 10)
}

export type ApiConfig = ConfigOf<typeof apiSettings>

export interface ApiKey { name: string, role: Role, digest: Buffer }

const KEY = /^[A-Za-z0-9._~+/=-]{16,512}$/
export const keyDigest = (key: string) => createHash('sha256').update(key).digest()

/** FLEET_API_KEYS → keys (only their SHA-256 is kept in memory). */
export function parseApiKeys (raw: string): ApiKey[] {
  const keys = raw.split(',').map(s => s.trim()).filter(Boolean).map(entry => {
    const parts = entry.split(':')
    const key = parts[parts.length - 1]!
    const role = parts.length >= 2 ? parts[parts.length - 2]! : 'operator'
    const digest = keyDigest(key)
    const name = parts.length === 3 ? parts[0]! : `key-${digest.toString('hex').slice(0, 8)}`
    if (parts.length > 3 || !KEY.test(key)) throw new Error(`an entry is not [name:][role:]key with a key of 16+ allowed characters (entry ${parts.length > 1 ? parts.slice(0, -1).join(':') + ':…' : '…'})`)
    if (!(ROLES as readonly string[]).includes(role)) throw new Error(`role "${role}" is not one of ${ROLES.join(', ')}`)
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new Error(`key name "${name}" must be 1-64 of A-Z a-z 0-9 . _ -`)
    return { name, role: role as Role, digest }
  })
  if (new Set(keys.map(k => k.digest.toString('hex'))).size !== keys.length) throw new Error('a key is listed twice')
  return keys
}

export function loadApiConfig (env: NodeJS.ProcessEnv = process.env): ApiConfig {
  const config = readConfig(apiSettings, env)
  const problems: string[] = []
  try {
    if (parseApiKeys(config.apiKeys).length === 0 && config.jwtSecret === '') problems.push('FLEET_API_KEYS: no key and no FLEET_API_JWT_SECRET: nobody could use the api')
  } catch (err) {
    problems.push(`FLEET_API_KEYS: ${(err as Error).message}`)
  }
  if (config.jwtSecret !== '' && config.jwtSecret.length < 32) problems.push('FLEET_API_JWT_SECRET: must be at least 32 characters')
  problems.push(...devSecretProblems(config.devMode, { FLEET_API_KEYS: config.apiKeys, FLEET_API_JWT_SECRET: config.jwtSecret }))
  if (config.jwtSecret !== '' && (config.jwtIssuer === '' || config.jwtAudience === '')) problems.push('FLEET_API_JWT_ISSUER and FLEET_API_JWT_AUDIENCE: both required when FLEET_API_JWT_SECRET is set (a token for another service must not open this one)')
  // The old boolean trusted every X-Forwarded-For hop, so a client could name any address.
  if ((env.FLEET_API_TRUST_PROXY ?? '') !== '') problems.push('FLEET_API_TRUST_PROXY is gone: set FLEET_API_TRUST_PROXY_HOPS to the number of proxies in front of the api')
  if (problems.length > 0) throw new ConfigError(problems)
  return config
}
