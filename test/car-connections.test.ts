// One car, one connection (issue #21, point 3): a car's client id is its vehicle id (an empty id
// with a clean session is mapped to it, `aedes_…` ids are refused), a new connection takes over
// the old one on any pod [MQTT-3.1.4-2], revocation closes every connection of the car on every
// pod, and no car can kick another car or wipe its session. Two brokers share the stack's Redis
// (two pods) and write to its Kafka.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import type { MqttClient } from 'mqtt'
import { validTelemetry } from '../services/shared/src/telemetry-samples.js'
import { KafkaTopics, MqttTopics } from '../services/shared/src/topics.js'
import { REVOCATIONS_CHANNEL, REVOKED_VEHICLES_KEY } from '../services/shared/src/vehicle-credentials.js'
import { carPassword } from './helpers/credentials.js'
import { startTestBroker, type TestBroker } from './helpers/broker.js'
import { connectCar, uniqueFleetPrefix } from './helpers/cars.js'
import { collect } from './helpers/kafka.js'
import { connectPacket, rawConnect } from './helpers/raw-mqtt.js'

const prefix = uniqueFleetPrefix('conns')
let pods: TestBroker[] = []
let redis: Redis
const revoked: string[] = []
const open: MqttClient[] = []
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

before(async () => {
  pods = [await startTestBroker(), await startTestBroker()]
  redis = new Redis(pods[0]!.config.redisUrl)
})
after(async () => {
  for (const c of open) c.end(true)
  if (revoked.length > 0) await redis.srem(REVOKED_VEHICLES_KEY, ...revoked)
  redis?.disconnect()
  await Promise.all(pods.map(p => p.stop()))
})

/** Connects; resolves with the client or the CONNACK code it was refused with. */
async function attempt (vehicleId: string, pod: TestBroker, clientId: string, clean = true): Promise<MqttClient | number> {
  try {
    const c = await connectCar(vehicleId, pod.mqttPort, { clientId, clean })
    open.push(c)
    return c
  } catch (err) {
    const code = (err as { code?: number }).code
    if (typeof code !== 'number') throw err
    return code
  }
}
const connected = (cs: Array<MqttClient | number>) => cs.filter((c): c is MqttClient => typeof c !== 'number' && c.connected)

test('a car holds one connection: an empty id is its vehicle id, aedes_ ids are refused, a new connection takes over on any pod', async () => {
  const id = `${prefix}-one`
  const first = await attempt(id, pods[0]!, id)
  const empty = await attempt(id, pods[0]!, '')
  const generated = await attempt(id, pods[1]!, 'aedes_0b9c4a8e-2b4d-4c59-9f0e-6a1c2d3e4f50')
  assert.equal(generated, 2, 'an aedes_ client id for a car: CONNACK 2 identifier rejected')
  const elsewhere = await attempt(id, pods[1]!, id)
  await sleep(500)
  assert.equal(connected([first, empty, generated, elsewhere]).length, 1, 'only the newest connection stays')
  assert.ok(typeof elsewhere !== 'number' && elsewhere.connected)
})

test('revocation closes every connection of the car on every pod; nothing it sends after reaches Kafka', async () => {
  const id = `${prefix}-rev`
  const conns = [
    await attempt(id, pods[0]!, id),
    await attempt(id, pods[0]!, ''),
    await attempt(id, pods[1]!, ''),
    await attempt(id, pods[1]!, 'aedes_5d6e7f80-1111-4222-8333-944455566677')
  ]
  await sleep(300)
  const telemetry = await collect(KafkaTopics.telemetry, key => key === id)
  try {
    revoked.push(id)
    await redis.multi().sadd(REVOKED_VEHICLES_KEY, id).publish(REVOCATIONS_CHANNEL, id).exec()
    await sleep(500)
    const survivors = connected(conns)
    await Promise.all(survivors.map((c, i) => Promise.race([
      c.publishAsync(MqttTopics.telemetry(id), JSON.stringify(validTelemetry(id, i)), { qos: 1 }).catch(() => {}),
      sleep(3_000)
    ])))
    await sleep(2_000)
    assert.equal(telemetry.records.length, 0, `${telemetry.records.length} records of the revoked car reached Kafka`)
    assert.equal(survivors.length, 0, `${survivors.length} of the car's connections survived its revocation`)
    for (const p of pods) assert.equal(p.broker.engine.clientById(id), undefined)
  } finally {
    await telemetry.stop()
  }
})

test('no car can kick another car or wipe its session, whatever the victim\'s id looks like', async () => {
  const victim = `aedes_${prefix}-victim`
  const attacker = `${prefix}-attacker`
  const v = await connectCar(victim, pods[0]!.mqttPort, { clean: false })
  open.push(v)
  await v.subscribeAsync(MqttTopics.commands(victim), { qos: 1 })
  const kicked = new Promise<boolean>(resolve => { v.once('close', () => resolve(true)); setTimeout(() => resolve(false), 1_500) })
  // the attacker's own credentials, the victim's client id, a clean session: takeover and wipe
  const raw = await rawConnect(pods[1]!.mqttPort)
  raw.send(connectPacket(victim, attacker, await carPassword(attacker)))
  assert.equal((await raw.next('connack') as { returnCode: number }).returnCode, 2)
  assert.equal(await kicked, false, 'the victim stays connected')
  assert.equal(await redis.hexists(`client:${encodeURIComponent(victim)}`, MqttTopics.commands(victim)), 1, 'the victim\'s session keeps its subscription')
})
