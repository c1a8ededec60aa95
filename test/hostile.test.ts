// Hostile and broken clients: each leaves the broker alive, its memory bounded, other cars
// served and a metric moved. The broker runs in this process, so a crash fails the test.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { connect as netConnect } from 'node:net'
import mqttPacket, { type Packet } from 'mqtt-packet'
import { seededRandom } from '../services/shared/src/seeded-random.js'
import { validTelemetry } from '../services/shared/src/telemetry-samples.js'
import { MqttTopics } from '../services/shared/src/topics.js'
import { startTestBroker, type TestBroker } from './helpers/broker.js'
import { connackCode, connectCar, uniqueFleetPrefix } from './helpers/cars.js'
import { connectPacket, rawConnect } from './helpers/raw-mqtt.js'
import { carPassword } from './helpers/credentials.js'
import { startCommandSender } from './helpers/commands.js'

const prefix = uniqueFleetPrefix('hostile')
let tb: TestBroker
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

before(async () => {
  // every client here is 127.0.0.1: no per-address limits (the fuzzer's broken CONNECTs are failed logins)
  tb = await startTestBroker({ FLEET_MQTT_CONNECT_TIMEOUT_MS: '500', FLEET_SLOW_CLIENT_TIMEOUT_MS: '1500', FLEET_CONNECT_RATE_PER_ADDRESS: '0', FLEET_AUTH_FAILURES_PER_MINUTE: '0' })
})
after(async () => { await tb?.stop() })

/** A healthy car connects and gets its PUBACK within 5 s. */
async function othersServed (tag: string) {
  const id = `${prefix}-ok-${tag}`
  const car = await connectCar(id, tb.mqttPort)
  const t0 = Date.now()
  await car.publishAsync(MqttTopics.telemetry(id), JSON.stringify(validTelemetry(id, 0)), { qos: 1 })
  assert.ok(Date.now() - t0 < 5_000)
  await car.endAsync()
}
const heapMB = () => process.memoryUsage().heapUsed / 2 ** 20

test('a socket that never sends CONNECT is closed after the connect timeout', async () => {
  const raw = await rawConnect(tb.mqttPort)
  const t0 = Date.now()
  await raw.closed
  const waited = Date.now() - t0
  assert.ok(waited >= 400 && waited < 5_000, `closed after ${waited} ms`)
})

test('half a CONNECT and a stall: closed after the connect timeout; half a PUBLISH after CONNECT: closed by keepalive', async () => {
  const raw = await rawConnect(tb.mqttPort)
  const id = `${prefix}-half`
  raw.send(connectPacket(id, id, (await carPassword(id))).subarray(0, 10))
  await raw.closed
  const raw2 = await rawConnect(tb.mqttPort)
  raw2.send(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: id, keepalive: 1, username: id, password: Buffer.from((await carPassword(id))) } as Packet))
  await raw2.next('connack')
  const publish = mqttPacket.generate({ cmd: 'publish', topic: MqttTopics.telemetry(id), payload: Buffer.from(JSON.stringify(validTelemetry(id, 0))), qos: 1, messageId: 1, retain: false, dup: false } as Packet)
  raw2.send(publish.subarray(0, 20))
  const t0 = Date.now()
  await raw2.closed
  assert.ok(Date.now() - t0 < 5_000, 'keepalive 1 s: closed within 1.5 s plus timer slack')
  await othersServed('half')
})

test('a CONNECT flood from one address is rate-limited at accept', async () => {
  const limited = await startTestBroker({ FLEET_CONNECT_RATE_PER_ADDRESS: '20' })
  try {
    const t0 = Date.now()
    const codes = await Promise.all(Array.from({ length: 100 }, (_, i) => connackCode(`${prefix}-f${i}`, limited.mqttPort).catch(() => -1)))
    const seconds = (Date.now() - t0) / 1_000
    const accepted = codes.filter(c => c === 0).length
    // a burst of 20, then 20 per second for as long as the flood lasted
    assert.ok(accepted >= 20 && accepted <= 20 + Math.ceil(20 * seconds) + 1, `accepted ${accepted} of 100 in ${seconds} s`)
    assert.equal(await limited.metric('fleet_broker_refused_total', { reason: 'address_rate' }), 100 - accepted)
  } finally {
    await limited.stop()
  }
})

