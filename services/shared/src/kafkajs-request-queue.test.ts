import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { test } from 'node:test'
import { patchRequestQueue } from './kafkajs-request-queue.js'

const require = createRequire(import.meta.url)
const silent = { debug () {}, info () {}, warn () {}, error () {}, namespace () { return silent } }
type Queue = { pending: unknown[], throttleCheckTimeoutId: NodeJS.Timeout | null, throttledUntil: number, checkPendingRequests: () => void, destroy: () => void }
const queue = (): Queue => {
  const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as new (o: object) => Queue
  return new RequestQueue({ maxInFlightRequests: 1, requestTimeout: 30_000, enforceRequestTimeout: false, clientId: 't', broker: 'b', logger: silent })
}

test('kafkajs RequestQueue: nothing pending arms no timer (no 1 ms wake-up loop per connection)', () => {
  patchRequestQueue()
  const q = queue()
  try {
    q.checkPendingRequests() // what an answer from Kafka runs
    assert.equal(q.throttleCheckTimeoutId, null)
  } finally {
    q.destroy()
  }
})

test('kafkajs RequestQueue: a pending request under throttling is still checked when the throttle ends', () => {
  patchRequestQueue()
  const q = queue()
  try {
    q.throttledUntil = Date.now() + 60_000
    q.pending.push({ correlationId: 1 })
    q.checkPendingRequests()
    assert.notEqual(q.throttleCheckTimeoutId, null, 'a check is armed for the waiting request')
  } finally {
    q.pending.length = 0
    q.destroy()
  }
})

test('patchRequestQueue is idempotent', () => {
  const a = patchRequestQueue()
  const before = a.prototype.scheduleCheckPendingRequests
  assert.equal(patchRequestQueue().prototype.scheduleCheckPendingRequests, before)
})
