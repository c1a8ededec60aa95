// Production's shape on loopback (scripts/stack.sh --replicated: three KRaft nodes, topics with
// replication 3 and min.insync.replicas=2; Redis master + replica + three Sentinels), started by
// this file on ports of its own (the suite's + 100) and removed at the end. A broker process finds
// Redis through the Sentinels. Proven here: the leader of a busy partition killed costs no car its
// connection and no acknowledged record; with two of three nodes down PUBACKs are held, not lost;
// the Redis master killed, Sentinel promotes the replica and the broker follows it (a new car's
// credential check, a persistent session, a revocation), its readiness true throughout; so do the
// scorer's batch writes, on their own connection (services/scorer/src/redis-pipeline.ts).
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { after, before, test } from 'node:test'
import { promisify } from 'node:util'
import mqtt, { type MqttClient } from 'mqtt'
import { createCredentialStore, provisionBulk } from '../services/shared/src/credential-store.js'
import { createRedis, type RedisSettings } from '../services/shared/src/redis-connection.js'
import { createWriteBatch } from '../services/scorer/src/redis-batch.js'
import { RedisPipeline, targetOf } from '../services/scorer/src/redis-pipeline.js'
import { validTelemetry } from '../services/shared/src/telemetry-samples.js'
import { KafkaTopics, MqttTopics } from '../services/shared/src/topics.js'
import { startBrokerProcess, type BrokerProcess } from './helpers/broker-process.js'
import { connectCar, uniqueFleetPrefix } from './helpers/cars.js'
import { collect, endOffsets, testKafka } from './helpers/kafka.js'

const run = promisify(execFile)
const root = new URL('..', import.meta.url).pathname
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
const kafkaPort = Number(process.env.FLEET_KAFKA_PORT ?? 19092) + 100
const redisPort = Number(process.env.FLEET_REDIS_PORT ?? 16379) + 100
const dir = `${process.env.FLEET_STACK_DIR ?? `${root}.stack`}-replicated`
// the suite's loopback addresses (FLEET_KAFKA_HOST / FLEET_REDIS_HOST, as scripts/stack.sh takes them)
const kafkaHost = process.env.FLEET_KAFKA_HOST ?? '127.0.0.1'
const redisHost = process.env.FLEET_REDIS_HOST ?? '127.0.0.1'
const stackEnv = {
  ...process.env,
  FLEET_STACK_TOPOLOGY: 'replicated',
  FLEET_STACK_DIR: dir,
  FLEET_KAFKA_PORT: String(kafkaPort),
  FLEET_KAFKA_CONTROLLER_PORT: String(kafkaPort + 1),
  FLEET_REDIS_PORT: String(redisPort),
  FLEET_KAFKA_SASL: '0',
  FLEET_KAFKA_HOST: kafkaHost,
  FLEET_KAFKA_HOSTS: '',
  FLEET_REDIS_HOST: redisHost,
  FLEET_KAFKA_NETNS: '',
  FLEET_SENTINEL_DOWN_AFTER_MS: '2000'
}
const stack = (...args: string[]) => run('bash', ['scripts/stack.sh', ...args], { cwd: root, env: stackEnv })
const brokers = [0, 1, 2].map(i => `${kafkaHost}:${kafkaPort + 10 * i}`).join(',')
const sentinels = [2, 3, 4].map(i => `${redisHost}:${redisPort + i}`)
const redisSettings: RedisSettings = { redisUrl: `redis://${redisHost}:${redisPort}`, redisSentinels: sentinels, redisSentinelName: 'fleet' }
const pidOf = (name: string) => Number(readFileSync(`${dir}/${name}/pid`, 'utf8'))
const prefix = uniqueFleetPrefix('replicated')
let broker: BrokerProcess
let redis: ReturnType<typeof createRedis>
const passwords = new Map<string, string>()
const cars: MqttClient[] = []

async function masterPort (): Promise<number> {
  const { stdout } = await run('redis-cli', ['-h', redisHost, '-p', String(redisPort + 2), 'sentinel', 'get-master-addr-by-name', 'fleet'])
  return Number(stdout.split('\n')[1])
}

before(async () => {
  await stack('reset').catch(() => {})
  await stack('up')
  await run(process.execPath, ['--import', 'tsx', 'scripts/kafka-topics.ts'], { cwd: root, env: { ...process.env, FLEET_KAFKA_BROKERS: brokers, FLEET_KAFKA_TOPIC_REPLICATION: '3', FLEET_KAFKA_TOPIC_MIN_ISR: '2' } })
  // the test's own Kafka clients (helpers/kafka.ts) read this when they are made
  process.env.FLEET_KAFKA_BROKERS = brokers
  redis = createRedis(redisSettings)
  redis.on('error', () => {}) // the failover below makes it reconnect; ioredis would print each try
  for (const [id, p] of await provisionBulk(redis, Array.from({ length: 12 }, (_, i) => `${prefix}-${i}`))) passwords.set(id, p)
  broker = await startBrokerProcess(`${prefix}-broker`, {
    FLEET_KAFKA_BROKERS: brokers,
    FLEET_REDIS_URL: redisSettings.redisUrl,
    FLEET_REDIS_SENTINELS: sentinels.join(','),
    FLEET_REDIS_SENTINEL_NAME: 'fleet'
  })
})

