// kafkajs 2.2.4 (its last release) re-arms a timer after every check of a connection's pending
// requests, even when none is pending; unthrottled its delay is `throttledUntil − now` with
// `throttledUntil` = −1, a negative delay that Node runs after 1 ms (the TimeoutNegativeWarning
// at start). So every kafkajs connection to a Kafka broker wakes the process about 1,000 times a
// second for nothing: an idle broker pod spent ~0.02 cores on it, 4–5 µs per message at the soak's
// 5,000 msg/s per pod (docs/benchmarks.md). Known upstream, never merged (tulios/kafkajs#1556,
// #1704, #1751; fixes #1667, #1755, #1768). Here the check is not re-armed while nothing is
// pending: a request that has to wait is queued by push(), which arms it again, and an answer or
// a timeout checks the queue itself. Importing this module patches RequestQueue once; kafkajs is
// pinned exactly in package.json for it.
import { createRequire } from 'node:module'

interface RequestQueue {
  pending: unknown[]
  throttleCheckTimeoutId: NodeJS.Timeout | null
  scheduleCheckPendingRequests: () => void
}

const require = createRequire(import.meta.url)
const PATCHED = Symbol.for('fleet.kafkajs.requestQueueIdle')

/** kafkajs' RequestQueue class, patched (idempotent). */
export function patchRequestQueue (): { prototype: RequestQueue } {
  const RequestQueueClass = require('kafkajs/src/network/requestQueue/index.js') as { prototype: RequestQueue & { [PATCHED]?: true } }
  const proto = RequestQueueClass.prototype
  if (proto[PATCHED] === true) return RequestQueueClass
  const schedule = proto.scheduleCheckPendingRequests
  if (typeof schedule !== 'function') throw new Error('kafkajs RequestQueue.scheduleCheckPendingRequests missing: the idle-timer patch needs kafkajs 2.2.4')
  proto.scheduleCheckPendingRequests = function (this: RequestQueue) {
    if (this.pending.length === 0) return
    schedule.call(this)
  }
  proto[PATCHED] = true
  return RequestQueueClass
}

patchRequestQueue()
