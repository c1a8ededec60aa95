import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createAuthFailureLimiter } from './auth-failures.js'

test('an address is blocked after its burst of failures and refilled at the rate; others are not', () => {
  let t = 0
  const l = createAuthFailureLimiter({ perMinute: 60, burst: 3, maxAddresses: 10, now: () => t })
  try {
    for (let i = 0; i < 3; i++) {
      assert.equal(l.blocked('10.0.0.1'), false)
      l.failed('10.0.0.1')
    }
    assert.equal(l.blocked('10.0.0.1'), true)
    assert.equal(l.blocked('10.0.0.2'), false, 'another address is not charged')
    t += 1_000 // one failure a second
    assert.equal(l.blocked('10.0.0.1'), false)
    l.failed('10.0.0.1')
    assert.equal(l.blocked('10.0.0.1'), true)
  } finally {
    l.stop()
  }
})

test('the table is bounded: the oldest address is forgotten first; off at 0', () => {
  const l = createAuthFailureLimiter({ perMinute: 1, burst: 1, maxAddresses: 3, now: () => 0 })
  try {
    for (let i = 0; i < 5; i++) l.failed(`10.0.0.${i}`)
    assert.equal(l.size(), 3)
    assert.equal(l.blocked('10.0.0.0'), false)
    assert.equal(l.blocked('10.0.0.4'), true)
  } finally {
    l.stop()
  }
  const off = createAuthFailureLimiter({ perMinute: 0, burst: 1, maxAddresses: 3 })
  off.failed('10.0.0.1')
  off.failed('10.0.0.1')
  assert.equal(off.blocked('10.0.0.1'), false)
  assert.equal(off.size(), 0)
})
