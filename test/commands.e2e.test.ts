// Cloud-to-car commands end to end, everything real: Kafka, Redis, the broker (which consumes
// vehicle.commands), the commander (projection, expiry, rules) and the api; cars are mqtt.js
// clients with their own credentials. An operator sends commands over
// HTTP and watches their status; cars answer on vehicles/{id}/commands/ack.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { MqttClient } from 'mqtt'
import { Partitioners, type Producer } from 'kafkajs'
import { testAnomaly } from './helpers/anomalies.js'
import type { Command, CommandEvent, CommandRecord } from '../services/shared/src/command-schema.js'
import { KafkaTopics, MqttTopics } from '../services/shared/src/topics.js'
import { OPERATOR_KEY, READER_KEY, startTestApi, startTestCommander, type TestApi, type TestCommander } from './helpers/api.js'
import { startTestBroker, type TestBroker } from './helpers/broker.js'
import { connectCar, uniqueFleetPrefix } from './helpers/cars.js'
import { collect, testKafka, type Collector } from './helpers/kafka.js'

const p = uniqueFleetPrefix('e2e-cmd')
const RULE = 'coolant_leak=request-diagnostics'
let tb: TestBroker
let tc: TestCommander
let ta: TestApi
let events: Collector
let producer: Producer
const cars: MqttClient[] = []

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

async function send (vehicleId: string, body: unknown, key = OPERATOR_KEY): Promise<{ status: number, body: CommandRecord & { code?: string } }> {
  const res = await fetch(`${ta.url}/v1/vehicles/${vehicleId}/commands`, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: JSON.stringify(body) })
  return { status: res.status, body: await res.json() as CommandRecord & { code?: string } }
}

async function get (vehicleId: string, commandId: string, waitSeconds = 0): Promise<CommandRecord> {
  const res = await fetch(`${ta.url}/v1/vehicles/${vehicleId}/commands/${commandId}?waitSeconds=${waitSeconds}`, { headers: { 'x-api-key': READER_KEY } })
  assert.equal(res.status, 200)
  return await res.json() as CommandRecord
}

async function until<T> (what: string, probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await probe()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`)
    await sleep(50)
  }
}

/** A car that records its commands and answers each with `answer` (or not at all). */
async function car (id: string, opts: { clean?: boolean, answer?: 'ok' | 'rejected' | 'failed' | null, subscribe?: boolean } = {}) {
  const client = await connectCar(id, tb.mqttPort, { clean: opts.clean ?? true })
  cars.push(client)
  const got: Command[] = []
  client.on('message', (topic, payload) => {
    if (topic !== MqttTopics.commands(id)) return
    const c = JSON.parse(payload.toString()) as Command
    got.push(c)
    if (opts.answer != null) client.publish(MqttTopics.commandAck(id), JSON.stringify({ commandId: c.commandId, result: opts.answer, detail: `car says ${opts.answer}` }), { qos: 1 })
  })
  if (opts.subscribe ?? true) await client.subscribeAsync(MqttTopics.commands(id), { qos: 1 })
  return { client, got }
}

const eventsOf = (commandId: string) => events.records.map(r => JSON.parse(r.value.toString()) as CommandEvent).filter(e => e.commandId === commandId)

before(async () => {
  tb = await startTestBroker()
  ;[tc, ta] = await Promise.all([
    startTestCommander({ FLEET_COMMANDER_EXPIRY_GRACE_MS: '300', FLEET_COMMANDER_SWEEP_INTERVAL_MS: '200', FLEET_COMMANDER_ANOMALY_RULES: RULE, FLEET_COMMANDER_ANOMALY_COOLDOWN_S: '60' }),
    startTestApi(),
    tb.commandsJoined()
  ])
  events = await collect(KafkaTopics.commandEvents, key => key.startsWith(p))
  producer = testKafka().producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
})

after(async () => {
  for (const c of cars) c.end(true)
  await producer?.disconnect()
  await events?.stop()
  await ta?.stop()
  await tc?.stop()
  await tb?.stop()
})

test('a command to an online car: pending → sent → delivered → acknowledged, seen by a long-poll and on vehicle.command-events', async () => {
  const id = `${p}-online`
  const { got } = await car(id, { answer: 'ok' })
  const started = Date.now()
  const created = await send(id, { type: 'set-telemetry-interval', params: { intervalMs: 5_000 } })
  assert.equal(created.status, 201)
  const done = await get(id, created.body.commandId, 15)
  const ms = Date.now() - started
  assert.equal(done.status, 'acknowledged')
  assert.equal(done.detail, 'car says ok')
  // mqtt.js answers in its message handler, before it PUBACKs: the car's ack usually reaches the
  // log before the broker's `delivered`, which then lands in the history without moving the status.
  const full = await until('delivered in the history', async () => { const r = await get(id, created.body.commandId); return r.history.length === 4 && r })
  assert.equal(full.status, 'acknowledged')
  assert.deepEqual(full.history.map(h => h.status), ['pending', 'sent', 'delivered', 'acknowledged'])
  assert.deepEqual(full.history.map(h => h.source), ['api', `broker:${tb.broker.id}`, `broker:${tb.broker.id}`, `broker:${tb.broker.id}`])
  assert.equal(got.length, 1)
  assert.deepEqual(got[0]!.params, { intervalMs: 5_000 })
  await events.waitFor(() => eventsOf(done.commandId).length >= 4)
  assert.deepEqual(eventsOf(done.commandId).map(e => e.status).sort(), ['acknowledged', 'delivered', 'pending', 'sent'])
  console.log(`# acknowledged ${ms} ms after the POST (HTTP → Kafka → broker → car → ack → Kafka → commander → Redis → long-poll)`)
})

