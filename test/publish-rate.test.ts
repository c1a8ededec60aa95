// What one car, and all cars together, may make a pod read and hold (issue #21, point 8): a token
// bucket per car (FLEET_CAR_PUBLISH_RATE_PER_S, FLEET_CAR_PUBLISH_BURST) and a per-pod budget of
// held bytes while Kafka does not acknowledge (FLEET_HELD_BYTES_PER_POD). Real Kafka, stopped and
// started by the stack script for the outage.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { after, test } from 'node:test'
import { promisify } from 'node:util'
import mqttPacket, { type Packet } from 'mqtt-packet'
import { validTelemetry } from '../services/shared/src/telemetry-samples.js'
import { MqttTopics } from '../services/shared/src/topics.js'
import { carPassword } from './helpers/credentials.js'
import { startTestBroker, type TestBroker } from './helpers/broker.js'
import { uniqueFleetPrefix } from './helpers/cars.js'
import { connectPacket, rawConnect } from './helpers/raw-mqtt.js'

const run = promisify(execFile)
const stack = (...args: string[]) => run('bash', ['scripts/stack.sh', ...args], { cwd: new URL('..', import.meta.url).pathname })
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
const prefix = uniqueFleetPrefix('rate')
const brokers: TestBroker[] = []
after(async () => {
  await stack('up', 'kafka') // whatever happened, leave Kafka running
  await Promise.all(brokers.map(b => b.stop()))
})

const telemetry = (id: string, seq: number, qos: 0 | 1) => mqttPacket.generate({ cmd: 'publish', topic: MqttTopics.telemetry(id), payload: Buffer.from(JSON.stringify(validTelemetry(id, seq))), qos, messageId: qos === 1 ? (seq % 65_535) + 1 : undefined, retain: false, dup: false } as Packet)

test('a car flooding QoS 0 telemetry is held to its publish rate (its socket not read), counted', async () => {
  const tb = await startTestBroker({ FLEET_CAR_PUBLISH_RATE_PER_S: '20', FLEET_CAR_PUBLISH_BURST: '20' })
  brokers.push(tb)
  const id = `${prefix}-flood`
  const raw = await rawConnect(tb.mqttPort)
  raw.send(connectPacket(id, id, await carPassword(id)))
  await raw.next('connack', 30_000)
  const chunk = Buffer.concat(Array.from({ length: 200 }, (_, i) => telemetry(id, i, 0)))
  const before = await tb.metric('fleet_broker_messages_in_total')
  const t0 = Date.now()
  while (Date.now() - t0 < 3_000 && !raw.isClosed()) {
    if (!raw.socket.write(chunk)) await Promise.race([new Promise(resolve => raw.socket.once('drain', resolve)), sleep(3_000 - (Date.now() - t0))])
  }
  const seconds = (Date.now() - t0) / 1_000
  const accepted = await tb.metric('fleet_broker_messages_in_total') - before
  raw.socket.destroy()
  // a burst of 20, then 20/s; a read taken whole (64 KiB, ~230 messages) may overshoot by one read
  assert.ok(accepted <= 20 + 20 * seconds + 300, `one car had ${accepted} messages accepted in ${seconds.toFixed(1)} s`)
  assert.ok(await tb.metric('fleet_broker_rate_limited_total') >= 1)
})

test('Kafka down: the pod stops reading every car once its held bytes reach FLEET_HELD_BYTES_PER_POD, and resumes after', async () => {
  const budget = 1 << 20
  const tb = await startTestBroker({ FLEET_HELD_BYTES_PER_POD: String(budget), FLEET_CAR_PUBLISH_RATE_PER_S: '0', FLEET_MAX_INFLIGHT_PER_CAR: '64' })
  brokers.push(tb)
  const CARS = 40
  const WINDOW = 64
  const cars = await Promise.all(Array.from({ length: CARS }, async (_, i) => {
    const id = `${prefix}-held-${i}`
    const raw = await rawConnect(tb.mqttPort)
    raw.send(connectPacket(id, id, await carPassword(id)))
    await raw.next('connack', 30_000)
    return { id, raw }
  }))
  try {
    await stack('down', 'kafka')
    // as cars send: one message at a time each (a read each), the window's worth without PUBACKs
    for (let seq = 0; seq < WINDOW; seq++) {
      for (const c of cars) c.raw.send(telemetry(c.id, seq, 1))
      await sleep(20)
    }
    await sleep(2_000)
    const read = await tb.metric('fleet_broker_messages_in_total')
    const held = await tb.metric('fleet_broker_held_bytes')
    assert.ok(read < CARS * WINDOW, `every message was read (${read}) though the pod budget is ${budget} bytes`)
    assert.ok(held >= budget && held < budget + CARS * 70 * 1_400, `held ${held} bytes`)
    assert.equal(await tb.metric('fleet_broker_read_paused'), 1)
    assert.equal(await tb.metric('fleet_broker_read_pauses_total'), 1)
    await stack('up', 'kafka')
    const deadline = Date.now() + 90_000
    const acks = () => cars.reduce((n, c) => n + c.raw.packets.filter(p => p.cmd === 'puback').length, 0)
    while (acks() < CARS * WINDOW && Date.now() < deadline) await sleep(250)
    assert.equal(acks(), CARS * WINDOW, 'every message was read and acknowledged once Kafka was back')
    assert.equal(await tb.metric('fleet_broker_read_paused'), 0)
  } finally {
    for (const c of cars) c.raw.socket.destroy()
  }
})
