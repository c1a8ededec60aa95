import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { test } from 'node:test'
import type { Client } from 'aedes'
import { applySessionRules, type OutgoingPacket, type StoredSubscription } from './session-store.js'

function fakeStore (clearFails = false) {
  const calls: string[] = []
  const stored: StoredSubscription[][] = []
  const storeErrors: string[] = []
  const store = {
    outgoingClearMessageId: (_client: Client, packet: OutgoingPacket) => {
      calls.push(`clear:${packet.messageId}`)
      return clearFails
        ? Promise.reject(new Error('Connection is closed.'))
        : Promise.resolve({ topic: 'vehicles/a/commands', messageId: packet.messageId })
    },
    outgoingUpdate: (_client: Client, packet: OutgoingPacket) => { calls.push(`update:${packet.messageId}`); return Promise.resolve() },
    delWill: (client: { id: string, brokerId?: string }) => { calls.push(`delWill:${client.id}`); return Promise.resolve(null) },
    addSubscriptions: (_client: Client, subs: StoredSubscription[]) => { stored.push(subs); return Promise.resolve(_client) },
    createRetainedStreamCombi: (patterns: string[]) => { calls.push(`retained:${patterns.join(',')}`); return Readable.from([]) }
  }
  const rules = applySessionRules(store, {
    maySubscribe: (client, filter) => filter === `vehicles/${client.id}/commands`,
    neverRetained: filter => filter.endsWith('/commands'),
    onStoreError: (op, err) => { storeErrors.push(`${op}: ${err.message}`) }
  })
  return { rules, calls, stored, storeErrors }
}

const car = (id: string, clean: boolean, subscriptions: Record<string, { qos: number }> = {}) => ({ id, clean, subscriptions }) as unknown as Client

test('only the subscriptions the ACL grants are stored in the session', async () => {
  const { rules, stored } = fakeStore()
  await rules.addSubscriptions(car('a', false), [{ topic: 'vehicles/a/commands', qos: 1 }, { topic: 'vehicles/b/commands', qos: 1 }, { topic: '#', qos: 0 }])
  assert.deepEqual(stored, [[{ topic: 'vehicles/a/commands', qos: 1 }]])
  await rules.addSubscriptions(car('a', false), [{ topic: 'vehicles/b/commands', qos: 1 }])
  assert.equal(stored.length, 1, 'nothing granted: nothing written')
})

test('a persistent session re-subscribing to what it already holds writes nothing; a changed QoS is written', async () => {
  const { rules, stored } = fakeStore()
  const held = car('a', false, { 'vehicles/a/commands': { qos: 1 } })
  await rules.addSubscriptions(held, [{ topic: 'vehicles/a/commands', qos: 1 }])
  assert.equal(stored.length, 0)
  await rules.addSubscriptions(held, [{ topic: 'vehicles/a/commands', qos: 0 }])
  assert.deepEqual(stored, [[{ topic: 'vehicles/a/commands', qos: 0 }]])
})

test('the callback form is answered too when nothing is written', async () => {
  const { rules } = fakeStore()
  const client = car('a', false)
  const add = rules.addSubscriptions as (c: Client, s: StoredSubscription[], cb: (err: null, c: Client) => void) => unknown
  const got = await new Promise(resolve => add(client, [{ topic: 'elsewhere', qos: 1 }], (_err, c) => resolve(c)))
  assert.equal(got, client)
})

test('the will of a client that has none stored is not deleted; a real will delete passes', async () => {
  const { rules, calls } = fakeStore()
  assert.equal(await rules.delWill({ id: 'a' }), null)
  await rules.delWill({ id: 'a', brokerId: 'b1' })
  assert.deepEqual(calls, ['delWill:a'])
})

test('retained lookups skip filters nothing retained can match', async () => {
  const { rules, calls } = fakeStore()
  rules.createRetainedStreamCombi(['vehicles/a/commands'])
  rules.createRetainedStreamCombi(['vehicles/a/commands', 'other/#'])
  assert.deepEqual(calls, ['retained:other/#'])
})

test('a PUBACK whose queue entry cannot be cleared (Redis away) keeps the connection: counted, answered without error', async () => {
  const { rules, storeErrors } = fakeStore(true)
  assert.equal(await rules.outgoingClearMessageId(car('a', false), { messageId: 7 }), undefined)
  const clear = rules.outgoingClearMessageId as (c: Client, p: { messageId: number }, cb: (err: unknown, p: unknown) => void) => unknown
  const viaCallback = await new Promise(resolve => clear(car('a', false), { messageId: 8 }, (err, p) => resolve([err, p])))
  assert.deepEqual(viaCallback, [null, undefined])
  assert.deepEqual(storeErrors, ['clear_delivered: Connection is closed.', 'clear_delivered: Connection is closed.'])
})

test('a PUBACK cleared as usual hands aedes the original packet', async () => {
  const { rules, storeErrors } = fakeStore()
  assert.deepEqual(await rules.outgoingClearMessageId(car('a', false), { messageId: 7 }), { topic: 'vehicles/a/commands', messageId: 7 })
  assert.deepEqual(storeErrors, [])
})

test('a refused copy of a stored packet that is in flight on the connection clears nothing; the PUBACK clears', async () => {
  const { rules, calls } = fakeStore()
  const c = car('a', false)
  const k = { cmd: 'publish', brokerId: 'b1', brokerCounter: 5 }
  // the live copy and the queued copy under the same id (written into the stored packet) ...
  await rules.outgoingUpdate(c, { ...k, messageId: 7 })
  await rules.outgoingUpdate(c, { ...k, messageId: 7 })
  assert.equal(await rules.outgoingClearMessageId(c, { ...k, messageId: 7 }), undefined) // refused
  assert.deepEqual(await rules.outgoingClearMessageId(c, { cmd: 'puback', messageId: 7 }), { topic: 'vehicles/a/commands', messageId: 7 })
  // ... or under an id of its own (read before the live copy's)
  const j = { cmd: 'publish', brokerId: 'b1', brokerCounter: 6 }
  await rules.outgoingUpdate(c, { ...j, messageId: 8 })
  await rules.outgoingUpdate(c, { ...j, messageId: 30 })
  await rules.outgoingClearMessageId(c, { ...j, messageId: 30 }) // refused
  await rules.outgoingClearMessageId(c, { cmd: 'puback', messageId: 8 })
  // a lone refused delivery clears its entry as before; another connection's deliveries are its own
  await rules.outgoingUpdate(c, { ...k, brokerCounter: 9, messageId: 9 })
  await rules.outgoingUpdate(car('a', false), { ...k, brokerCounter: 9, messageId: 9 })
  await rules.outgoingClearMessageId(c, { ...k, brokerCounter: 9, messageId: 9 })
  assert.deepEqual(calls.filter(x => x.startsWith('clear')), ['clear:7', 'clear:8', 'clear:9'])
})
