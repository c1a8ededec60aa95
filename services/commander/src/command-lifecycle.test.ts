import assert from 'node:assert/strict'
import { test } from 'node:test'
import { COMMAND_STATUSES, type CommandEvent, type CommandRecord, type CommandStatus } from '../../shared/src/command-schema.js'
import { applyEvent, expiryDetail, expiryDue, isFinal, STATUS_RANK } from './command-lifecycle.js'

const t0 = Date.parse('2026-01-01T00:00:00.000Z')
const at = (s: number) => new Date(t0 + s * 1000).toISOString()
const record = (): CommandRecord => ({
  commandId: 'c1',
  vehicleId: 'car-1',
  type: 'lock',
  params: {},
  status: 'pending',
  createdAt: at(0),
  expiresAt: at(60),
  updatedAt: at(0),
  requestedBy: 'ops',
  history: [{ status: 'pending', at: at(0), source: 'api' }]
})
const ev = (status: CommandStatus, s: number, extra: Partial<CommandEvent> = {}): CommandEvent => ({ commandId: 'c1', vehicleId: 'car-1', status, at: at(s), source: 'broker:b1', ...extra })
const run = (events: CommandEvent[]) => events.reduce((r, e) => applyEvent(r, e).record, record())

test('the happy path moves forward one step at a time', () => {
  const r = run([ev('sent', 1, { source: 'commander' }), ev('delivered', 2), ev('acknowledged', 3, { detail: 'locked' })])
  assert.equal(r.status, 'acknowledged')
  assert.equal(r.detail, 'locked')
  assert.equal(r.updatedAt, at(3))
  assert.deepEqual(r.history.map(h => h.status), ['pending', 'sent', 'delivered', 'acknowledged'])
})

test('out of order: acknowledged before delivered and sent ends acknowledged, with the full history in time order', () => {
  const r = run([ev('acknowledged', 3), ev('delivered', 2), ev('sent', 1, { source: 'commander' })])
  assert.equal(r.status, 'acknowledged')
  assert.deepEqual(r.history.map(h => h.status), ['pending', 'sent', 'delivered', 'acknowledged'])
  assert.equal(r.updatedAt, at(3))
})

test('every order of the same events gives the same record', () => {
  const events = [ev('sent', 1), ev('delivered', 2), ev('rejected', 3, { detail: 'moving' })]
  const perms = (xs: CommandEvent[]): CommandEvent[][] => xs.length <= 1 ? [xs] : xs.flatMap((x, i) => perms([...xs.slice(0, i), ...xs.slice(i + 1)]).map(p => [x, ...p]))
  const results = perms(events).map(p => JSON.stringify(run(p)))
  assert.equal(new Set(results).size, 1)
  assert.equal(JSON.parse(results[0]!).status, 'rejected')
})

test('final statuses never move: a later different final is ignored, the first in the log wins', () => {
  const expired = applyEvent(record(), ev('expired', 70, { source: 'commander' })).record
  const late = applyEvent(expired, ev('acknowledged', 71))
  assert.equal(late.outcome, 'final')
  assert.equal(late.changed, false)
  assert.equal(late.record.status, 'expired')
  const other = applyEvent(applyEvent(record(), ev('acknowledged', 3)).record, ev('expired', 70))
  assert.equal(other.record.status, 'acknowledged')
})

test('a late non-final step after a final one only fills the history', () => {
  const acked = applyEvent(record(), ev('acknowledged', 3)).record
  const t = applyEvent(acked, ev('delivered', 2))
  assert.equal(t.outcome, 'late')
  assert.equal(t.changed, true)
  assert.equal(t.record.status, 'acknowledged')
})

test('duplicates change nothing; another car\'s event is ignored', () => {
  const sent = applyEvent(record(), ev('sent', 1)).record
  assert.equal(applyEvent(sent, ev('sent', 1)).outcome, 'duplicate')
  assert.equal(applyEvent(sent, ev('pending', 0)).outcome, 'duplicate')
  const other = applyEvent(sent, ev('acknowledged', 2, { vehicleId: 'car-2' }))
  assert.equal(other.outcome, 'mismatch')
  assert.equal(other.record.status, 'sent')
})

test('ranks: every final status outranks delivered, and only they are final', () => {
  for (const s of COMMAND_STATUSES) assert.equal(isFinal(s), STATUS_RANK[s] === 3, s)
})

test('expiry is due after expiresAt + grace for anything not final; the detail says whether it was delivered', () => {
  const r = record()
  assert.equal(expiryDue(r, t0 + 60_000, 2_000), false)
  assert.equal(expiryDue(r, t0 + 62_000, 2_000), true)
  assert.match(expiryDetail(r), /not delivered/)
  const delivered = applyEvent(r, ev('delivered', 2)).record
  assert.equal(expiryDue(delivered, t0 + 62_000, 2_000), true)
  assert.match(expiryDetail(delivered), /did not answer/)
  assert.equal(expiryDue(applyEvent(r, ev('acknowledged', 2)).record, t0 + 99_000, 0), false)
})
