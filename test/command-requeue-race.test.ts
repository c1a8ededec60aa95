// A command routed while its car reconnects reaches the car twice over: live, through the car's
// restored subscription, and from the session's queue, which aedes reads after the CONNACK. Both
// are the same stored packet; the command relay refuses the queued copy (a connection gets a
// command once), and aedes then cleared the queue entry by the refused copy's packet id — the live
// copy's (written into the stored packet), or one of its own when the queue was read first — and
// the stored packet with it: the live copy, still unacknowledged, left the queue, and the car's
// PUBACK found nothing, so no `delivered` event was written (seen in CI: cluster.test's
// "pending, sent, acknowledged" histories) and a car that dropped before its PUBACK never got the
// command again. Here on the real engine and session store (real Redis); the test only steers when
// aedes reads the queue and when the live copy's delivery is stored, which in production is a race.
import assert from 'node:assert/strict'
import net from 'node:net'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import mqtt from 'mqtt'
import { Registry } from 'prom-client'
import { createBrokerMetrics } from '../services/broker/src/broker-metrics.js'
import { commandsTopicOwner } from '../services/broker/src/acl.js'
import { createCommandRelay } from '../services/broker/src/command-relay.js'
import type { IngestRecord, IngestSink } from '../services/broker/src/kafka-ingest.js'
import { createMqttEngine, createSharedSessions, isExactCommandsTopic, type MqttEngine, type PublishPacket } from '../services/broker/src/mqtt-engine/index.js'
import { createLogger } from '../services/shared/src/logger.js'
import { MqttTopics } from '../services/shared/src/topics.js'
import { uniqueFleetPrefix } from './helpers/cars.js'

const url = process.env.FLEET_REDIS_URL ?? 'redis://127.0.0.1:16379'
const prefix = uniqueFleetPrefix('requeue')
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
async function until (what: string, ok: () => boolean | Promise<boolean>, ms = 5_000) {
  const end = Date.now() + ms
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

type Stream = (client: { id: string }) => AsyncIterable<unknown>
type Update = (client: unknown, packet: unknown) => Promise<unknown>
const conns: Redis[] = []
const conn = () => { const r = new Redis(url); conns.push(r); return r }
let engine: MqttEngine
let server: net.Server
let port: number
const written: IngestRecord[] = []
// Held while set: aedes' read of a session's queue waits for it (after the CONNACK, as always),
// before reading Redis or, with `readFirst`, after reading and before handing aedes the packets.
let queueGate: Promise<void> | null = null
let readFirst = false
let queueRead: () => void = () => {}
// With `readFirst`: called once the queue was read from Redis; the packets wait for `queueHanded`.
let queueReadFromRedis: () => void = () => {}
let queueHanded: Promise<void> = Promise.resolve()
// Held while set: the first delivery (outgoingUpdate) of a packet to a car waits for it.
let liveUpdateGate: Promise<void> | null = null

before(async () => {
  const log = createLogger('test', 'silent')
  const metrics = createBrokerMetrics(new Registry())
  const sink: IngestSink = { write: (r, cb) => { written.push(r); cb() }, pending: () => 0, healthy: () => true, drain: async () => true, close: () => {} }
  const relay = createCommandRelay({ sink, identity: { get: c => c.id, principal: () => undefined }, brokerId: 'requeue', metrics, log })
  const sessions = createSharedSessions({
    connect: () => conn(),
    redis: conn(),
    expirySeconds: 60,
    maxQos2Pending: 16,
    onQos2Full: () => {},
    maySubscribe: (client, filter) => filter === MqttTopics.commands(client.id),
    neverRetained: isExactCommandsTopic,
    ownerOf: commandsTopicOwner,
    onStoreError: () => {},
    watch: () => {}
  })
  const store = sessions.persistence as { outgoingStream: Stream }
  const read = store.outgoingStream.bind(store)
  store.outgoingStream = client => (async function * () {
    if (queueGate !== null) await queueGate
    const packets: unknown[] = []
    for await (const p of read(client)) packets.push(p)
    if (readFirst) {
      queueReadFromRedis()
      await queueHanded
    }
    yield * packets
    queueRead()
  })()
  const update = (store as unknown as { outgoingUpdate: Update }).outgoingUpdate
  ;(store as unknown as { outgoingUpdate: Update }).outgoingUpdate = async (client, packet) => {
    const gate = liveUpdateGate
    if (gate !== null) {
      liveUpdateGate = null
      await gate
    }
    return await update(client, packet)
  }
  engine = createMqttEngine({
    id: `${prefix}-engine`,
    heartbeatMs: 60_000,
    connectTimeoutMs: 5_000,
    maxQos2Pending: 16,
    onQos2Full: () => {},
    slowClientTimeoutMs: 5_000,
    maxPacketBytes: 65_536,
    sessions,
    hooks: {
      preConnect: (_c, _p, done) => done(null, true),
      authenticate: (_c, _u, _p, done) => done(null, true),
      authorizePublish: (_c, _p, done) => done(null),
      authorizeSubscribe: (_c, sub, done) => done(null, sub),
      authorizeForward: relay.authorizeForward
    },
    endsHere: () => false,
    onPacketTooLarge: () => {},
    mqtt5: { receiveMaximum: 64, sessionExpiryMaxS: 3_600, topicAliasMaximum: 0, serverKeepAliveS: 0 }
  })
  relay.attach(engine)
  await engine.start()
  server = net.createServer(socket => engine.handle(socket))
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as net.AddressInfo).port
})

