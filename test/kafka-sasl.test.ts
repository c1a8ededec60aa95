// Every Kafka client of fleet over TLS + SASL/SCRAM, against the stack's SASL_SSL listener
// (scripts/stack.sh starts it; its CA, user and password are under $FLEET_STACK_DIR/kafka/sasl):
// kafkajs as createKafka builds it (api, commander, scorer, broker option), @platformatic/kafka as
// the broker's ingest builds it, and a whole api process. A wrong password or a missing CA fails.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { platformaticRecordProducer } from '../services/broker/src/record-producer.js'
import { kafkaSettings } from '../services/shared/src/common-config.js'
import { ConfigError, readConfig } from '../services/shared/src/config.js'
import { createKafka, kafkaSecurity, platformaticSecurity } from '../services/shared/src/kafka.js'
import { createLogger } from '../services/shared/src/logger.js'
import { KafkaTopics } from '../services/shared/src/topics.js'
import { startTestApi } from './helpers/api.js'

const dir = join(process.env.FLEET_STACK_DIR ?? join(import.meta.dirname, '..', '.stack'), 'kafka', 'sasl')

function saslEnv (): Record<string, string> {
  if (!existsSync(join(dir, 'brokers'))) throw new Error(`no SASL_SSL listener in this stack (${dir}/brokers missing): start it with scripts/stack.sh up (FLEET_KAFKA_SASL=1, the default)`)
  return {
    FLEET_KAFKA_BROKERS: readFileSync(join(dir, 'brokers'), 'utf8').trim(),
    FLEET_KAFKA_TLS: 'true',
    FLEET_KAFKA_CA_FILE: join(dir, 'ca.pem'),
    FLEET_KAFKA_SASL_MECHANISM: 'scram-sha-512',
    FLEET_KAFKA_SASL_USERNAME: readFileSync(join(dir, 'user'), 'utf8').trim(),
    FLEET_KAFKA_SASL_PASSWORD: readFileSync(join(dir, 'password'), 'utf8').trim()
  }
}

const silent = createLogger('test', 'silent')
const settings = (env: Record<string, string>) => readConfig(kafkaSettings, env)

test('kafkajs over SASL_SSL (createKafka): admin, acks=all produce, and a consumer reads the record back', async () => {
  const kafka = createKafka(settings(saslEnv()), silent, '-sasl-test')
  const admin = kafka.admin()
  await admin.connect()
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })
  const consumer = kafka.consumer({ groupId: `fleet-test-sasl-${randomUUID()}` })
  try {
    assert.ok((await admin.listTopics()).includes(KafkaTopics.commandEvents))
    const key = `sasl-${randomUUID()}`
    const start = await admin.fetchTopicOffsets(KafkaTopics.commandEvents)
    await producer.connect()
    await producer.send({ topic: KafkaTopics.commandEvents, acks: -1, messages: [{ key, value: 'kafkajs' }] })
    await consumer.connect()
    await consumer.subscribe({ topic: KafkaTopics.commandEvents })
    const got = new Promise<string>(resolve => {
      void consumer.run({ eachMessage: async ({ message }) => { if (message.key?.toString() === key) resolve(message.value!.toString()) } })
    })
    for (const p of start) consumer.seek({ topic: KafkaTopics.commandEvents, partition: p.partition, offset: p.offset })
    assert.equal(await got, 'kafkajs')
  } finally {
    await consumer.disconnect()
    await producer.disconnect()
    await admin.disconnect()
  }
})

test('@platformatic/kafka over SASL_SSL (the broker\'s ingest producer): an idempotent acks=all send', async () => {
  const env = saslEnv()
  const config = settings(env)
  const producer = platformaticRecordProducer({ clientId: 'fleet-test-sasl', brokers: config.kafkaBrokers, topics: [KafkaTopics.commandEvents], security: platformaticSecurity(kafkaSecurity(config)) })
  await producer.connect()
  try {
    await producer.send([{ topic: KafkaTopics.commandEvents, key: `sasl-${randomUUID()}`, value: Buffer.from('platformatic'), timestamp: Date.now() }])
  } finally {
    await producer.disconnect()
  }
})

test('a wrong password fails clearly, for both clients', async () => {
  const env = { ...saslEnv(), FLEET_KAFKA_SASL_PASSWORD: 'not-the-password' }
  const admin = createKafka(settings(env), silent, '-sasl-test').admin()
  await assert.rejects(admin.connect(), (err: Error) => err.name === 'KafkaJSSASLAuthenticationError' && /SCRAM|[Aa]uthentication/.test(err.message))
  const config = settings(env)
  const producer = platformaticRecordProducer({ clientId: 'fleet-test-sasl', brokers: config.kafkaBrokers, topics: [KafkaTopics.commandEvents], security: platformaticSecurity(kafkaSecurity(config)) })
  await assert.rejects(producer.connect(), /[Aa]uthentication|SASL|SCRAM/)
  await producer.disconnect().catch(() => {})
})

test('TLS is verified: without the stack\'s CA the connection is refused', async () => {
  const { FLEET_KAFKA_CA_FILE: _ca, ...env } = saslEnv()
  const admin = createKafka(settings(env), silent, '-sasl-test').admin()
  await assert.rejects(admin.connect(), /certificate|self.signed/i)
})

test('bad security settings are a ConfigError at start, naming the variables', () => {
  const base = { FLEET_KAFKA_BROKERS: '127.0.0.1:1' }
  assert.throws(() => kafkaSecurity(settings({ ...base, FLEET_KAFKA_SASL_MECHANISM: 'scram-sha-512', FLEET_KAFKA_SASL_USERNAME: 'u', FLEET_KAFKA_SASL_PASSWORD: 'p' })), (e: Error) => e instanceof ConfigError && /needs FLEET_KAFKA_TLS=true/.test(e.message))
  assert.throws(() => kafkaSecurity(settings({ ...base, FLEET_KAFKA_TLS: 'true', FLEET_KAFKA_SASL_MECHANISM: 'scram-sha-256' })), /needs FLEET_KAFKA_SASL_USERNAME and FLEET_KAFKA_SASL_PASSWORD/)
  assert.throws(() => kafkaSecurity(settings({ ...base, FLEET_KAFKA_TLS: 'true', FLEET_KAFKA_CA_FILE: '/nonexistent/ca.pem' })), /cannot read \/nonexistent\/ca.pem \(ENOENT\)/)
  assert.throws(() => settings({ ...base, FLEET_KAFKA_SASL_MECHANISM: 'plain' }), /must be one of none, scram-sha-256, scram-sha-512/)
})

test('a whole api process runs on the SASL_SSL listener (producer, admin, anomaly feed consumer)', async () => {
  const api = await startTestApi(saslEnv())
  try {
    const deadline = Date.now() + 30_000
    let ready: { checks: Record<string, boolean> } | null = null
    while (Date.now() < deadline) {
      const res = await api.api.app.inject({ url: '/readyz' })
      ready = res.json()
      if (res.statusCode === 200) break
      await new Promise(resolve => setTimeout(resolve, 200))
    }
    assert.deepEqual(ready?.checks, { redis: true, kafka: true, anomalyFeed: true, commandUpdates: true })
  } finally {
    await api.stop()
  }
})
