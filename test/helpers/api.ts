// Starts the api and the commander (the same factories their main.ts use) against the stack's
// Kafka and Redis, on free ports and with consumer groups of their own, for system tests.
import { randomUUID } from 'node:crypto'
import { loadApiConfig, type ApiConfig } from '../../services/api/src/api-config.js'
import { createApi, type FleetApi } from '../../services/api/src/index.js'
import { loadCommanderConfig, type CommanderConfig } from '../../services/commander/src/commander-config.js'
import { createCommander, type FleetCommander } from '../../services/commander/src/index.js'
import { createLogger } from '../../services/shared/src/logger.js'

export const OPERATOR_KEY = 'test-operator-key-0123456789'
export const READER_KEY = 'test-read-only-key-0123456789'
export const TEST_API_KEYS = `ops:operator:${OPERATOR_KEY},viewer:read-only:${READER_KEY}`
export const JWT_SECRET = 'test-jwt-secret-0123456789abcdef0123456789'
export const JWT_ISSUER = 'https://login.fleet.test'
export const JWT_AUDIENCE = 'fleet-api'

export interface TestApi { api: FleetApi, config: ApiConfig, port: number, opsPort: number, url: string, stop: () => Promise<void> }

export async function startTestApi (env: Record<string, string> = {}): Promise<TestApi> {
  const config = loadApiConfig({
    ...process.env,
    FLEET_API_PORT: '0',
    FLEET_API_OPS_PORT: '0',
    FLEET_API_JWT_ISSUER: JWT_ISSUER,
    FLEET_API_JWT_AUDIENCE: JWT_AUDIENCE,
    FLEET_API_KEYS: TEST_API_KEYS,
    FLEET_API_JWT_SECRET: JWT_SECRET,
    FLEET_LOG_LEVEL: process.env.FLEET_TEST_LOG_LEVEL ?? 'silent',
    ...env
  })
  const api = createApi(config, { log: createLogger('api', config.logLevel) })
  const { port, opsPort } = await api.start()
  return { api, config, port, opsPort, url: `http://127.0.0.1:${port}`, stop: () => api.stop() }
}

export interface TestCommander { commander: FleetCommander, config: CommanderConfig, stop: () => Promise<void> }

/** The commander's settings for a test: ops port and consumer groups of its own. */
export function testCommanderConfig (env: Record<string, string> = {}): CommanderConfig {
  return loadCommanderConfig({
    ...process.env,
    FLEET_COMMANDER_OPS_PORT: '0',
    FLEET_COMMANDER_ID: `test-${randomUUID().slice(0, 8)}`,
    FLEET_COMMANDER_GROUP: `fleet-test-commander-${randomUUID()}`,
    FLEET_LOG_LEVEL: process.env.FLEET_TEST_LOG_LEVEL ?? 'silent',
    ...env
  })
}

export async function startTestCommander (env: Record<string, string> = {}): Promise<TestCommander> {
  const config = testCommanderConfig(env)
  const commander = createCommander(config, { log: createLogger('commander', config.logLevel) })
  await commander.start()
  await commander.ready()
  return { commander, config, stop: () => commander.stop() }
}

/** Minimal HS256 JWT for tests (the api verifies with @fastify/jwt); iss, aud and iat are the test api's unless given (undefined = left out). */
export async function signJwt (given: Record<string, unknown>, secret = JWT_SECRET): Promise<string> {
  const { createHmac } = await import('node:crypto')
  const claims = Object.fromEntries(Object.entries({ iss: JWT_ISSUER, aud: JWT_AUDIENCE, iat: Math.floor(Date.now() / 1000), ...given }).filter(([, v]) => v !== undefined))
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`
}
