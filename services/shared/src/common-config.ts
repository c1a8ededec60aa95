// Settings every fleet process shares: where Kafka and Redis are, logging, the ops HTTP port.
import { bool, int, list, oneOf, str } from './config.js'

export const kafkaSettings = {
  kafkaBrokers: list('FLEET_KAFKA_BROKERS', ['127.0.0.1:19092'], 'Kafka bootstrap servers, comma-separated'),
  kafkaClientId: str('FLEET_KAFKA_CLIENT_ID', 'fleet', 'Kafka client id prefix')
}

export const redisSettings = {
  redisUrl: str('FLEET_REDIS_URL', 'redis://127.0.0.1:16379', 'Redis URL (sessions, credentials deny list, latest state)', /^rediss?:\/\//)
}

export const logSettings = {
  logLevel: oneOf('FLEET_LOG_LEVEL', 'info', 'pino log level', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const)
}

export function opsPortSetting (env: string, def: number) {
  return { opsPort: int(env, def, '/metrics, /healthz and /readyz port (0 = any free port)', 0, 65535) }
}

export const hostSetting = {
  host: str('FLEET_BIND_HOST', '127.0.0.1', 'address every listener binds to')
}

export const devModeSetting = {
  devMode: bool('FLEET_DEV_MODE', false, 'development machine or test run: allows the secrets published in this repository (npm start and the tests set it; never in production)')
}
