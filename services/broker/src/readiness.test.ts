import assert from 'node:assert/strict'
import { test } from 'node:test'
import { brokerReadiness, type ReadinessInputs } from './readiness.js'

const inputs = (o: Partial<ReadinessInputs> = {}): ReadinessInputs => ({
  accepting: () => true,
  connected: () => 10,
  maxConnections: 100,
  heldBytes: () => 0,
  maxHeldBytes: 1_000,
  kafka: () => true,
  redis: () => true,
  ...o
})

/** What /readyz answers: ready when every deciding check passes; the reported ones apart. */
async function verdict (i: ReadinessInputs) {
  const checks = brokerReadiness(i)
  const deciding = await Promise.all(checks.filter(c => c.report !== true).map(async c => [c.name, await c.check()] as const))
  const reported = await Promise.all(checks.filter(c => c.report === true).map(async c => [c.name, await c.check()] as const))
  return { ready: deciding.every(([, ok]) => ok), deciding: Object.fromEntries(deciding), reported: Object.fromEntries(reported) }
}

test('a fleet-wide Kafka or Redis outage, even with the pod at its held-bytes bound, leaves the pod ready', async () => {
  const v = await verdict(inputs({ kafka: () => false, redis: () => false, heldBytes: () => 1_000 }))
  assert.equal(v.ready, true)
  assert.deepEqual(v.reported, { held: false, kafka: false, redis: false })
})

test('a draining pod and a full pod are not ready', async () => {
  assert.equal((await verdict(inputs({ accepting: () => false }))).ready, false)
  const full = await verdict(inputs({ connected: () => 100 }))
  assert.equal(full.ready, false)
  assert.deepEqual(full.deciding, { accepting: true, capacity: false })
  assert.equal((await verdict(inputs())).ready, true)
})

test('no bound on held bytes (0) reports held as fine', async () => {
  assert.equal((await verdict(inputs({ maxHeldBytes: 0, heldBytes: () => 5e9 }))).reported.held, true)
})
