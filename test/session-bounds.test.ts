// What one car can make Redis hold (issue #21, point 4), measured on the stack's real Redis:
// QoS 2 PUBLISHes whose PUBREL never comes, retained messages on car topics, and sessions (with
// their queued commands) of cars that never come back.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import mqttPacket, { type Packet } from 'mqtt-packet'
import { MqttTopics } from '../services/shared/src/topics.js'
import { vehicleKey } from '../services/shared/src/vehicle-credentials.js'
import { vehicleCommandsKey } from '../services/shared/src/command-store.js'
import { carPassword } from './helpers/credentials.js'
import { startCommandSender } from './helpers/commands.js'
import { startTestBroker, type TestBroker } from './helpers/broker.js'
import { connectCar, uniqueFleetPrefix } from './helpers/cars.js'
import { connectPacket, rawConnect } from './helpers/raw-mqtt.js'

const prefix = uniqueFleetPrefix('bounds')
let tb: TestBroker
let redis: Redis
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

before(async () => {
  tb = await startTestBroker({ FLEET_SESSION_EXPIRY_S: '2', FLEET_MAX_PACKET_BYTES: '300000' })
  redis = new Redis(tb.config.redisUrl)
})
after(async () => {
  redis?.disconnect()
  await tb?.stop()
})

const usedMB = async () => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]) / 2 ** 20
/** Every key of this car's session state (what a car can make Redis hold), with its TTL (-1: none);
 *  not its presence, nor its provisioning record (credentials), which outlives any session. */
async function keysOf (id: string): Promise<Array<{ key: string, ttl: number }>> {
  // a car's presence, credentials and command records are not session state
  const keys = (await redis.keys(`*${encodeURIComponent(id)}*`)).filter(k => !k.startsWith('fleet:presence:') && k !== vehicleKey(id) && k !== vehicleCommandsKey(id))
  return Promise.all(keys.map(async key => ({ key, ttl: await redis.ttl(key) })))
}

test('QoS 2 PUBLISHes without PUBREL: the car is stopped at a small per-car number, Redis barely grows, the state expires', async () => {
  const id = `${prefix}-q2`
  const mb0 = await usedMB()
  const payload = Buffer.alloc(200 * 1024, 0x61)
  let sent = 0
  for (let conn = 0; conn < 2; conn++) {
    const raw = await rawConnect(tb.mqttPort)
    raw.send(connectPacket(id, id, await carPassword(id), false))
    await raw.next('connack')
    for (let m = 1; m <= 300 && !raw.isClosed(); m++) {
      raw.send(mqttPacket.generate({ cmd: 'publish', topic: MqttTopics.telemetry(id), payload, qos: 2, messageId: conn * 300 + m, retain: false, dup: false } as Packet))
      sent++
      if (m % 20 === 0) await sleep(50)
    }
    await sleep(1_000)
    raw.socket.destroy()
  }
  await sleep(500)
  const grown = await usedMB() - mb0
  assert.ok(grown < 5, `Redis grew by ${grown.toFixed(1)} MB for ${sent} QoS 2 PUBLISHes of 200 KiB from one car`)
  assert.equal(await tb.metric('fleet_broker_refused_total', { reason: 'qos2_window' }), 2, 'each connection was closed at the cap')
  const kept = await keysOf(id)
  assert.ok(kept.every(k => k.ttl !== -1), `keys without expiry: ${kept.filter(k => k.ttl === -1).map(k => k.key).slice(0, 3).join(', ')}`)
})

test('a retained status message is not stored (nobody may read it back)', async () => {
  const id = `${prefix}-ret`
  const car = await connectCar(id, tb.mqttPort)
  await car.publishAsync(MqttTopics.status(id), Buffer.alloc(100 * 1024, 0x62), { qos: 1, retain: true })
  await sleep(300)
  await car.endAsync()
  assert.equal(await redis.hexists('retained', MqttTopics.status(id)), 0)
})

test('a session the car never comes back to expires after FLEET_SESSION_EXPIRY_S, with its queued commands', async () => {
  const id = `${prefix}-gone`
  const car = await connectCar(id, tb.mqttPort, { clean: false })
  await car.subscribeAsync(MqttTopics.commands(id), { qos: 1 })
  await car.endAsync()
  const sender = await startCommandSender(prefix)
  await sender.sendMany([id, id, id])
  await sender.stop()
  const deadline = Date.now() + 15_000
  while (await redis.llen(`outgoing:${encodeURIComponent(id)}`) < 3 && Date.now() < deadline) await sleep(50)
  const queued = await redis.lrange(`outgoing:${encodeURIComponent(id)}`, 0, -1)
  assert.equal(queued.length, 3, 'the commands were queued for the offline session')
  await sleep(3_000)
  const left = await keysOf(id)
  assert.deepEqual(left.map(k => k.key), [], 'the session is gone')
  for (const key of queued) assert.equal(await redis.exists(key), 0, `queued packet ${key} is gone`)
})
