// The commander's consumers outlive a crash that kafkajs does not restart (issue #23's replicated
// fault run: 693 commands stayed pending until the commander was restarted by hand). One test
// crashes the projection's consumer through a fake Kafka (real Redis); one makes the real Kafka
// refuse an anomaly rule's command with a non-retriable error and lifts the refusal again.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { after, test } from 'node:test'
import kafkajs, { type Kafka } from 'kafkajs'
import { Redis } from 'ioredis'
import { createCommander, type FleetCommander } from '../services/commander/src/index.js'
import { createCommandStore } from '../services/shared/src/command-store.js'
import { createLogger } from '../services/shared/src/logger.js'
import { KafkaTopics } from '../services/shared/src/topics.js'
import { testAnomaly } from './helpers/anomalies.js'
import { testCommanderConfig } from './helpers/api.js'
import { testKafka } from './helpers/kafka.js'

const { ConfigResourceTypes } = kafkajs
const redis = new Redis(process.env.FLEET_REDIS_URL ?? 'redis://127.0.0.1:16379')
after(() => redis.disconnect())

async function until (what: string, check: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

const readyz = async (opsPort: number) => (await fetch(`http://127.0.0.1:${opsPort}/readyz`)).status

async function metric (c: FleetCommander, name: string, labels: Record<string, string>): Promise<number> {
  const m = (await c.registry.getMetricsAsJSON()).find(x => x.name === name)
  const v = m?.values.find(x => Object.entries(labels).every(([k, l]) => x.labels[k] === l))
  return v?.value ?? 0
}

/** A kafkajs consumer stand-in: joins when run, and can be made to crash as kafkajs reports it. */
class FakeConsumer extends EventEmitter {
  readonly events = { GROUP_JOIN: 'consumer.group_join', CRASH: 'consumer.crash' }
  running = false
  disconnected = false
  constructor (readonly groupId: string) { super() }
  async connect () {}
  async subscribe () {}
  async run () {
    this.running = true
    setImmediate(() => this.emit(this.events.GROUP_JOIN, { payload: { groupId: this.groupId, memberAssignment: {} } }))
  }

  async disconnect () { this.disconnected = true }
  crash (error: Error, restart: boolean) {
    this.running = false
    this.emit(this.events.CRASH, { payload: { error, groupId: this.groupId, restart } })
  }
}

function fakeKafka () {
  const consumers: FakeConsumer[] = []
  const kafka = {
    consumer: ({ groupId }: { groupId: string }) => {
      const c = new FakeConsumer(groupId)
      consumers.push(c)
      return c
    },
    producer: () => ({ connect: async () => {}, disconnect: async () => {}, send: async () => [] })
  }
  return { kafka: kafka as unknown as Kafka, consumers }
}

test('a projection consumer that kafkajs will not restart is rebuilt; readiness says so meanwhile', async () => {
  const fk = fakeKafka()
  const commander = createCommander(testCommanderConfig(), { kafka: fk.kafka, log: createLogger('commander', process.env.FLEET_TEST_LOG_LEVEL ?? 'silent') })
  const { opsPort } = await commander.start()
  after(() => commander.stop())
  await commander.ready()
  assert.equal(await readyz(opsPort), 200)
  const first = fk.consumers.find(c => c.groupId.endsWith('.events'))!
  // What kafkajs reports for a non-retriable error: CRASH with restart false, and nothing after.
  const cause = Object.assign(new Error('The producer attempted to produce with an old epoch'), { name: 'KafkaJSNonRetriableError' })
  first.crash(cause, false)
  await until('readiness says the consumer is down', async () => await readyz(opsPort) === 503, 2_000)
  await until('a new projection consumer runs', () => fk.consumers.some(c => c !== first && c.groupId === first.groupId && c.running))
  await until('ready again', async () => await readyz(opsPort) === 200)
  assert.equal(await metric(commander, 'fleet_commander_consumer_restarts_total', { consumer: 'events', error: 'KafkaJSNonRetriableError' }), 1)
})

test('an anomaly rule whose command Kafka refuses for good is read again by a rebuilt consumer, not lost', async () => {
  const topic = KafkaTopics.commands
  const kafka = testKafka()
  const admin = kafka.admin()
  await admin.connect()
  const producer = kafka.producer()
  await producer.connect()
  const described = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }] })
  const own = described.resources[0]!.configEntries.filter(e => !e.isDefault && !e.readOnly).map(e => ({ name: e.configName, value: e.configValue }))
  const setTopicConfig = (entries: Array<{ name: string, value: string }>) =>
    admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: entries }] })
  let restored = false
  const restore = async () => {
    if (!restored) await setTopicConfig(own)
    restored = true
  }
  after(async () => {
    await restore()
    await producer.disconnect()
    await admin.disconnect()
  })

  const commander = createCommander(testCommanderConfig({ FLEET_COMMANDER_ANOMALY_RULES: 'coolant_leak=flash-lights' }), { log: createLogger('commander', process.env.FLEET_TEST_LOG_LEVEL ?? 'silent') })
  const { opsPort } = await commander.start()
  after(() => commander.stop())
  await commander.ready()
  const store = createCommandStore(redis, { retentionS: 600 })
  const id = `sup-${randomUUID().slice(0, 8)}`
  const anomaly = testAnomaly(id)
  // Kafka now refuses every command record (MESSAGE_TOO_LARGE: not retriable in kafkajs).
  await setTopicConfig([...own.filter(e => e.name !== 'max.message.bytes'), { name: 'max.message.bytes', value: '64' }])
  await producer.send({ topic: KafkaTopics.anomalies, messages: [{ key: id, value: JSON.stringify(anomaly) }] })
  await until('the rule tried and Kafka refused', async () => (await store.listForVehicle(id, { limit: 10 })).items.some(r => r.status === 'failed'))
  await until('the consumer is counted as restarted', async () => await metric(commander, 'fleet_commander_consumer_restarts_total', { consumer: 'anomalies' }) >= 1)
  await restore()
  await until('the anomaly gave a queued command after all', async () => (await store.listForVehicle(id, { limit: 10 })).items.some(r => r.status !== 'failed'), 60_000)
  await until('ready again', async () => await readyz(opsPort) === 200, 60_000)
  // And the rebuilt consumer keeps serving: the next car's anomaly is a command at once.
  const next = `sup-${randomUUID().slice(0, 8)}`
  await producer.send({ topic: KafkaTopics.anomalies, messages: [{ key: next, value: JSON.stringify({ ...anomaly, vehicleId: next }) }] })
  await until('the next anomaly gave a command', async () => (await store.listForVehicle(next, { limit: 10 })).items.some(r => r.status === 'pending'))
})
