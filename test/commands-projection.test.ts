// The commander's writers against the real Redis, raced: two projections (as during a consumer
// group rebalance) applying shuffled, duplicated events to the same records lose no move, and two
// expiry sweepers declare each overdue command expired exactly once.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import type { Producer } from 'kafkajs'
import { applyToRecord } from '../services/commander/src/command-projection.js'
import { createCommanderMetrics } from '../services/commander/src/commander-metrics.js'
import { sweepExpired } from '../services/commander/src/expiry-sweeper.js'
import type { CommandEvent, CommandRecord, CommandStatus } from '../services/shared/src/command-schema.js'
import { COMMAND_UPDATES_CHANNEL, commandKey, createCommandStore, EXPIRING_COMMANDS_KEY, vehicleCommandsKey } from '../services/shared/src/command-store.js'
import { createLogger } from '../services/shared/src/logger.js'
import { createRegistry } from '../services/shared/src/metrics.js'
import { seededRandom } from '../services/shared/src/seeded-random.js'
import { uniqueFleetPrefix } from './helpers/cars.js'

const url = process.env.FLEET_REDIS_URL ?? 'redis://127.0.0.1:16379'
const p = uniqueFleetPrefix('proj')
const redis: Redis[] = []
const ids: string[] = []
const conn = () => { const r = new Redis(url); redis.push(r); return r }

const record = (n: number, expiresInMs = 60_000): CommandRecord => {
  const createdAt = new Date().toISOString()
  const id = `${p}-c${n}`
  ids.push(id)
  return { commandId: id, vehicleId: `${p}-car${n % 5}`, type: 'lock', params: {}, status: 'pending', createdAt, expiresAt: new Date(Date.now() + expiresInMs).toISOString(), updatedAt: createdAt, requestedBy: 'test', history: [{ status: 'pending', at: createdAt, source: 'api' }] }
}

before(() => { conn() })
after(async () => {
  const r = redis[0]!
  await r.multi().del(...ids.map(commandKey), ...[0, 1, 2, 3, 4].map(i => vehicleCommandsKey(`${p}-car${i}`))).zrem(EXPIRING_COMMANDS_KEY, ...ids).exec()
  for (const c of redis) c.disconnect()
})

test('two projections racing on shuffled, duplicated events: every record ends acknowledged with its whole history', async () => {
  const store = createCommandStore(redis[0]!, { retentionS: 600 })
  const records = Array.from({ length: 40 }, (_, i) => record(i))
  for (const r of records) await store.create(r)
  const rnd = seededRandom(7).next
  const steps: CommandStatus[] = ['sent', 'delivered', 'acknowledged']
  const events: CommandEvent[] = records.flatMap(r => steps.flatMap((status, i) => {
    const e: CommandEvent = { commandId: r.commandId, vehicleId: r.vehicleId, status, at: new Date(Date.now() + (i + 1) * 10).toISOString(), source: status === 'sent' ? 'commander' : 'broker:b1' }
    return rnd() < 0.3 ? [e, e] : [e]
  }))
  for (let i = events.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1))
    ;[events[i], events[j]] = [events[j]!, events[i]!]
  }
  const sub = conn()
  let updates = 0
  await sub.subscribe(COMMAND_UPDATES_CHANNEL)
  sub.on('message', (_c: string, m: string) => { if ((JSON.parse(m) as { commandId: string }).commandId.startsWith(p)) updates++ })
  const lanes = [conn(), conn()]
  const outcomes = await Promise.all(lanes.map(async (r, lane) => {
    const out: string[] = []
    for (let i = lane; i < events.length; i += 2) out.push(await applyToRecord(r, events[i]!))
    return out
  }))
  const all = outcomes.flat()
  assert.equal(all.filter(o => o === 'advanced' || o === 'late').length, records.length * 3, 'each step applied once')
  assert.equal(all.filter(o => o === 'duplicate').length, events.length - records.length * 3)
  for (const r of records) {
    const got = await store.get(r.commandId)
    assert.equal(got?.status, 'acknowledged')
    assert.deepEqual(got?.history.map(h => h.status), ['pending', 'sent', 'delivered', 'acknowledged'])
  }
  assert.equal(await redis[0]!.zscore(EXPIRING_COMMANDS_KEY, records[0]!.commandId), null, 'final records leave the expiry list')
  await new Promise(resolve => setTimeout(resolve, 200))
  assert.equal(updates, records.length * 3, 'one update note per change')
})

