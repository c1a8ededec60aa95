// Three broker pods as separate processes sharing Redis and Kafka and consuming vehicle.commands
// in one group: a command consumed on one pod reaches a car on another, a persistent session moves
// between pods, a second connection on another pod takes the session over, a consuming pod killed
// mid-stream and a pod joining the group leave every command delivered exactly once, and a pod
// drained with SIGTERM under load loses no acknowledged telemetry.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import mqtt, { type MqttClient } from 'mqtt'
import type { Command, CommandEvent } from '../services/shared/src/command-schema.js'
import { commandKey } from '../services/shared/src/command-store.js'
import { validTelemetry } from '../services/shared/src/telemetry-samples.js'
import { KafkaTopics, MqttTopics } from '../services/shared/src/topics.js'
import { metricValue, startBrokerProcess, startBrokerProcesses, type BrokerProcess } from './helpers/broker-process.js'
import { connectCar, uniqueFleetPrefix } from './helpers/cars.js'
import { collect, endOffsets, type Collector } from './helpers/kafka.js'
import { startTestCommander } from './helpers/api.js'
import { startCommandSender, type CommandSender } from './helpers/commands.js'
import { sessionSubscriptionsKey } from '../services/broker/src/mqtt-engine/index.js'
import { loadBrokerConfig } from '../services/broker/src/broker-config.js'
import { carPassword } from './helpers/credentials.js'

const prefix = uniqueFleetPrefix('cluster')
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
let pods: BrokerProcess[] = []
let A: BrokerProcess, B: BrokerProcess, C: BrokerProcess
const redis = new Redis(loadBrokerConfig().redisUrl, { lazyConnect: true })

// this file's pods share a consumer group of their own
const podEnv = { FLEET_BROKER_DRAIN_MS: '10000', FLEET_BROKER_COMMAND_GROUP: `${prefix}-commands` }

before(async () => {
  await redis.connect()
  // C waits up to 1 s for more records before a Kafka write (FLEET_INGEST_LINGER_MS): between
  // routing a slice of commands and committing it, it holds their `sent` events that long
  pods = [
    ...await startBrokerProcesses(['a', 'b'].map(p => `${prefix}-${p}`), podEnv),
    await startBrokerProcess(`${prefix}-c`, { ...podEnv, FLEET_INGEST_LINGER_MS: '1000' })
  ]
  ;[A, B, C] = pods as [BrokerProcess, BrokerProcess, BrokerProcess]
  sender = await startCommandSender(prefix)
  events = await collect(KafkaTopics.commandEvents, key => key.startsWith(prefix))
  await until('every pod consumes vehicle.commands', async () => (await Promise.all(pods.map(member))).every(Boolean), 30_000)
})
after(async () => {
  await Promise.all(pods.map(p => p.kill('SIGKILL')))
  await sender?.stop()
  await events?.stop()
  redis.disconnect()
})

let sender: CommandSender
let events: Collector
const inbox = (car: MqttClient) => {
  const got: string[] = []
  car.on('message', (_t, p) => got.push(JSON.parse(p.toString()).commandId))
  return got
}
async function until (what: string, ok: () => boolean | Promise<boolean>, ms = 10_000) {
  const deadline = Date.now() + ms
  while (!await ok()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`)
    await sleep(20)
  }
}
const eventsOf = (commandId: string) => events.records.map(r => JSON.parse(r.value.toString()) as CommandEvent).filter(e => e.commandId === commandId)
const member = async (pod: BrokerProcess) => metricValue(await pod.metrics(), 'fleet_broker_command_group_member') === 1

test('commands consumed by any pod reach cars on pod C; `sent` says which pod routed each', async () => {
  const ids = Array.from({ length: 12 }, (_, i) => `${prefix}-ac${i}`)
  const cars = await Promise.all(ids.map(async id => {
    const car = await connectCar(id, C.mqttPort)
    await car.subscribeAsync(MqttTopics.commands(id), { qos: 1 })
    return { id, car, got: inbox(car) }
  }))
  const sent = await sender.sendMany(ids)
  await until('delivered across pods', () => cars.every(c => c.got.length === 1))
  cars.forEach((c, i) => assert.deepEqual(c.got, [sent[i]!.commandId]))
  await events.waitFor(() => sent.every(c => eventsOf(c.commandId).some(e => e.status === 'sent')))
  const routedBy = new Set(sent.map(c => eventsOf(c.commandId).find(e => e.status === 'sent')!.source))
  assert.ok([...routedBy].some(s => s !== `broker:${C.id}`), `some routed by another pod than the car's (${[...routedBy].join(', ')})`)
  await Promise.all(cars.map(c => c.car.endAsync()))
})

