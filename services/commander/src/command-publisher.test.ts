import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Producer } from 'kafkajs'
import type { Command, CommandEvent, CommandRecord, CommandStatus } from '../../shared/src/command-schema.js'
import { createLogger } from '../../shared/src/logger.js'
import { createRegistry } from '../../shared/src/metrics.js'
import { createCommanderMetrics } from './commander-metrics.js'
import { publishCommands, type PublisherDeps } from './command-publisher.js'

const now = Date.parse('2026-01-01T00:00:00Z')
const cmd = (id: string, vehicleId = 'car-1', ttlS = 60): Command => ({ commandId: id, vehicleId, type: 'lock', params: {}, createdAt: new Date(now).toISOString(), expiresAt: new Date(now + ttlS * 1000).toISOString() })
const buf = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v))

/** Stored records: each id's status, and the command as stored (by default what `cmd(id)` makes). */
function fakes (statuses: Record<string, CommandStatus>, opts: { pubackMs?: number, failSend?: boolean, stored?: Record<string, Command> } = {}) {
  const record = (id: string): CommandRecord | null => {
    const status = statuses[id]
    if (status === undefined) return null
    const c = opts.stored?.[id] ?? cmd(id)
    return { ...c, status, updatedAt: c.createdAt, requestedBy: 'test', history: [] }
  }
  const published: Array<{ topic: string, payload: Command }> = []
  const sent: CommandEvent[] = []
  const metrics = createCommanderMetrics(createRegistry('test', false))
  const deps: PublisherDeps = {
    link: {
      publish: async (topic, payload) => {
        published.push({ topic, payload: JSON.parse(payload) as Command })
        if (opts.pubackMs !== undefined) await new Promise(resolve => setTimeout(resolve, opts.pubackMs))
      },
      connected: () => true,
      ready: async () => {},
      close: async () => {}
    },
    records: { records: async ids => ids.map(record) },
    producer: {
      send: async (r: { messages: Array<{ value: string }> }) => {
        if (opts.failSend) throw new Error('kafka down')
        for (const m of r.messages) sent.push(JSON.parse(m.value) as CommandEvent)
        return []
      }
    } as unknown as Producer,
    metrics,
    log: createLogger('test', 'silent'),
    publishTimeoutMs: 200,
    now: () => now
  }
  return { deps, published, sent, metrics }
}

test('publishes live commands in order at their car\'s topic, then one `sent` event each', async () => {
  const f = fakes({ a: 'pending', b: 'pending', c: 'pending' }, { stored: { b: cmd('b', 'car-2') } })
  const r = await publishCommands([buf(cmd('a')), buf(cmd('b', 'car-2')), buf(cmd('c'))], f.deps)
  assert.deepEqual(r, { published: 3, skipped: 0 })
  assert.deepEqual(f.published.map(p => [p.topic, p.payload.commandId]), [['vehicles/car-1/commands', 'a'], ['vehicles/car-2/commands', 'b'], ['vehicles/car-1/commands', 'c']])
  assert.deepEqual(f.sent.map(e => [e.commandId, e.vehicleId, e.status, e.source]), [['a', 'car-1', 'sent', 'commander'], ['b', 'car-2', 'sent', 'commander'], ['c', 'car-1', 'sent', 'commander']])
})

test('skips what must not reach a car: invalid records, bad vehicle ids, no record, final records, expired commands', async () => {
  const f = fakes({ ok: 'pending', done: 'failed', gone: 'expired', late: 'pending', wild: 'pending' }, { stored: { late: cmd('late', 'car-1', -1), wild: cmd('wild', 'car/+/#') } })
  const r = await publishCommands([
    buf('not json'), null, buf({ commandId: 'x' }), buf(cmd('wild', 'car/+/#')),
    buf(cmd('unknown')), buf(cmd('done')), buf(cmd('gone')), buf(cmd('late', 'car-1', -1)), buf(cmd('ok'))
  ], f.deps)
  assert.deepEqual(r, { published: 1, skipped: 8 })
  assert.deepEqual(f.published.map(p => p.payload.commandId), ['ok'])
  const skipped = await f.metrics.skipped.get()
  assert.deepEqual(Object.fromEntries(skipped.values.map(v => [v.labels.reason, v.value])), { invalid: 4, no_record: 1, final: 2, expired: 1 })
})

test('no PUBACK in time, or no `sent` event written: the slice fails (and Kafka retries it)', async () => {
  await assert.rejects(publishCommands([buf(cmd('a'))], fakes({ a: 'pending' }, { pubackMs: 1_000 }).deps), /no answer in 200 ms/)
  await assert.rejects(publishCommands([buf(cmd('a'))], fakes({ a: 'pending' }, { failSend: true }).deps), /kafka down/)
})

test('a record that differs from the stored command (car, type, params, times) is not published, and the stored one is what a car gets', async () => {
  const stored = { ...cmd('a'), type: 'flash-lights', params: { times: 3 } }
  const f = fakes({ a: 'delivered' }, { stored: { a: stored } })
  const forged = [
    { ...stored, vehicleId: 'car-2' },
    { ...stored, type: 'unlock', params: {} },
    { ...stored, params: { times: 20 } },
    { ...stored, expiresAt: new Date(now + 3_600_000).toISOString() },
    { ...stored, type: 'ota-update', params: { version: '9.9.9', url: 'http://evil.example/fw.bin' } }
  ]
  const r = await publishCommands(forged.map(buf), f.deps)
  assert.deepEqual(r, { published: 0, skipped: forged.length })
  assert.equal(f.published.length, 0)
  const skipped = await f.metrics.skipped.get()
  assert.deepEqual(Object.fromEntries(skipped.values.map(v => [v.labels.reason, v.value])), { mismatch: forged.length })
  // The same content with its keys in another order is the same command.
  const again = await publishCommands([buf({ params: { times: 3 }, expiresAt: stored.expiresAt, createdAt: stored.createdAt, type: stored.type, vehicleId: 'car-1', commandId: 'a' })], f.deps)
  assert.deepEqual(again, { published: 1, skipped: 0 })
  assert.deepEqual(f.published.map(p => [p.topic, p.payload]), [['vehicles/car-1/commands', stored]])
})