after(async () => {
  for (const c of cars) c.end(true)
  await broker?.kill('SIGTERM')
  redis?.disconnect()
  await stack('reset')
})

const car = (i: number, opts: Parameters<typeof connectCar>[2] = {}) => connectCar(`${prefix}-${i}`, broker.mqttPort, { password: passwords.get(`${prefix}-${i}`), keepalive: 10, ...opts })

test('npm run topics with replication 3 and min ISR 2 makes topics that keep three replicas and need two', async () => {
  const admin = testKafka().admin()
  await admin.connect()
  try {
    const meta = await admin.fetchTopicMetadata({ topics: [KafkaTopics.telemetry] })
    assert.ok(meta.topics[0]!.partitions.every(p => p.replicas.length === 3), 'three replicas per partition')
    const configs = await admin.describeConfigs({ resources: [{ type: 2, name: KafkaTopics.telemetry, configNames: ['min.insync.replicas', 'unclean.leader.election.enable'] }], includeSynonyms: false })
    const entries = Object.fromEntries(configs.resources[0]!.configEntries.map(e => [e.configName, e.configValue]))
    assert.deepEqual(entries, { 'min.insync.replicas': '2', 'unclean.leader.election.enable': 'false' })
  } finally {
    await admin.disconnect()
  }
})

test('a Kafka leader SIGKILLed: cars stay connected, PUBACKs go on; two of three down: PUBACKs held; back: nothing acknowledged is lost', async () => {
  const start = await endOffsets(KafkaTopics.telemetry)
  const fleet = await Promise.all(Array.from({ length: 8 }, (_, i) => car(i)))
  cars.push(...fleet)
  const acked = new Map<string, number[]>()
  let publishing = true
  const loops = fleet.map(async (c, i) => {
    const id = `${prefix}-${i}`
    acked.set(id, [])
    let seq = 0
    while (publishing) {
      const batch = Array.from({ length: 5 }, () => seq++)
      await Promise.all(batch.map(async s => {
        await c.publishAsync(MqttTopics.telemetry(id), JSON.stringify(validTelemetry(id, s)), { qos: 1 })
        acked.get(id)!.push(s)
      }))
    }
  })
  const total = () => [...acked.values()].reduce((n, a) => n + a.length, 0)
  await sleep(2_000)
  assert.ok(total() > 100, `flowing before the fault (${total()})`)

  // the node that leads most of vehicle.telemetry's partitions
  const admin = testKafka().admin()
  await admin.connect()
  const leaders = (await admin.fetchTopicMetadata({ topics: [KafkaTopics.telemetry] })).topics[0]!.partitions.map(p => p.leader)
  await admin.disconnect()
  const busiest = [1, 2, 3].sort((a, b) => leaders.filter(l => l === b).length - leaders.filter(l => l === a).length)[0]!
  process.kill(pidOf(`kafka-${busiest}`), 'SIGKILL')
  const atKill = total()
  // The controller fences the dead node after broker.session.timeout.ms (9 s) and elects leaders
  // from the in-sync replicas; PUBACKs of the moved partitions wait that long, none fails.
  const deadline = Date.now() + 40_000
  while (total() < atKill + 500 && Date.now() < deadline) await sleep(200)
  assert.ok(total() >= atKill + 500, `PUBACKs go on with one node dead (${total() - atKill} since the kill)`)
  assert.ok(fleet.every(c => c.connected), 'no car disconnected')

  const second = [1, 2, 3].find(n => n !== busiest)!
  process.kill(pidOf(`kafka-${second}`), 'SIGKILL')
  await sleep(8_000)
  const stalled = total()
  await sleep(4_000)
  assert.equal(total(), stalled, 'no PUBACK with one in-sync replica of three (min.insync.replicas=2)')
  assert.ok(fleet.every(c => c.connected), 'cars stay connected while their PUBACKs are held')
  const ready = await fetch(`http://127.0.0.1:${broker.opsPort}/readyz`)
  assert.equal(ready.status, 200, 'a Kafka outage leaves the pod ready')

  await Promise.all([stack('up', `kafka-${busiest}`), stack('up', `kafka-${second}`)])
  const back = Date.now() + 90_000
  while (total() <= stalled + 500 && Date.now() < back) await sleep(200)
  assert.ok(total() > stalled + 500, 'PUBACKs flow again once the nodes are back')
  publishing = false
  await Promise.all(loops)

  const telemetry = await collect(KafkaTopics.telemetry, key => key.startsWith(prefix), start)
  const missing = (r: typeof telemetry.records) => {
    const seen = new Set(r.map(x => `${x.key}/${JSON.parse(x.value.toString()).seq}`))
    return [...acked].flatMap(([id, seqs]) => seqs.filter(s => !seen.has(`${id}/${s}`)).map(s => `${id}/${s}`))
  }
  // every path stops its readers: a consumer left running kept this file's process alive (8 min)
  try {
    await telemetry.waitFor(r => missing(r).length === 0, 60_000)
  } catch {
    // A second reader before calling anything lost: on 2026-12-06 the first one (a group that seeks
    // to the offsets of the test's start) failed 4 of 5 runs, at eaf2f6b too, having read nothing
    // from one partition whose records Kafka had (high watermark 870) after the two nodes came back.
    // This one reads this file's own topic from the beginning, with no seek.
    await telemetry.stop()
    const again = await collect(KafkaTopics.telemetry, key => key.startsWith(prefix), 'earliest')
    try {
      await again.waitFor(r => missing(r).length === 0, 60_000).catch(() => {})
      const m = missing(again.records)
      assert.equal(m.length, 0, `acknowledged but not in vehicle.telemetry: ${m.length} of ${total()} (${m.slice(0, 10).join(', ')})`)
    } finally {
      await again.stop()
    }
    return
  }
  await telemetry.stop()
})