test('a QoS 0 flood from 50 clients, one trying a wildcard subscription, does not take the broker down', async () => {
  const watcher = await connectCar(`${prefix}-watch`, tb.mqttPort)
  const grants = await watcher.subscribeAsync('#', { qos: 0 }).then(g => g.map(x => x.qos), (err: { packet: { granted: number[] } }) => err.packet.granted)
  assert.deepEqual(grants, [128])
  const cars = await Promise.all(Array.from({ length: 50 }, (_, i) => connectCar(`${prefix}-q0-${i}`, tb.mqttPort)))
  const before = await tb.metric('fleet_broker_messages_in_total', { qos: '0' })
  const heap0 = heapMB()
  const until = Date.now() + 3_000
  await Promise.all(cars.map(async (car, i) => {
    const id = `${prefix}-q0-${i}`
    const telemetry = JSON.stringify(validTelemetry(id, 0))
    while (Date.now() < until) {
      for (let k = 0; k < 50; k++) {
        car.publish(MqttTopics.telemetry(id), telemetry, { qos: 0 })
        car.publish(MqttTopics.status(id), 'online', { qos: 0 })
      }
      await sleep(1)
    }
  }))
  await othersServed('flood')
  const moved = await tb.metric('fleet_broker_messages_in_total', { qos: '0' }) - before
  assert.ok(moved > 10_000, `${moved} QoS 0 messages handled`)
  assert.ok(heapMB() - heap0 < 300, `heap grew ${Math.round(heapMB() - heap0)} MB`)
  await Promise.all([...cars, watcher].map(c => c.endAsync()))
})

test('a subscriber that never reads is dropped; the publisher is not slowed', async () => {
  const id = `${prefix}-deaf`
  const raw = await rawConnect(tb.mqttPort)
  raw.send(connectPacket(id, id, (await carPassword(id))))
  await raw.next('connack')
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: MqttTopics.commands(id), qos: 1 }] } as Packet)
  await raw.next('suback')
  raw.socket.pause() // stop reading: the broker's writes back up
  const sender = await startCommandSender(`${prefix}-deaf`)
  const routed0 = await tb.metric('fleet_broker_commands_published_total')
  await sender.sendMany(Array.from({ length: 3_000 }, () => id), { type: 'lock', params: { blob: 'x'.repeat(8_000) } })
  const t0 = Date.now()
  while (await tb.metric('fleet_broker_commands_published_total') - routed0 < 3_000 && Date.now() - t0 < 30_000) await sleep(50)
  const publishMs = Date.now() - t0
  assert.ok(publishMs < 20_000, `3,000 commands (24 MB) routed by the broker in ${publishMs} ms after Kafka had them`)
  await sender.stop()
  // (the paused socket itself cannot notice: its end of stream waits behind unread data)
  const connected = () => tb.broker.engine.clientById(id) !== undefined
  const deadline = Date.now() + 10_000
  while (connected() && Date.now() < deadline) await sleep(100)
  assert.equal(connected(), false, 'the broker dropped the deaf subscriber')
  assert.ok(await tb.metric('fleet_broker_client_errors_total', { stage: 'connected' }) >= 1)
  raw.socket.destroy()
  await othersServed('deaf')
})