test('a persistent session left on A gets a command sent while away, on B, exactly once', async () => {
  const id = `${prefix}-move`
  const first = await connectCar(id, A.mqttPort, { clean: false })
  await first.subscribeAsync(MqttTopics.commands(id), { qos: 1 })
  await first.endAsync()
  // the session holds the subscription; the fleet-wide index every pod loads does not (session-index.ts)
  assert.equal(await redis.hexists(sessionSubscriptionsKey(id), MqttTopics.commands(id)), 1)
  assert.equal(await redis.sismember('clients', id), 0)
  const cmd = await sender.send(id)
  await events.waitFor(() => eventsOf(cmd.commandId).some(e => e.status === 'sent'))
  const back = await connectCar(id, B.mqttPort, { clean: false })
  const got = inbox(back)
  await until('queued command delivered on B', () => got.length >= 1)
  await sleep(500)
  assert.deepEqual(got, [cmd.commandId], 'exactly once')
  // the session now lives on B: the next command reaches it there too
  const next = await sender.send(id)
  await until('next command', () => got.length === 2)
  assert.deepEqual(got, [cmd.commandId, next.commandId])
  await back.endAsync()
})

test('a persistent session that unsubscribed from its commands, or never subscribed, has nothing queued for it', async () => {
  const left = `${prefix}-left`
  const never = `${prefix}-never`
  const car = await connectCar(left, A.mqttPort, { clean: false })
  await car.subscribeAsync(MqttTopics.commands(left), { qos: 1 })
  await car.unsubscribeAsync(MqttTopics.commands(left))
  await car.endAsync()
  await (await connectCar(never, B.mqttPort, { clean: false })).endAsync()
  const sent = await sender.sendMany([left, never])
  await events.waitFor(() => sent.every(c => eventsOf(c.commandId).some(e => e.status === 'sent')))
  assert.deepEqual(await Promise.all([left, never].map(id => redis.llen(`outgoing:${id}`))), [0, 0])
  const back = await connectCar(left, B.mqttPort, { clean: false })
  const got = inbox(back)
  await sleep(500)
  assert.deepEqual(got, [])
  await back.endAsync()
})

test('connecting on B with a client id held on A takes the session over: A drops the old connection', async () => {
  const id = `${prefix}-takeover`
  const old = await connectCar(id, A.mqttPort, { clean: false })
  await old.subscribeAsync(MqttTopics.commands(id), { qos: 1 })
  const closed = new Promise<void>(resolve => old.once('close', () => resolve()))
  const fresh = await connectCar(id, B.mqttPort, { clean: false })
  await closed
  assert.equal(old.connected, false)
  const got = inbox(fresh)
  const cmd = await sender.send(id)
  await until('command to the new connection', () => got.length === 1)
  assert.deepEqual(got, [cmd.commandId])
  old.end(true)
  await fresh.endAsync()
})

