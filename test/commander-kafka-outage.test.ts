// Kafka stopped under a running commander and started again: its projection consumer crashes
// (kafkajs: KafkaJSNonRetriableError, connection refused), is rebuilt by the supervisor, and a
// command event written after the outage still moves its record (issue #23: 693 commands stayed
// pending after the replicated fault run's outage). Runs after the others: it restarts Kafka.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { after, test } from 'node:test'
import { Redis } from 'ioredis'
import { createCommander } from '../services/commander/src/index.js'
import type { CommandEvent, CommandRecord } from '../services/shared/src/command-schema.js'
import { createCommandStore } from '../services/shared/src/command-store.js'
import { createLogger } from '../services/shared/src/logger.js'
import { KafkaTopics } from '../services/shared/src/topics.js'
import { testCommanderConfig } from './helpers/api.js'
import { uniqueFleetPrefix } from './helpers/cars.js'
import { testKafka } from './helpers/kafka.js'

const run = promisify(execFile)
const stack = (...args: string[]) => run('bash', ['scripts/stack.sh', ...args], { cwd: new URL('..', import.meta.url).pathname })
const redis = new Redis(process.env.FLEET_REDIS_URL ?? 'redis://127.0.0.1:16379')
const p = uniqueFleetPrefix('cmd-outage')
after(async () => {
  await stack('up', 'kafka') // whatever happened, leave Kafka running for the next test
  redis.disconnect()
})

const record = (n: number): CommandRecord => {
  const at = new Date().toISOString()
  return { commandId: `${p}-c${n}`, vehicleId: `${p}-car${n}`, type: 'lock', params: {}, status: 'pending', createdAt: at, expiresAt: new Date(Date.now() + 600_000).toISOString(), updatedAt: at, requestedBy: 'test', history: [{ status: 'pending', at, source: 'api' }] }
}

async function sent (r: CommandRecord): Promise<void> {
  const producer = testKafka().producer()
  await producer.connect()
  const e: CommandEvent = { commandId: r.commandId, vehicleId: r.vehicleId, status: 'sent', at: new Date().toISOString(), source: 'broker:test' }
  await producer.send({ topic: KafkaTopics.commandEvents, messages: [{ key: r.vehicleId, value: JSON.stringify(e) }] })
  await producer.disconnect()
}

test('after a Kafka outage the commander\'s projection applies the events written since', { timeout: 240_000 }, async () => {
  const store = createCommandStore(redis, { retentionS: 600 })
  const statusIn = async (r: CommandRecord, ms: number) => {
    for (const deadline = Date.now() + ms; Date.now() < deadline && (await store.get(r.commandId))?.status !== 'sent';) await new Promise(resolve => setTimeout(resolve, 100))
    return (await store.get(r.commandId))?.status
  }
  const commander = createCommander(testCommanderConfig(), { log: createLogger('commander', process.env.FLEET_TEST_LOG_LEVEL ?? 'silent') })
  await commander.start()
  after(() => commander.stop())
  await commander.ready()
  const before = record(0)
  await store.create(before)
  await sent(before)
  assert.equal(await statusIn(before, 10_000), 'sent')
  await stack('down', 'kafka')
  await new Promise(resolve => setTimeout(resolve, 15_000))
  await stack('up', 'kafka')
  const since = record(1)
  await store.create(since)
  await sent(since)
  assert.equal(await statusIn(since, 60_000), 'sent', 'the event written after the outage moved its record')
})
