// Kafka stopped mid-stream and started again: cars get no PUBACK while it is down (the broker
// holds them and stops reading their sockets), the broker recovers by itself, and every message
// that was acknowledged is in Kafka afterwards.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { after, before, test } from 'node:test'
import { promisify } from 'node:util'
import type { MqttClient } from 'mqtt'
import { validTelemetry } from '../services/shared/src/telemetry-samples.js'
import { KafkaTopics, MqttTopics } from '../services/shared/src/topics.js'
import { startTestBroker, type TestBroker } from './helpers/broker.js'
import { connectCar, uniqueFleetPrefix } from './helpers/cars.js'
import { collect, endOffsets } from './helpers/kafka.js'

const run = promisify(execFile)
const stack = (...args: string[]) => run('bash', ['scripts/stack.sh', ...args], { cwd: new URL('..', import.meta.url).pathname })
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
const CARS = 10
const prefix = uniqueFleetPrefix('outage')
let tb: TestBroker

before(async () => { tb = await startTestBroker() })
after(async () => {
  await stack('up', 'kafka') // whatever happened, leave Kafka running for the next test
  await tb?.stop()
})

test('no acknowledged telemetry is lost when Kafka stops and comes back', async () => {
  const start = await endOffsets(KafkaTopics.telemetry)
  const acked = new Map<string, number[]>()
  const cars: MqttClient[] = []
  for (let i = 0; i < CARS; i++) {
    const id = `${prefix}-${i}`
    cars.push(await connectCar(id, tb.mqttPort, { keepalive: 5 }))
    acked.set(id, [])
  }
  let publishing = true
  const loops = cars.map(async (car, i) => {
    const id = `${prefix}-${i}`
    let seq = 0
    while (publishing) {
      // five in flight per car
      const batch = Array.from({ length: 5 }, () => seq++)
      await Promise.all(batch.map(async s => {
        await car.publishAsync(MqttTopics.telemetry(id), JSON.stringify(validTelemetry(id, s)), { qos: 1 })
        acked.get(id)!.push(s)
      }))
    }
  })
  const total = () => [...acked.values()].reduce((n, a) => n + a.length, 0)

  await sleep(1_500)
  assert.ok(total() > 100, `flowing before the outage (${total()})`)
  await stack('down', 'kafka')
  const atStop = total()
  await sleep(6_000)
  const duringOutage = total() - atStop
  assert.equal(await tb.metric('fleet_broker_backpressure'), 1, 'broker reports backpressure')
  // Kafka is every pod's: its outage is reported, but this pod still accepts cars and holds their
  // PUBACKs, so it stays in the load balancer (were every pod unready, a car would find none).
  const ready = await fetch(`http://127.0.0.1:${tb.opsPort}/readyz`)
  assert.equal(ready.status, 200)
  assert.equal((await ready.json() as { dependencies: { kafka: boolean } }).dependencies.kafka, false)
  assert.ok(cars.every(c => c.connected), 'cars stay connected while their PUBACKs are held (keepalive 5 s)')
  const stalled = total()
  await sleep(2_000)
  assert.equal(total(), stalled, 'no PUBACK while Kafka is down')

  await stack('up', 'kafka')
  const deadline = Date.now() + 60_000
  while (total() <= stalled + 500 && Date.now() < deadline) await sleep(200)
  assert.ok(total() > stalled + 500, 'PUBACKs flow again after Kafka is back')
  publishing = false
  await Promise.all(loops)
  await Promise.all(cars.map(c => c.endAsync()))
  assert.equal(await tb.metric('fleet_broker_backpressure'), 0)

  const telemetry = await collect(KafkaTopics.telemetry, key => key.startsWith(prefix), start)
  const want = total()
  await telemetry.waitFor(r => {
    const seen = new Set(r.map(x => `${x.key}/${JSON.parse(x.value.toString()).seq}`))
    return [...acked].every(([id, seqs]) => seqs.every(s => seen.has(`${id}/${s}`)))
  }, 60_000)
  await telemetry.stop()
  const duplicates = telemetry.records.length - new Set(telemetry.records.map(x => `${x.key}/${JSON.parse(x.value.toString()).seq}`)).size
  console.log(`outage: ${want} acknowledged, ${telemetry.records.length} records in Kafka, ${duplicates} duplicates, ${duringOutage} acked in the first 6 s after the stop`)
  for (const [id, seqs] of acked) {
    const got = telemetry.records.filter(x => x.key === id).map(x => JSON.parse(x.value.toString()).seq as number)
    const firstSeen = got.filter((s, i) => got.indexOf(s) === i)
    assert.deepEqual(firstSeen, [...firstSeen].sort((a, b) => a - b), `${id}: in order`)
    assert.ok(seqs.every(s => got.includes(s)), `${id}: every acked message present`)
  }
})