test('a consuming pod killed (SIGKILL) mid-stream and a pod joining the group: every command is published to its car once, recorded sent → delivered → acknowledged', async () => {
  const tc = await startTestCommander()
  try {
    // cars on A and B, which stay; C (killed) and D (joining) only consume
    const CARS = 24
    // commandId -> each receipt: the car's connection (a number per connect) and the packet id
    const receipts = new Map<string, Array<{ conn: number, messageId: number | undefined }>>()
    let conns = 0
    const wrongCar: string[] = []
    const connect = async (id: string, pod: BrokerProcess) => {
      // listening before CONNACK: a session's queued commands may come in the same read as it
      const car = mqtt.connect({ host: '127.0.0.1', port: pod.mqttPort, clientId: id, username: id, password: await carPassword(id), clean: false, protocolVersion: 4, reconnectPeriod: 0 })
      const conn = ++conns
      car.on('message', (_t, p, packet) => {
        const c = JSON.parse(p.toString()) as Command
        if (c.vehicleId !== id) wrongCar.push(c.commandId)
        receipts.set(c.commandId, [...receipts.get(c.commandId) ?? [], { conn, messageId: packet.messageId }])
        car.publish(MqttTopics.commandAck(id), JSON.stringify({ commandId: c.commandId, result: 'ok' }), { qos: 1 })
      })
      await new Promise((resolve, reject) => { car.once('connect', resolve); car.once('error', reject) })
      await car.subscribeAsync(MqttTopics.commands(id), { qos: 1 })
      return car
    }
    const cars = await Promise.all(Array.from({ length: CARS }, async (_, i) => {
      const id = `${prefix}-once-${i}`
      return { id, i, car: await connect(id, i % 2 === 0 ? A : B) }
    }))
    const ids = cars.map(c => c.id)
    const commands: Command[] = []
    // records read again and not published: routed before (marked), or answered by then (final)
    const reRead = async (ps: BrokerProcess[]) => (await Promise.all(ps.map(async p => {
      const m = await p.metrics()
      return metricValue(m, 'fleet_broker_commands_skipped_total', 'already_routed') + metricValue(m, 'fleet_broker_commands_skipped_total', '"final"')
    }))).reduce((a, b) => a + b, 0)
    const reReadBefore = await reRead([A, B])
    let streaming = true
    const stream = (async () => {
      for (let k = 0; streaming; k++) {
        commands.push(...await sender.sendMany(Array.from({ length: 8 }, (_, j) => ids[(k * 8 + j) % CARS]!)))
        await sleep(40)
      }
    })()
    // mid-stream: C has routed part of a burst and marked it, and waits on its `sent` events
    // (its linger) before it commits; it dies then, so another pod reads those records again
    await until('C routing commands', async () => metricValue(await C.metrics(), 'fleet_broker_commands_published_total') > 0, 20_000)
    const published = metricValue(await C.metrics(), 'fleet_broker_commands_published_total')
    commands.push(...await sender.sendMany(Array.from({ length: 600 }, (_, j) => ids[j % CARS]!)))
    await until('C routing the burst', async () => metricValue(await C.metrics(), 'fleet_broker_commands_published_total') > published, 10_000)
    await sleep(100) // past the routed marks (a Redis round trip), well inside the linger
    assert.equal(await C.kill('SIGKILL'), null, 'killed, not exited')
    pods = pods.filter(p => p !== C)
    // a third of the cars move to the other pod meanwhile: a new connection knows nothing of
    // what the last one was sent, so only the broker's record of what it routed keeps them from
    // getting C's commands again
    await Promise.all(cars.filter(c => c.i % 3 === 0).map(async c => {
      // the connection is lost, as on a car (a graceful end may PUBACK what it then drops)
      const closed = new Promise<void>(resolve => c.car.once('close', () => resolve()))
      c.car.end(true)
      await closed
      c.car = await connect(c.id, c.i % 2 === 0 ? B : A)
    }))
    await sleep(1_000)
    const [D] = await startBrokerProcesses([`${prefix}-d`], podEnv)
    pods.push(D!)
    C = D! // the drain test below fails cars over to B and this one
    await until('D joined the group', () => member(D!), 30_000)
    await sleep(1_000)
    streaming = false
    await stream
    const want = new Set(commands.map(c => c.commandId))
    await until('every command received', () => [...want].every(id => receipts.has(id)), 60_000)
    await until('every command acknowledged in its record', async () => {
      const pipe = redis.pipeline()
      for (const id of want) pipe.hget(commandKey(id), 'status')
      return ((await pipe.exec()) ?? []).every(([, st]) => st === 'acknowledged')
    }, 60_000)
    await sleep(1_000) // a command published twice would come by now
    // A car that moved may get a command again from its session: the QoS 1 resend, under the same
    // packet id on its new connection, of a delivery whose PUBACK its old pod had not read when the
    // session was read on the new one (seen under load: up to 52 such resends, all on moved cars).
    // The car tells it by its commandId. What must not happen is a second publication of a command,
    // which comes under a new packet id (or twice on one connection).
    const resent = (r: Array<{ conn: number, messageId: number | undefined }>) => r.length === 2 && r[0]!.conn !== r[1]!.conn && r[0]!.messageId === r[1]!.messageId
    const twice = [...receipts].filter(([, r]) => r.length > 1 && !resent(r)).map(([id]) => id)
    const resends = [...receipts].filter(([, r]) => r.length > 1 && resent(r)).length
    const notSentAgain = await reRead([A, B, D!]) - reReadBefore
    console.log(`# ${want.size} commands, ${receipts.size} received, ${twice.length} published twice, ${resends} QoS 1 resends after a move; read again after the kill and not published again (routed or answered by then): ${notSentAgain}`)
    // How many the kill left uncommitted depends on where in C's linger it landed (seen: 2 to 280);
    // services/broker/src/command-intake.test.ts proves what happens to each of them.
    assert.deepEqual(twice.map(id => `${id} ${JSON.stringify(receipts.get(id))}`), [], 'no car got a command published twice')
    assert.deepEqual(wrongCar, [])
    assert.equal(receipts.size, want.size)
    // `delivered` (the car's PUBACK, read by its pod) may land after `acknowledged` (the car's
    // answer, written before its PUBACK): a late step is still recorded in the history.
    const ordered = [...want]
    const histories = async () => {
      const pipe = redis.pipeline()
      for (const id of ordered) pipe.hget(commandKey(id), 'history')
      return ((await pipe.exec()) ?? []).map(([, h], k) => `${ordered[k]} ${(JSON.parse(h as string) as Array<{ status: string }>).map(s => s.status).join()}`)
    }
    const incomplete = async () => (await histories()).filter(h => !h.endsWith(' pending,sent,delivered,acknowledged'))
    await until('every command recorded delivered', async () => (await incomplete()).length === 0, 20_000).catch(() => {})
    assert.deepEqual((await incomplete()).map(h => `${h} ${JSON.stringify(receipts.get(h.split(' ')[0]!))}`), [], 'each recorded pending → sent → delivered → acknowledged')
    await Promise.all(cars.map(c => c.car.endAsync()))
  } finally {
    await tc.stop()
  }
})