test('the Redis master SIGKILLed: Sentinel promotes the replica and the broker follows it, ready throughout', async () => {
  // The scorer's batch writes follow the client that found the master through the Sentinels.
  const pipeline = new RedisPipeline(() => targetOf(redis))
  const write = (v: string) => {
    const b = createWriteBatch()
    b.hset(`${prefix}:scorer-batch`, 'v', v)
    return b.send(pipeline)
  }
  await write('before')
  assert.equal(await redis.hget(`${prefix}:scorer-batch`, 'v'), 'before')
  // a car with a persistent session and its commands subscription, replicated before the kill
  const sessionCar = await car(8, { clean: false, clientId: `${prefix}-8` })
  await sessionCar.subscribeAsync(MqttTopics.commands(`${prefix}-8`), { qos: 1 })
  const revokedLater = await car(9)
  cars.push(revokedLater)
  await sleep(1_000)
  const oldMaster = await masterPort()
  assert.equal(oldMaster, redisPort)
  let notReady = 0
  let polling = true
  const poll = (async () => {
    while (polling) {
      const res = await fetch(`http://127.0.0.1:${broker.opsPort}/readyz`).catch(() => null)
      if (res?.status !== 200) notReady++
      await sleep(200)
    }
  })()
  const killedAt = Date.now()
  process.kill(pidOf('redis'), 'SIGKILL')
  const deadline = Date.now() + 30_000
  while (await masterPort() === oldMaster && Date.now() < deadline) await sleep(200)
  assert.equal(await masterPort(), redisPort + 1, 'the replica is the master now')
  const failoverMs = Date.now() - killedAt

  // A new car's credential check reads Redis: through the Sentinels it reaches the new master.
  let fresh: MqttClient | null = null
  const connectDeadline = Date.now() + 20_000
  while (fresh === null && Date.now() < connectDeadline) {
    fresh = await car(10).catch(() => null)
    if (fresh === null) await sleep(500)
  }
  assert.ok(fresh !== null, 'a new car connects after the failover')
  cars.push(fresh)

  // The persistent session was on the replica: the car finds it after the failover.
  await sessionCar.endAsync()
  const again = mqtt.connect(`mqtt://127.0.0.1:${broker.mqttPort}`, { clientId: `${prefix}-8`, username: `${prefix}-8`, password: passwords.get(`${prefix}-8`), protocolVersion: 4, clean: false, reconnectPeriod: 0, keepalive: 10 })
  cars.push(again)
  const connack = await new Promise<boolean>((resolve, reject) => {
    again.once('connect', packet => resolve(packet.sessionPresent))
    again.once('error', reject)
  })
  assert.equal(connack, true, 'session present after the failover')

  // A revocation is published on the new master; the broker's subscriber followed it there.
  const dropped = new Promise<void>(resolve => revokedLater.once('close', () => resolve()))
  await createCredentialStore(redis).revoke({ kind: 'vehicle', id: `${prefix}-9` })
  await Promise.race([dropped, sleep(10_000).then(() => { throw new Error('revoked car not dropped within 10 s of a revocation after the failover') })])
  // A scorer retries a failed batch: within the deadline one lands, on the new master.
  let landed = false
  const writeDeadline = Date.now() + 20_000
  while (!landed && Date.now() < writeDeadline) {
    landed = await write('after').then(() => true, () => false)
    if (!landed) await sleep(250)
  }
  pipeline.close()
  assert.ok(landed, "the scorer's batch writes land after the failover")
  const { stdout: onNew } = await run('redis-cli', ['-h', redisHost, '-p', String(redisPort + 1), 'hget', `${prefix}:scorer-batch`, 'v'])
  assert.equal(onNew.trim(), 'after', 'written on the new master')
  polling = false
  await poll
  assert.equal(notReady, 0, 'readiness stayed true through the failover')
  console.log(`# Redis failover: new master named ${failoverMs} ms after the SIGKILL`)
  await stack('up', 'redis-1') // the old master comes back as the new master's replica
  const { stdout } = await run('redis-cli', ['-h', redisHost, '-p', String(redisPort), 'role'])
  assert.match(stdout, /^slave/, 'the old master rejoined as a replica')
})
