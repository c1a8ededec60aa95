import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Kafka } from 'kafkajs'
import type { Command, CommandEvent, CommandRecord, CommandStatus } from '../../shared/src/command-schema.js'
import { createLogger } from '../../shared/src/logger.js'
import { createRegistry } from '../../shared/src/metrics.js'
import { createBrokerMetrics } from './broker-metrics.js'
import { handleCommandSlice, type CommandIntakeDeps } from './command-intake.js'
import { commandPacket } from './publish-to-car.js'

const now = Date.parse('2026-01-01T00:00:00Z')
const cmd = (id: string, vehicleId = 'car-1', ttlS = 60): Command => ({ commandId: id, vehicleId, type: 'lock', params: {}, createdAt: new Date(now).toISOString(), expiresAt: new Date(now + ttlS * 1000).toISOString() })
const buf = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v))

/** Stored records: each id's status, the command as stored (by default what `cmd(id)` makes), and which were routed. */
function fakes (statuses: Record<string, CommandStatus>, opts: { routeMs?: number, routeError?: boolean, failSend?: boolean, stored?: Record<string, Command>, routed?: string[] } = {}) {
  const record = (id: string): CommandRecord | null => {
    const status = statuses[id]
    if (status === undefined) return null
    const c = opts.stored?.[id] ?? cmd(id)
    return { ...c, status, updatedAt: c.createdAt, requestedBy: 'test', history: [] }
  }
  const routed = new Set(opts.routed ?? [])
  const published: Command[] = []
  const sent: CommandEvent[] = []
  const metrics = createBrokerMetrics(createRegistry('test', false))
  const deps: CommandIntakeDeps = {
    kafka: {} as Kafka,
    groupId: 'g',
    records: {
      read: async ids => ids.map(id => ({ record: record(id), routed: routed.has(id) })),
      markRouted: async commands => { for (const c of commands) routed.add(c.commandId) }
    },
    publish: (c, done) => {
      published.push(c)
      if (opts.routeMs === undefined) setImmediate(() => done(opts.routeError ? new Error('persistence down') : undefined))
      else setTimeout(() => done(), opts.routeMs)
    },
    sink: {
      write: (r, cb) => {
        if (opts.failSend) return setImmediate(() => cb(new Error('kafka down')))
        sent.push(JSON.parse(r.value.toString()) as CommandEvent)
        setImmediate(() => cb())
      }
    },
    brokerId: 'b1',
    metrics,
    log: createLogger('test', 'silent'),
    publishTimeoutMs: 200,
    now: () => now
  }
  return { deps, published, sent, metrics, routed }
}
const skippedBy = async (f: ReturnType<typeof fakes>) => Object.fromEntries((await f.metrics.commandsSkipped.get()).values.map(v => [v.labels.reason, v.value]))

test('publishes live commands in order, marks them routed, then one `sent` event each from this broker', async () => {
  const f = fakes({ a: 'pending', b: 'pending', c: 'pending' }, { stored: { b: cmd('b', 'car-2') } })
  const r = await handleCommandSlice([buf(cmd('a')), buf(cmd('b', 'car-2')), buf(cmd('c'))], f.deps)
  assert.deepEqual(r, { published: 3, skipped: 0 })
  assert.deepEqual(f.published.map(c => [c.vehicleId, c.commandId]), [['car-1', 'a'], ['car-2', 'b'], ['car-1', 'c']])
  assert.deepEqual([...f.routed], ['a', 'b', 'c'])
  assert.deepEqual(f.sent.map(e => [e.commandId, e.vehicleId, e.status, e.source]), [['a', 'car-1', 'sent', 'broker:b1'], ['b', 'car-2', 'sent', 'broker:b1'], ['c', 'car-1', 'sent', 'broker:b1']])
})