test('two sweepers: each overdue command is declared expired exactly once; fresh and final ones are left alone', async () => {
  const store = createCommandStore(redis[0]!, { retentionS: 600 })
  const overdue = Array.from({ length: 30 }, (_, i) => record(100 + i, -5_000))
  const fresh = record(200, 60_000)
  const done = record(201, -5_000)
  for (const r of [...overdue, fresh, done]) await store.create(r)
  await applyToRecord(redis[0]!, { commandId: done.commandId, vehicleId: done.vehicleId, status: 'acknowledged', at: new Date().toISOString(), source: 'broker:b1' })
  await redis[0]!.zadd(EXPIRING_COMMANDS_KEY, Date.parse(done.expiresAt), done.commandId) // as if its removal had been lost
  const produced: CommandEvent[] = []
  const producer = { send: async (r: { messages: Array<{ value: string }> }) => { for (const m of r.messages) produced.push(JSON.parse(m.value) as CommandEvent); return [] } } as unknown as Producer
  const deps = (r: Redis) => ({ redis: r, store: createCommandStore(r, { retentionS: 600 }), producer, metrics: createCommanderMetrics(createRegistry('t', false)), log: createLogger('t', 'silent'), graceMs: 1_000 })
  const [a, b] = await Promise.all([sweepExpired(deps(conn())), sweepExpired(deps(conn()))])
  const mine = produced.filter(e => e.commandId.startsWith(p))
  // the suite's other tests may leave overdue commands of their own in the same Redis: they count in a + b
  assert.equal(a + b, produced.length)
  assert.equal(mine.length, overdue.length)
  assert.equal(new Set(mine.map(e => e.commandId)).size, overdue.length)
  assert.ok(mine.every(e => e.status === 'expired' && e.source === 'commander' && /not delivered/.test(e.detail ?? '')))
  assert.equal(await redis[0]!.zscore(EXPIRING_COMMANDS_KEY, done.commandId), null, 'a final record is dropped from the list')
  assert.notEqual(await redis[0]!.zscore(EXPIRING_COMMANDS_KEY, fresh.commandId), null)
})

test('a command Kafka did not take is marked failed only while it is still pending; one the commander moved on keeps its state', async () => {
  const store = createCommandStore(redis[0]!, { retentionS: 600 })
  const stuck = record(100)
  const movedOn = record(101)
  await store.create(stuck)
  await store.create(movedOn)
  assert.equal(await applyToRecord(conn(), { commandId: movedOn.commandId, vehicleId: movedOn.vehicleId, status: 'sent', at: new Date().toISOString(), source: 'commander' }), 'advanced')
  const at = new Date().toISOString()
  const failed = await store.failUnqueued(stuck, 'not queued', at)
  assert.equal(failed.status, 'failed')
  assert.equal((await store.get(stuck.commandId))?.status, 'failed')
  assert.equal(await redis[0]!.zscore(EXPIRING_COMMANDS_KEY, stuck.commandId), null, 'a failed command leaves the expiry index')
  const kept = await store.failUnqueued(movedOn, 'not queued', at)
  assert.equal(kept.status, 'sent')
  assert.deepEqual((await store.get(movedOn.commandId))?.history.map(h => h.status), ['pending', 'sent'])
  assert.notEqual(await redis[0]!.zscore(EXPIRING_COMMANDS_KEY, movedOn.commandId), null)
})