test('server-sent events follow a command to its end: a car that rejects it', async () => {
  const id = `${p}-rejects`
  await car(id, { answer: 'rejected' })
  const created = await send(id, { type: 'unlock' })
  const res = await fetch(`${ta.url}/v1/vehicles/${id}/commands/${created.body.commandId}/events`, { headers: { authorization: `Bearer ${READER_KEY}` } })
  assert.equal(res.status, 200)
  const text = await res.text() // the stream ends after the final status
  const statuses = [...text.matchAll(/event: command\ndata: (.*)\n/g)].map(m => (JSON.parse(m[1]!) as CommandRecord).status)
  assert.equal(statuses[statuses.length - 1], 'rejected')
  assert.ok(statuses.length >= 2, statuses.join(','))
  const final = await get(id, created.body.commandId)
  assert.equal(final.detail, 'car says rejected')
})

test('an offline car with a persistent session gets its command when it reconnects', async () => {
  const id = `${p}-offline`
  const first = await car(id, { clean: false })
  await first.client.endAsync()
  const created = await send(id, { type: 'lock', ttlSeconds: 60 })
  // queued at the broker for the car's session: sent, not delivered
  await until('sent', async () => (await get(id, created.body.commandId)).status === 'sent')
  await sleep(300)
  assert.equal((await get(id, created.body.commandId)).status, 'sent')
  const back = await car(id, { clean: false, answer: 'ok', subscribe: false })
  const done = await get(id, created.body.commandId, 15)
  assert.equal(done.status, 'acknowledged')
  assert.deepEqual(back.got.map(c => c.commandId), [created.body.commandId])
})

test('a command whose TTL passes while the car is away expires and is never delivered', async () => {
  const id = `${p}-expires`
  const first = await car(id, { clean: false })
  await first.client.endAsync()
  const created = await send(id, { type: 'flash-lights', ttlSeconds: 5 })
  const final = await get(id, created.body.commandId, 15)
  assert.equal(final.status, 'expired')
  assert.match(final.detail ?? '', /not delivered/)
  assert.deepEqual(final.history.map(h => h.status), ['pending', 'sent', 'expired'])
  const back = await car(id, { clean: false, answer: 'ok', subscribe: false })
  await sleep(700)
  assert.deepEqual(back.got, [], 'the broker did not deliver the expired command')
  assert.equal((await get(id, created.body.commandId)).status, 'expired')
})

test('a car cannot subscribe to another car\'s commands, nor answer for them', async () => {
  const victim = `${p}-victim`
  const thief = `${p}-thief`
  await car(victim, { answer: null })
  const t = await car(thief, { subscribe: false })
  const granted = await t.client.subscribeAsync(MqttTopics.commands(victim), { qos: 1 }).then(g => g.map(x => x.qos), (err: { packet?: { granted: number[] } }) => err.packet?.granted ?? [])
  assert.deepEqual(granted, [128])
  const seen: string[] = []
  t.client.on('message', topic => seen.push(topic))
  const created = await send(victim, { type: 'unlock' })
  await until('delivered', async () => (await get(victim, created.body.commandId)).status === 'delivered')
  // the thief acks the victim's command on its own topic: the broker ties the ack to the thief, the record ignores it
  await t.client.publishAsync(MqttTopics.commandAck(thief), JSON.stringify({ commandId: created.body.commandId, result: 'ok' }), { qos: 1 })
  await until('thief ack on Kafka', () => events.records.some(r => r.key === thief))
  await sleep(500)
  assert.equal((await get(victim, created.body.commandId)).status, 'delivered')
  assert.deepEqual(seen, [])
  assert.ok(await tc.commander.registry.getSingleMetric('fleet_commander_events_total')?.get().then(m => m.values.some(v => v.labels.outcome === 'mismatch' && v.value >= 1)))
})