test('skips what must not reach a car: invalid records, bad vehicle ids, no record, final records, expired commands', async () => {
  const f = fakes({ ok: 'pending', done: 'failed', gone: 'expired', late: 'pending', wild: 'pending' }, { stored: { late: cmd('late', 'car-1', -1), wild: cmd('wild', 'car/+/#') } })
  const r = await handleCommandSlice([
    buf('not json'), null, buf({ commandId: 'x' }), buf(cmd('wild', 'car/+/#')),
    buf(cmd('unknown')), buf(cmd('done')), buf(cmd('gone')), buf(cmd('late', 'car-1', -1)), buf(cmd('ok'))
  ], f.deps)
  assert.deepEqual(r, { published: 1, skipped: 8 })
  assert.deepEqual(f.published.map(c => c.commandId), ['ok'])
  assert.deepEqual(await skippedBy(f), { invalid: 4, no_record: 1, final: 2, expired: 1 })
})

test('a command routed before is not published again (a pod died before its commit); its `sent` is recorded again while its record has none', async () => {
  const f = fakes({ a: 'pending', b: 'sent', c: 'delivered', d: 'pending', e: 'acknowledged' }, { routed: ['a', 'e'] })
  const r = await handleCommandSlice([buf(cmd('a')), buf(cmd('b')), buf(cmd('c')), buf(cmd('d')), buf(cmd('d')), buf(cmd('e'))], f.deps)
  assert.deepEqual(r, { published: 1, skipped: 5 })
  assert.deepEqual(f.published.map(c => c.commandId), ['d'], 'a twice-written record is published once')
  assert.deepEqual(await skippedBy(f), { already_routed: 4, final: 1 })
  assert.deepEqual(f.sent.map(e => e.commandId).sort(), ['a', 'd', 'e'], 'e: answered before its `sent` was recorded')
})

test('not routed in time, routing failed, or no `sent` event written: the slice fails (and is read again)', async () => {
  await assert.rejects(handleCommandSlice([buf(cmd('a'))], fakes({ a: 'pending' }, { routeMs: 1_000 }).deps), /not routed in 200 ms/)
  await assert.rejects(handleCommandSlice([buf(cmd('a'))], fakes({ a: 'pending' }, { routeError: true }).deps), /persistence down/)
  await assert.rejects(handleCommandSlice([buf(cmd('a'))], fakes({ a: 'pending' }, { failSend: true }).deps), /kafka down/)
})

test('a record that differs from the stored command (car, type, params, times) is not published, and the stored one is what a car gets', async () => {
  const stored = { ...cmd('a'), type: 'flash-lights', params: { times: 3 } }
  const f = fakes({ a: 'pending' }, { stored: { a: stored } })
  const forged = [
    { ...stored, vehicleId: 'car-2' },
    { ...stored, type: 'unlock', params: {} },
    { ...stored, params: { times: 20 } },
    { ...stored, expiresAt: new Date(now + 3_600_000).toISOString() },
    { ...stored, type: 'ota-update', params: { version: '9.9.9', url: 'http://evil.example/fw.bin' } }
  ]
  const r = await handleCommandSlice(forged.map(buf), f.deps)
  assert.deepEqual(r, { published: 0, skipped: forged.length })
  assert.deepEqual(await skippedBy(f), { mismatch: forged.length })
  // The same content with its keys in another order is the same command.
  const again = await handleCommandSlice([buf({ params: { times: 3 }, expiresAt: stored.expiresAt, createdAt: stored.createdAt, type: stored.type, vehicleId: 'car-1', commandId: 'a' })], f.deps)
  assert.deepEqual(again, { published: 1, skipped: 0 })
  assert.deepEqual(f.published, [stored])
})

test('the PUBLISH: QoS 1 to the car\'s commands topic, never retained; MQTT 5 expiry = TTL left, response topic, correlation data = commandId', () => {
  const p = commandPacket(cmd('abc', 'car-9', 90), now + 30_500)
  assert.equal(p.topic, 'vehicles/car-9/commands')
  assert.equal(p.qos, 1)
  assert.equal(p.retain, false)
  assert.deepEqual(JSON.parse(p.payload.toString()), cmd('abc', 'car-9', 90))
  assert.equal(p.properties?.messageExpiryInterval, 60)
  assert.equal(p.properties?.responseTopic, 'vehicles/car-9/commands/ack')
  assert.deepEqual(p.properties?.correlationData, Buffer.from('abc'))
  assert.equal(commandPacket(cmd('x', 'car-9', 1), now + 5_000).properties?.messageExpiryInterval, 1, 'at least 1 s')
})
