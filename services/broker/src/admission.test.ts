import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createAdmission } from './admission.js'

test('connect rate: a burst of one second, then the refill rate', () => {
  let t = 0
  const a = createAdmission({ maxConnections: 1_000, connectsPerSecond: 10, connected: () => 0, now: () => t })
  const first = Array.from({ length: 12 }, () => a.admit())
  assert.equal(first.filter(r => r === null).length, 10)
  assert.equal(first.at(-1), 'connect_rate')
  t += 500
  assert.equal(Array.from({ length: 6 }, () => a.admit()).filter(r => r === null).length, 5)
})

test('max connections', () => {
  let connected = 2
  const a = createAdmission({ maxConnections: 3, connectsPerSecond: 1_000, connected: () => connected })
  assert.equal(a.admit(), null)
  connected = 3
  assert.equal(a.admit(), 'max_connections')
})

test('per-address connect rate: one address is limited, others are not', async () => {
  const { createAddressLimiter } = await import('./admission.js')
  let t = 0
  const l = createAddressLimiter(3, () => t)
  assert.deepEqual([1, 2, 3, 4].map(() => l.allow('10.0.0.1')), [true, true, true, false])
  assert.equal(l.allow('10.0.0.2'), true)
  t += 1_000
  assert.equal(l.allow('10.0.0.1'), true)
  assert.equal(createAddressLimiter(0).allow('x'), true, '0 = off')
  l.stop()
})

test('per-address connect rate: the table of addresses is bounded, the oldest forgotten first', async () => {
  const { createAddressLimiter } = await import('./admission.js')
  const l = createAddressLimiter(1, () => 0)
  for (let i = 0; i <= 100_000; i++) l.allow(`a${i}`)
  assert.equal(l.size(), 100_000)
  assert.equal(l.allow('a100000'), false, 'the newest keeps its spent bucket')
  assert.equal(l.allow('a0'), true, 'the oldest was forgotten: a full bucket again')
  l.stop()
})