test('topics with thousands of levels, a 64 KiB client id and 100k subscriptions from one client', async () => {
  const id = `${prefix}-odd`
  const deep = Array.from({ length: 5_000 }, () => 'a').join('/')
  for (const packet of [
    { cmd: 'publish', topic: deep, payload: Buffer.from('x'), qos: 0, retain: false, dup: false },
    { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: deep, qos: 0 }] }
  ]) {
    const raw = await rawConnect(tb.mqttPort)
    raw.send(connectPacket(id, id, (await carPassword(id))))
    await raw.next('connack')
    raw.send(packet as Packet)
    await raw.closed
  }
  const huge = await rawConnect(tb.mqttPort)
  huge.send(connectPacket('x'.repeat(65_535), id, // the longest an MQTT string can be: 64 KiB - 1
    (await carPassword(id))))
  assert.equal((await huge.next('connack') as { returnCode: number }).returnCode, 2)
  await huge.closed

  const raw = await rawConnect(tb.mqttPort)
  raw.send(connectPacket(id, id, (await carPassword(id))))
  await raw.next('connack')
  const denied0 = await tb.metric('fleet_broker_refused_total', { reason: 'subscribe_denied' })
  const heap0 = heapMB()
  for (let p = 0; p < 100; p++) {
    raw.send({ cmd: 'subscribe', messageId: p + 1, subscriptions: Array.from({ length: 1_000 }, (_, k) => ({ topic: MqttTopics.commands(`other-${p}-${k}`), qos: 1 })) } as Packet)
  }
  let granted = 0
  for (let p = 0; p < 100; p++) granted += ((await raw.next('suback', 30_000)) as { granted: number[] }).granted.filter(g => g === 128).length
  assert.equal(granted, 100_000)
  assert.equal(await tb.metric('fleet_broker_refused_total', { reason: 'subscribe_denied' }) - denied0, 100_000)
  assert.ok(heapMB() - heap0 < 200, `heap grew ${Math.round(heapMB() - heap0)} MB`)
  raw.socket.destroy()
  await othersServed('odd')
})

test('a seeded fuzzer: 3,000 random and mutated packets, the broker keeps serving', async () => {
  const rnd = seededRandom(20261125)
  const id = `${prefix}-fuzz`
  const valid: Buffer[] = [
    connectPacket(id, id, (await carPassword(id))),
    mqttPacket.generate({ cmd: 'publish', topic: MqttTopics.telemetry(id), payload: Buffer.from(JSON.stringify(validTelemetry(id, 0))), qos: 1, messageId: 7, retain: false, dup: false } as Packet),
    mqttPacket.generate({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: MqttTopics.commands(id), qos: 1 }] } as Packet),
    mqttPacket.generate({ cmd: 'pingreq' } as Packet),
    mqttPacket.generate({ cmd: 'unsubscribe', messageId: 4, unsubscriptions: [MqttTopics.commands(id)] } as Packet),
    mqttPacket.generate({ cmd: 'puback', messageId: 9 } as Packet)
  ]
  const mutate = (b: Buffer): Buffer => {
    const out = Buffer.from(b)
    const flips = 1 + rnd.int(0, 4)
    for (let i = 0; i < flips; i++) out[rnd.int(0, out.length - 1)] = rnd.int(0, 255)
    return rnd.next() < 0.2 ? out.subarray(0, rnd.int(1, out.length)) : out
  }
  const caseBytes = (): Buffer => {
    const r = rnd.next()
    if (r < 0.25) return Buffer.from(Array.from({ length: rnd.int(1, 300) }, () => rnd.int(0, 255)))
    if (r < 0.5) return mutate(valid[0]!)
    // a valid CONNECT, then mutated packets
    return Buffer.concat([valid[0]!, ...Array.from({ length: rnd.int(1, 4) }, () => mutate(rnd.pick(valid.slice(1))))])
  }
  const errors0 = await tb.metric('fleet_broker_client_errors_total')
  const heap0 = heapMB()
  const CASES = 3_000
  let next = 0
  const worker = async () => {
    while (next < CASES) {
      next++
      const bytes = caseBytes()
      await new Promise<void>(resolve => {
        const s = netConnect({ host: '127.0.0.1', port: tb.mqttPort })
        s.on('error', () => {})
        s.on('close', () => resolve())
        s.on('connect', () => {
          s.write(bytes)
          setTimeout(() => s.destroy(), 20)
        })
      })
    }
  }
  await Promise.all(Array.from({ length: 30 }, worker))
  await sleep(500)
  assert.ok(await tb.metric('fleet_broker_client_errors_total') - errors0 > 500, 'protocol errors were counted')
  assert.ok(heapMB() - heap0 < 200, `heap grew ${Math.round(heapMB() - heap0)} MB`)
  const ready = await fetch(`http://127.0.0.1:${tb.opsPort}/readyz`)
  assert.equal(ready.status, 200)
  await othersServed('fuzz')
})
