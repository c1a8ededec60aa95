// `helm test`'s check (charts/fleet/templates/tests/): provisions a test car, connects it over each
// listener in FLEET_CHART_TEST_URLS (mqtt://, ws://, mqtts://, wss://), publishes one telemetry
// message at QoS 1 on each, and waits until every one of them is in vehicle.telemetry. Exits 0
// only when all were; prints one line per listener. The car is revoked at the end, so it cannot
// connect between runs (the next run provisions it anew).
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Redis } from 'ioredis'
import mqtt from 'mqtt'
import { int, list, readConfig, str } from '../services/shared/src/config.js'
import { kafkaSettings, redisSettings } from '../services/shared/src/common-config.js'
import { createCredentialStore } from '../services/shared/src/credential-store.js'
import { createKafka } from '../services/shared/src/kafka.js'
import { createLogger } from '../services/shared/src/logger.js'
import { validTelemetry } from '../services/shared/src/telemetry-samples.js'
import { KafkaTopics, MqttTopics } from '../services/shared/src/topics.js'

const config = readConfig({
  ...kafkaSettings,
  ...redisSettings,
  urls: list('FLEET_CHART_TEST_URLS', [], 'listeners to check, e.g. mqtts://fleet-broker:8883,wss://fleet-broker:8084'),
  caFile: str('FLEET_CHART_TEST_CA_FILE', '', 'CA that signs the broker certificate (TLS listeners)'),
  serverName: str('FLEET_CHART_TEST_SERVERNAME', '', 'name the broker certificate must carry (default: the URL host)'),
  vehicleId: str('FLEET_CHART_TEST_VEHICLE', 'fleet-helm-test', 'the test car'),
  timeoutMs: int('FLEET_CHART_TEST_TIMEOUT_MS', 90_000, 'give up after this long', 1_000)
})
if (config.urls.length === 0) {
  console.error('FLEET_CHART_TEST_URLS is empty: no listener to check')
  process.exit(2)
}
const started = Date.now()
const left = () => Math.max(1_000, config.timeoutMs - (Date.now() - started))
const ca = config.caFile === '' ? undefined : readFileSync(config.caFile)
const vehicleId = config.vehicleId
const marker = randomUUID()
const log = createLogger('chart-test', 'error')
const redis = new Redis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 3 })
const store = createCredentialStore(redis)
const kafka = createKafka(config, log, '-chart-test')
const admin = kafka.admin()
const consumer = kafka.consumer({ groupId: `fleet-chart-test-${marker}`, sessionTimeout: 10_000, heartbeatInterval: 1_000, allowAutoTopicCreation: false })
const results = new Map<string, string>()
/** seq of each listener's message → its URL; a record of ours found in Kafka removes it. */
const waiting = new Map<number, string>()
let failed = false

async function publishOver (url: string, seq: number, password: string): Promise<void> {
  const client = mqtt.connect(url, {
    clientId: vehicleId,
    username: vehicleId,
    password,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    ca,
    ...(config.serverName === '' ? {} : { servername: config.serverName })
  })
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve())
      client.once('error', reject)
      client.once('close', () => reject(new Error('connection closed before CONNACK')))
    })
    const payload = JSON.stringify({ ...validTelemetry(vehicleId, seq), seq })
    // QoS 1: the PUBACK comes only after Kafka acknowledged the write.
    await client.publishAsync(MqttTopics.telemetry(vehicleId), payload, { qos: 1 })
  } finally {
    await client.endAsync()
  }
}

try {
  await redis.connect()
  const { password } = await store.provision({ kind: 'vehicle', id: vehicleId })
  await admin.connect()
  const start = await admin.fetchTopicOffsets(KafkaTopics.telemetry)
  await consumer.connect()
  await consumer.subscribe({ topic: KafkaTopics.telemetry, fromBeginning: false })
  const joined = new Promise<void>(resolve => consumer.on(consumer.events.GROUP_JOIN, () => resolve()))
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (message.key?.toString() !== vehicleId || message.value === null) return
      try {
        const seq = (JSON.parse(message.value.toString()) as { seq?: number }).seq
        if (seq !== undefined) waiting.delete(seq)
      } catch {}
    }
  })
  // From the offsets before the first publish: a new group would otherwise start at the end as of its join.
  for (const p of start) consumer.seek({ topic: KafkaTopics.telemetry, partition: p.partition, offset: p.offset })
  await Promise.race([joined, new Promise((resolve, reject) => setTimeout(() => reject(new Error('no consumer group join within the timeout')), left()))])
  // seq numbers unique to this run (the marker's time), one per listener
  const base = Date.now() * 10
  for (const [i, url] of config.urls.entries()) {
    const seq = base + i
    // before the publish: the record may be read before the PUBACK arrives here
    waiting.set(seq, url)
    try {
      await publishOver(url, seq, password)
      results.set(url, 'PUBACK received')
    } catch (err) {
      waiting.delete(seq)
      failed = true
      results.set(url, `FAILED: ${(err as Error).message}`)
    }
  }
  while (waiting.size > 0 && Date.now() - started < config.timeoutMs) await new Promise(resolve => setTimeout(resolve, 200))
  for (const [url, result] of results) {
    const inKafka = result.startsWith('PUBACK') && ![...waiting.values()].includes(url)
    if (result.startsWith('PUBACK') && !inKafka) failed = true
    console.log(`${url}\t${result.startsWith('PUBACK') ? (inKafka ? 'ok: telemetry in vehicle.telemetry' : `FAILED: PUBACK but not in ${KafkaTopics.telemetry} after ${config.timeoutMs} ms`) : result}`)
  }
} catch (err) {
  failed = true
  console.error(`chart test failed: ${(err as Error).message}`)
} finally {
  await store.revoke({ kind: 'vehicle', id: vehicleId }).catch(() => {})
  await Promise.race([Promise.allSettled([consumer.disconnect(), admin.disconnect()]), new Promise(resolve => setTimeout(resolve, left()))])
  redis.disconnect()
}
process.exit(failed ? 1 : 0)