after(async () => {
  for (const c of clients) c.end(true)
  server?.close()
  await engine?.close(2_000)
  for (const r of conns) r.disconnect()
})

const clients: mqtt.MqttClient[] = []
interface Held { commandId: string, ack: () => void }
/** A persistent car that holds its PUBACKs until told to send them. */
async function car (id: string) {
  const held: Held[] = []
  const client = mqtt.connect({
    host: '127.0.0.1',
    port,
    clientId: id,
    clean: false,
    protocolVersion: 4,
    reconnectPeriod: 0
  })
  clients.push(client)
  // mqtt.js sends a QoS 1 PUBACK once handleMessage calls back
  client.handleMessage = (packet, callback) => {
    const p = packet as { payload: Buffer }
    held.push({ commandId: (JSON.parse(p.payload.toString()) as { commandId: string }).commandId, ack: () => callback() })
  }
  await new Promise((resolve, reject) => { client.once('connect', resolve); client.once('error', reject) })
  return { client, held }
}

const command = (vehicleId: string, commandId: string): PublishPacket => ({
  cmd: 'publish',
  topic: MqttTopics.commands(vehicleId),
  payload: Buffer.from(JSON.stringify({ commandId, vehicleId, name: 'lock', expiresAt: new Date(Date.now() + 60_000).toISOString() })),
  qos: 1,
  retain: false,
  dup: false
}) as PublishPacket

const publish = (packet: PublishPacket) => new Promise<void>((resolve, reject) => engine.publish(packet, err => err ? reject(err) : resolve()))
const queued = async (id: string) => { const q: unknown[] = []; for await (const p of engine.queuedFor(id)) q.push(p); return q.length }
const deliveredEvents = (commandId: string) => written.filter(r => r.value.toString().includes(`"commandId":"${commandId}"`) && r.value.toString().includes('"delivered"'))

/** Connects the car again with its queue's read held, routes a command to it, then lets aedes
 *  read the queue (which holds the same command by then). With `readBefore`, the queue is read
 *  from Redis after the command was queued but before its live copy went out, and handed to
 *  aedes after it: the queued copy then gets a packet id of its own. */
async function reconnectWhileRouted (id: string, commandId: string, readBefore = false) {
  let open!: () => void
  queueGate = new Promise<void>(resolve => { open = resolve })
  const read = new Promise<void>(resolve => { queueRead = resolve })
  readFirst = readBefore
  let readFromRedis = Promise.resolve()
  let hand!: () => void
  if (readBefore) {
    readFromRedis = new Promise<void>(resolve => { queueReadFromRedis = resolve })
    queueHanded = new Promise<void>(resolve => { hand = resolve })
    let releaseLive!: () => void
    liveUpdateGate = new Promise<void>(resolve => { releaseLive = resolve })
    void readFromRedis.then(() => releaseLive())
  }
  const again = await car(id)
  const routed = publish(command(id, commandId))
  if (readBefore) {
    await sleep(200) // queued in Redis; the live copy waits for the read
    queueGate = null
    open()
    await readFromRedis
  }
  await routed
  await until('the live copy', () => again.held.length === 1)
  queueGate = null
  open()
  if (readBefore) hand()
  await read
  readFirst = false
  await sleep(100) // aedes clears a refused packet after the read's last item
  return again
}

/** A car whose persistent session holds its commands subscription, and no connection. */
async function leftSession (id: string) {
  const first = await car(id)
  await first.client.subscribeAsync(MqttTopics.commands(id), { qos: 1 })
  await first.client.endAsync()
}

for (const [order, readBefore] of [
  ['the queued copy carries the live copy\'s id', false],
  ['the queue was read before the live copy went out: the queued copy gets an id of its own', true]
] as const) {
  test(`a command routed while its car reconnects (${order}): one delivery, and the PUBACK of it is a delivered event`, async () => {
    const id = `${prefix}-acked-${readBefore ? 'before' : 'after'}`
    const commandId = `cmd-${id}`
    await leftSession(id)
    const again = await reconnectWhileRouted(id, commandId, readBefore)
    assert.equal(again.held.length, 1, 'the queued copy of the command is not written again')
    assert.equal(await queued(id), 1, 'unacknowledged, the command stays in the session\'s queue')
    again.held[0]!.ack()
    await until('the delivered event', () => deliveredEvents(commandId).length === 1, 3_000)
      .catch(() => assert.fail('the car\'s PUBACK of the command wrote no delivered event'))
    assert.equal(await queued(id), 0, 'acknowledged, it leaves the queue')
    await again.client.endAsync()
  })
}

test('a car that drops before its PUBACK of such a command gets it again at its next connection', async () => {
  const id = `${prefix}-dropped`
  await leftSession(id)
  const again = await reconnectWhileRouted(id, 'cmd-dropped')
  assert.equal(again.held.length, 1)
  // the connection is lost before the PUBACK
  const closed = new Promise<void>(resolve => again.client.once('close', () => resolve()))
  again.client.end(true)
  await closed
  await sleep(200)
  const third = await car(id)
  await until('the command again', () => third.held.length === 1, 3_000)
    .catch(() => assert.fail('the command left the queue unacknowledged: never delivered again'))
  assert.equal(third.held[0]!.commandId, 'cmd-dropped')
  third.held[0]!.ack()
  await until('the delivered event', () => deliveredEvents('cmd-dropped').length === 1, 3_000)
  await third.client.endAsync()
})