test('a read-only key cannot send a command', async () => {
  const id = `${p}-readonly`
  const { got } = await car(id, { answer: 'ok' })
  const res = await send(id, { type: 'lock' }, READER_KEY)
  assert.equal(res.status, 403)
  assert.equal(res.body.code, 'forbidden')
  await sleep(300)
  assert.deepEqual(got, [])
})

test('the anomaly rule (on here; off by default) sends request-diagnostics once per cooldown', async () => {
  const id = `${p}-anomalous`
  const { got } = await car(id, { answer: 'ok' })
  const anomaly = testAnomaly(id, { seq: 7 })
  await producer.send({ topic: KafkaTopics.anomalies, messages: [{ key: id, value: JSON.stringify(anomaly) }, { key: id, value: JSON.stringify({ ...anomaly, seq: 8 }) }] })
  await until('diagnostics requested', () => got.length >= 1)
  assert.equal(got[0]!.type, 'request-diagnostics')
  assert.match(String(got[0]!.params.reason), /coolant_leak/)
  const list = await (await fetch(`${ta.url}/v1/vehicles/${id}/commands`, { headers: { 'x-api-key': READER_KEY } })).json() as { items: CommandRecord[] }
  assert.equal(list.items.length, 1)
  assert.equal(list.items[0]!.requestedBy, `rule:${RULE}`)
  await until('acknowledged', async () => (await get(id, list.items[0]!.commandId)).status === 'acknowledged')
  await sleep(500)
  assert.equal(got.length, 1, 'the second anomaly fell in the cooldown')
})

test('a forged vehicle.commands record reusing a live command id sends nothing: the broker publishes only stored records', async () => {
  const a = `${p}-forge-a`
  const b = `${p}-forge-b`
  const carA = await car(a)
  const carB = await car(b)
  const created = await send(a, { type: 'lock' })
  assert.equal(created.status, 201)
  await until('car A got its lock', () => carA.got.length === 1)
  const skipped = async () => await tb.metric('fleet_broker_commands_skipped_total', { reason: 'mismatch' })
  const before = await skipped()
  // Someone who can write to vehicle.commands reuses the (still delivered, not final) id.
  const { commandId, createdAt, expiresAt } = created.body
  const forged: Command[] = [
    { commandId, vehicleId: b, type: 'unlock', params: {}, createdAt, expiresAt },
    { commandId, vehicleId: a, type: 'unlock', params: {}, createdAt, expiresAt },
    { commandId, vehicleId: a, type: 'ota-update', params: { version: '9.9.9', url: 'http://evil.example/fw.bin' }, createdAt, expiresAt }
  ]
  await producer.send({ topic: KafkaTopics.commands, acks: -1, messages: forged.map(c => ({ key: c.vehicleId, value: JSON.stringify(c) })) })
  await until('the forged records refused (or delivered)', async () => (await skipped()) - before >= forged.length || carB.got.length > 0 || carA.got.length > 1)
  await sleep(500)
  assert.deepEqual(carB.got, [], 'car B got nothing')
  assert.deepEqual(carA.got.map(c => c.type), ['lock'], 'car A got only its own command')
  assert.equal((await skipped()) - before, forged.length)
})

test('while the broker is down commands wait; after it is back the car gets each exactly once (runs last: restarts the broker)', async () => {
  const id = `${p}-restart`
  const first = await car(id, { clean: false })
  await first.client.endAsync()
  const port = tb.mqttPort
  await tb.stop()
  const created = await send(id, { type: 'lock' })
  assert.equal(created.status, 201)
  // nobody consumes vehicle.commands meanwhile: the command waits there, uncommitted
  await sleep(3_000)
  assert.equal((await get(id, created.body.commandId)).status, 'pending')
  tb = await startTestBroker({ FLEET_MQTT_PORT: String(port) })
  const back = await car(id, { clean: false, answer: 'ok', subscribe: false })
  const done = await get(id, created.body.commandId, 20)
  assert.equal(done.status, 'acknowledged')
  await sleep(500)
  assert.deepEqual(back.got.map(c => c.commandId), [created.body.commandId])
})
