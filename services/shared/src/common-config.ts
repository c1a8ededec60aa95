// Settings every fleet process shares: where Kafka and Redis are, logging, the ops HTTP port.
import { bool, int, list, oneOf, str, type Setting } from './config.js'

/** A comma-separated list of host:port; empty by default. */
function hostPorts (env: string, doc: string): Setting<string[]> {
  const base = list(env, [], doc)
  return {
    ...base,
    parse: raw => {
      const items = base.parse(raw)
      for (const item of items) {
        const m = /^(.+):(\d{1,5})$/.exec(item)
        if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new Error(`"${item}" is not host:port`)
      }
      return items
    }
  }
}

export const KAFKA_SASL_MECHANISMS = ['none', 'scram-sha-256', 'scram-sha-512'] as const

export const kafkaSettings = {
  kafkaBrokers: list('FLEET_KAFKA_BROKERS', ['127.0.0.1:19092'], 'Kafka bootstrap servers, comma-separated'),
  kafkaClientId: str('FLEET_KAFKA_CLIENT_ID', 'fleet', 'Kafka client id prefix'),
  kafkaTls: bool('FLEET_KAFKA_TLS', false, 'connect to Kafka over TLS (the server certificate is verified against FLEET_KAFKA_CA_FILE or the system CAs)'),
  kafkaCaFile: str('FLEET_KAFKA_CA_FILE', '', 'PEM file of the CA(s) that sign the Kafka brokers\' certificates (empty = the system CAs); needs FLEET_KAFKA_TLS'),
  kafkaSaslMechanism: oneOf('FLEET_KAFKA_SASL_MECHANISM', 'none', 'SASL mechanism to Kafka: none, scram-sha-256 or scram-sha-512 (needs FLEET_KAFKA_TLS, user and password)', KAFKA_SASL_MECHANISMS),
  kafkaSaslUsername: str('FLEET_KAFKA_SASL_USERNAME', '', 'SCRAM user name of this service at Kafka'),
  kafkaSaslPassword: str('FLEET_KAFKA_SASL_PASSWORD', '', 'SCRAM password of this service at Kafka (from a Secret)')
}

/** scripts/kafka-topics.ts (the chart's topics Job): how the topics it creates are replicated. */
export const topicSettings = {
  topicReplication: int('FLEET_KAFKA_TOPIC_REPLICATION', 1, 'replicas of each topic scripts/kafka-topics.ts creates (production: 3)', 1, 32),
  topicMinIsr: int('FLEET_KAFKA_TOPIC_MIN_ISR', 1, 'min.insync.replicas of each topic it creates: in-sync replicas an acks=all write needs (production: 2, below the replicas)', 1, 32)
}

export const redisSettings = {
  redisUrl: str('FLEET_REDIS_URL', 'redis://127.0.0.1:16379', 'Redis URL (sessions, credentials deny list, latest state); with FLEET_REDIS_SENTINELS only its user, password, database and rediss:// are used', /^rediss?:\/\//),
  redisSentinels: hostPorts('FLEET_REDIS_SENTINELS', 'Redis Sentinels (host:port, comma-separated) that name the master; every Redis connection (sessions, emitter, state, revocations) follows it after a failover; empty = FLEET_REDIS_URL is the Redis'),
  redisSentinelName: str('FLEET_REDIS_SENTINEL_NAME', 'fleet', 'the master\'s name at the Sentinels (`sentinel monitor NAME ...`)', /^[\w.-]{1,64}$/)
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
