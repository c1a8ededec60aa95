import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createCommandIssuer, type CommandIssuerDeps } from './command-issuer.js'
import type { CommandRecord } from './command-schema.js'
import type { CommandStore } from './command-store.js'
import { KafkaTopics } from './topics.js'

/** A store in memory with the real store's rules: failUnqueued only moves a pending record. */
function memoryStore () {
  const records = new Map<string, CommandRecord>()
  const claims = new Map<string, { commandId: string, fingerprint: string }>()
  const store: Pick<CommandStore, 'create' | 'get' | 'failUnqueued' | 'claimIdempotency' | 'releaseIdempotency'> = {
    create: async r => { records.set(r.commandId, r) },
    get: async id => records.get(id) ?? null,
    failUnqueued: async (r, detail, at) => {
      const now = records.get(r.commandId)!
      if (now.status !== 'pending') return now
      const failed: CommandRecord = { ...now, status: 'failed', detail, updatedAt: at, history: [...now.history, { status: 'failed', at, source: 'api', detail }] }
      records.set(r.commandId, failed)
      return failed
    },
    claimIdempotency: async (scope, key, claim) => {
      const held = claims.get(`${scope}/${key}`)
      if (held === undefined) { claims.set(`${scope}/${key}`, claim); return { claimed: true } }
      return { claimed: false, ...held }
    },
    releaseIdempotency: async (scope, key) => { claims.delete(`${scope}/${key}`) }
  }
  return { store: store as CommandStore, records, claims }
}

/** A producer whose sends to vehicle.commands the test answers by hand. */
function heldProducer () {
  const commands: Array<{ resolve: () => void, reject: (e: Error) => void }> = []
  const events: string[] = []
  const producer: CommandIssuerDeps['producer'] = {
    send: async ({ topic, messages }) => {
      if (topic === KafkaTopics.commandEvents) { events.push(String(messages[0]!.value)); return [] }
      await new Promise<void>((resolve, reject) => commands.push({ resolve, reject }))
      return []
    }
  }
  return { producer, commands, events }
}

const req = { vehicleId: 'car-1', request: { type: 'lock' as const }, ttlS: 60, requestedBy: 'op', idempotency: { scope: 'op', key: 'k1' } }
const tick = (ms = 5) => new Promise(resolve => setTimeout(resolve, ms))

test('Kafka answers in time: created, or unavailable (failed, key released) when it refuses', async () => {
  const { store, records, claims } = memoryStore()
  const { producer, commands, events } = heldProducer()
  const issuer = createCommandIssuer({ store, producer, queueTimeoutMs: 1_000 })
  const ok = issuer.issue(req)
  await tick()
  commands[0]!.resolve()
  const created = await ok
  assert.equal(created.kind, 'created')
  await tick()
  assert.equal(events.length, 1, 'the pending event is written')
  const refused = issuer.issue({ ...req, idempotency: { scope: 'op', key: 'k2' } })
  await tick()
  commands[1]!.reject(new Error('broker down'))
  const r = await refused
  assert.equal(r.kind, 'unavailable')
  assert.match(r.kind === 'unavailable' ? r.detail : '', /broker down/)
  assert.equal(records.get(r.kind === 'unavailable' ? r.record.commandId : '')?.status, 'failed')
  assert.equal(claims.has('op/k2'), false, 'the key may be used again')
})

test('Kafka slower than queueTimeoutMs: accepted (pending) in bounded time; a late ack keeps it pending, a late refusal fails it', async () => {
  const { store, records, claims } = memoryStore()
  const { producer, commands, events } = heldProducer()
  const late: Array<{ commandId: string, queued: boolean }> = []
  const issuer = createCommandIssuer({ store, producer, queueTimeoutMs: 30, onLateOutcome: o => late.push(o) })
  const started = Date.now()
  const a = await issuer.issue(req)
  assert.ok(Date.now() - started < 1_000, 'answered within the bound')
  assert.equal(a.kind, 'accepted')
  assert.equal(a.kind === 'accepted' && a.record.status, 'pending')
  assert.equal(claims.has('op/k1'), true, 'the key stays claimed while the command may be queued')
  const again = await issuer.issue(req)
  assert.equal(again.kind, 'replayed', 'a retry with the key names the same command')
  commands[0]!.resolve()
  await tick()
  assert.deepEqual(late, [{ commandId: a.record.commandId, queued: true }])
  assert.equal(records.get(a.record.commandId)?.status, 'pending')
  assert.equal(events.length, 1)

  const b = await issuer.issue({ ...req, idempotency: { scope: 'op', key: 'k3' } })
  assert.equal(b.kind, 'accepted')
  commands[1]!.reject(new Error('timed out'))
  await tick()
  assert.equal(records.get(b.record.commandId)?.status, 'failed')
  assert.equal(late.at(-1)?.queued, false)
  assert.equal(claims.has('op/k3'), false)
})

test('a late refusal does not fail a command the commander already moved on (Kafka had taken it)', async () => {
  const { store, records } = memoryStore()
  const { producer, commands } = heldProducer()
  const late: Array<{ queued: boolean }> = []
  const issuer = createCommandIssuer({ store, producer, queueTimeoutMs: 20, onLateOutcome: o => late.push(o) })
  const a = await issuer.issue({ ...req, idempotency: undefined })
  assert.equal(a.kind, 'accepted')
  const r = records.get(a.record.commandId)!
  records.set(r.commandId, { ...r, status: 'sent', history: [...r.history, { status: 'sent', at: new Date().toISOString(), source: 'commander' }] })
  commands[0]!.reject(new Error('request timed out'))
  await tick()
  assert.equal(records.get(a.record.commandId)?.status, 'sent')
  assert.deepEqual(late, [{ commandId: a.record.commandId, queued: true }])
})

test('the answer does not wait for the pending event (a slow Kafka holds only that write)', async () => {
  const { store } = memoryStore()
  let eventsSent = 0
  const producer: CommandIssuerDeps['producer'] = {
    send: async ({ topic }) => {
      if (topic === KafkaTopics.commandEvents) { eventsSent++; await new Promise(() => {}) }
      return []
    }
  }
  const issuer = createCommandIssuer({ store, producer, queueTimeoutMs: 60_000 })
  const started = Date.now()
  const r = await issuer.issue({ ...req, idempotency: undefined })
  assert.equal(r.kind, 'created')
  assert.ok(Date.now() - started < 1_000)
  assert.equal(eventsSent, 1)
})
