import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createAuthLimiter } from './auth-limiter.js'

test('an address is blocked after its failures for the rest of the minute; others are not', () => {
  let t = 0
  const l = createAuthLimiter({ maxFailures: 3, now: () => t })
  assert.deepEqual([l.failed('a'), l.failed('a'), l.failed('a')], [false, false, true])
  assert.equal(l.blockedFor('a'), 60)
  assert.equal(l.blockedFor('b'), 0)
  t = 45_500
  assert.equal(l.blockedFor('a'), 15)
  t = 60_000
  assert.equal(l.blockedFor('a'), 0)
  assert.equal(l.failed('a'), false)
})

test('the table of addresses is bounded: expired windows go first, then the oldest', () => {
  let t = 0
  const l = createAuthLimiter({ maxFailures: 2, maxAddresses: 100, now: () => t })
  for (let i = 0; i < 1_000; i++) { l.failed(`x${i}`); t += 10 }
  assert.ok(l.size() <= 100)
  l.failed('y'); l.failed('y')
  assert.ok(l.blockedFor('y') > 0)
})
