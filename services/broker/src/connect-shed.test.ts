import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { test } from 'node:test'
import { createConnectShed, SAMPLE_MS } from './connect-shed.js'
import type { Client } from './mqtt-engine/index.js'

const client = () => ({ conn: new EventEmitter() }) as unknown as Client

test('connects under way: refused at the bound, a slot freed by CONNACK or by a closed socket', () => {
  const shed = createConnectShed({ maxPending: 2, lagMs: 0 })
  const [a, b, c] = [client(), client(), client()]
  assert.equal(shed.begin(a), null)
  assert.equal(shed.begin(b), null)
  assert.equal(shed.pending(), 2)
  assert.equal(shed.begin(c), 'connects_pending')
  shed.end(a) // its session is ready
  assert.equal(shed.begin(c), null)
  b.conn.emit('close') // refused later, or the car went away before its CONNACK
  assert.equal(shed.pending(), 1)
  shed.end(c)
  c.conn.emit('close') // ended twice: counted once
  assert.equal(shed.pending(), 0)
  shed.stop()
})

test('a late event loop refuses new connects until a sample is back under the bound', () => {
  const shed = createConnectShed({ maxPending: 0, lagMs: 200, sample: false })
  assert.equal(shed.begin(client()), null)
  shed.observe(350)
  assert.equal(shed.lateMs(), 350)
  assert.equal(shed.begin(client()), 'overloaded')
  shed.observe(200) // at the bound is not over it
  assert.equal(shed.begin(client()), null)
  assert.equal(shed.pending(), 2, 'refused connects are not counted as under way')
  shed.stop()
})

test('0 turns each signal off', () => {
  const shed = createConnectShed({ maxPending: 0, lagMs: 0, sample: false })
  shed.observe(60_000)
  for (let i = 0; i < 1_000; i++) assert.equal(shed.begin(client()), null)
  shed.stop()
})

test('the sampler measures a blocked event loop', async () => {
  const shed = createConnectShed({ maxPending: 0, lagMs: 100 })
  await new Promise(resolve => setTimeout(resolve, SAMPLE_MS * 2))
  const until = performance.now() + 300
  while (performance.now() < until) { /* the event loop is blocked */ }
  await new Promise(resolve => setTimeout(resolve, 5))
  assert.ok(shed.lateMs() >= 200, `late ${shed.lateMs()} ms`)
  assert.equal(shed.begin(client()), 'overloaded')
  await new Promise(resolve => setTimeout(resolve, SAMPLE_MS * 3))
  assert.ok(shed.lateMs() < 100, `late ${shed.lateMs()} ms once the loop is free`)
  shed.stop()
})