test('SIGTERM on a pod under load: it drains, cars move to the others, no acknowledged telemetry is lost', async () => {
  const start = await endOffsets(KafkaTopics.telemetry)
  const CARS = 12
  const acked = new Map<string, Set<number>>()
  let publishing = true
  const cars = await Promise.all(Array.from({ length: CARS }, async (_, i) => {
    const id = `${prefix}-drain-${i}`
    acked.set(id, new Set())
    // every car starts on A and fails over to B or C (mqtt.js walks its server list on reconnect)
    const others = i % 2 === 0 ? [B, C] : [C, B]
    const car = mqtt.connect({
      servers: [A, ...others].map(p => ({ host: '127.0.0.1', port: p.mqttPort })),
      clientId: id,
      username: id,
      password: await carPassword(id),
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: 200,
      keepalive: 10
    })
    await new Promise(resolve => car.once('connect', resolve))
    return { id, car }
  }))
  const loops = cars.map(async ({ id, car }) => {
    let seq = 0
    while (publishing) {
      const batch = Array.from({ length: 4 }, () => seq++)
      await Promise.all(batch.map(async s => {
        await car.publishAsync(MqttTopics.telemetry(id), JSON.stringify(validTelemetry(id, s)), { qos: 1 })
        acked.get(id)!.add(s)
      }))
    }
    return seq
  })
  const total = () => [...acked.values()].reduce((k, s) => k + s.size, 0)
  await sleep(2_000)
  const beforeDrain = total()
  assert.ok(beforeDrain > 200, `load flowing (${beforeDrain})`)
  const code = await A.kill('SIGTERM')
  assert.equal(code, 0, 'A exits cleanly after draining')
  await until('load continues on B and C', () => total() > beforeDrain + 1_000, 30_000)
  publishing = false
  const sent = await Promise.all(loops)
  await Promise.all(cars.map(({ car }) => car.endAsync()))
  const bc = await Promise.all([B, C].map(p => p.metrics()))
  assert.ok(bc.every(m => metricValue(m, 'fleet_broker_messages_in_total', 'class="telemetry"') > 0), 'both survivors took cars')

  const telemetry = await collect(KafkaTopics.telemetry, key => key.startsWith(`${prefix}-drain-`), start)
  await telemetry.waitFor(r => {
    const seen = new Set(r.map(x => `${x.key}/${JSON.parse(x.value.toString()).seq}`))
    return [...acked].every(([id, seqs]) => [...seqs].every(s => seen.has(`${id}/${s}`)))
  }, 60_000)
  await telemetry.stop()
  const published = sent.reduce((a, b) => a + b, 0)
  const unique = new Set(telemetry.records.map(x => `${x.key}/${JSON.parse(x.value.toString()).seq}`)).size
  console.log(`drain: ${total()} acknowledged of ${published} published, ${telemetry.records.length} records, ${telemetry.records.length - unique} duplicates`)
  assert.equal(total(), published, 'every published message was eventually acknowledged')
})
