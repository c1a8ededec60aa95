import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Client } from 'aedes'
import { drainCars, type CarDrainOptions } from './car-drain.js'

/** Cars as plain objects; a clock that moves 10 ms each time the drain looks at it. */
function fleet (n: number, pending: (i: number, t: number) => number = () => 0) {
  let t = 0
  const cars = Array.from({ length: n }, (_, i) => ({ i }) as unknown as Client & { i: number })
  const events: Array<{ t: number, what: 'pause' | 'close', i: number, owed: number }> = []
  const opts = (o: Partial<CarDrainOptions> = {}): CarDrainOptions => ({
    clients: () => cars,
    ratePerSecond: 1_000,
    moveByMs: 60_000,
    closeByMs: 120_000,
    pause: c => events.push({ t, what: 'pause', i: (c as typeof cars[0]).i, owed: 0 }),
    pendingOf: c => pending((c as typeof cars[0]).i, t),
    close: c => events.push({ t, what: 'close', i: (c as typeof cars[0]).i, owed: pending((c as typeof cars[0]).i, t) }),
    tickMs: 0,
    now: () => (t += 10),
    ...o
  })
  return { opts, events }
}

test('cars leave at the configured rate, each paused before it is closed', async () => {
  const f = fleet(100)
  const r = await drainCars(f.opts({ ratePerSecond: 1_000 }))
  assert.deepEqual({ cars: r.cars, clean: r.clean, forced: r.forced, rate: r.rate }, { cars: 100, clean: 100, forced: 0, rate: 1_000 })
  const closes = f.events.filter(e => e.what === 'close')
  assert.equal(closes.length, 100)
  // 1,000/s is one car per ms: by simulated time t at most t cars have been closed
  for (const [k, e] of closes.entries()) assert.ok(k + 1 <= e.t, `${k + 1} closed by ${e.t} ms`)
  assert.ok(closes.at(-1)!.t >= 100 && closes.at(-1)!.t <= 130, `last close at ${closes.at(-1)!.t} ms`)
  for (const c of closes) assert.ok(f.events.findIndex(e => e.what === 'pause' && e.i === c.i) < f.events.indexOf(c), `car ${c.i} paused first`)
})

test('a car owed PUBACKs is closed only once Kafka acknowledged its messages', async () => {
  // car 0 owes two PUBACKs until 500 ms
  const f = fleet(3, (i, t) => i === 0 && t < 500 ? 2 : 0)
  const r = await drainCars(f.opts())
  assert.equal(r.clean, 3)
  const close0 = f.events.find(e => e.what === 'close' && e.i === 0)!
  assert.ok(close0.t >= 500, `closed at ${close0.t} ms`)
  assert.equal(close0.owed, 0)
})

test('past closeByMs a car still owed PUBACKs is closed anyway (it resends elsewhere), so the drain ends', async () => {
  const f = fleet(2, i => i === 1 ? 5 : 0)
  const r = await drainCars(f.opts({ closeByMs: 1_000 }))
  assert.deepEqual({ clean: r.clean, forced: r.forced }, { clean: 1, forced: 1 })
  assert.ok(r.ms >= 1_000 && r.ms < 1_100, `ended after ${r.ms} ms`)
})

test('the rate is raised when the configured one would not move every car by moveByMs', async () => {
  const f = fleet(1_000)
  const r = await drainCars(f.opts({ ratePerSecond: 10, moveByMs: 2_000 }))
  assert.equal(r.rate, 500)
  assert.ok(r.ms <= 2_100, `moved in ${r.ms} ms`)
})
