import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Client } from 'aedes'
import msgpack from 'msgpack-lite'
import { commandsTopicOwner } from '../acl.js'
import { indexOwnSubscriptionsInRedis, sessionSubscriptionsKey, type IndexedStore } from './session-index.js'
import type { StoredSubscription } from './session-store.js'

interface Sub { clientId: string, topic: string, qos: number }

/** aedes-persistence-redis' role, faked: a fleet-wide index (`trie`) and per-client queues. */
function fixture (trie: Sub[] = []) {
  const hashes = new Map<string, Map<string, Buffer>>()
  const indexed: Array<[string, StoredSubscription[]]> = []
  const queued: string[][] = []
  let redisDown = false
  const redis = {
    hset: async (key: string, values: Record<string, Buffer>) => {
      if (redisDown) throw new Error('redis down')
      const h = hashes.get(key) ?? new Map<string, Buffer>()
      for (const [f, v] of Object.entries(values)) h.set(f, v)
      hashes.set(key, h)
      return Object.keys(values).length
    },
    hexists: async (key: string, field: string) => {
      if (redisDown) throw new Error('redis down')
      return hashes.get(key)?.has(field) === true ? 1 : 0
    }
  }
  const store: IndexedStore = indexOwnSubscriptionsInRedis({
    addSubscriptions: async (client: Client, subs: StoredSubscription[]) => { indexed.push([client.id, subs]) },
    subscriptionsByTopic: async (topic: string) => trie.filter(s => s.topic === topic || s.topic === 'vehicles/+/commands'),
    outgoingEnqueueCombi: async (subs: Sub[]) => { queued.push(subs.map(s => s.clientId)) }
  }, { redis, ownerOf: commandsTopicOwner })
  return { store, hashes, indexed, queued, setRedisDown: (down: boolean) => { redisDown = down } }
}

const client = (id: string) => ({ id, clean: false }) as unknown as Client
const enqueue = async (f: ReturnType<typeof fixture>, topic: string) => {
  const subs = await f.store.subscriptionsByTopic(topic) as Sub[]
  await f.store.outgoingEnqueueCombi(subs, { topic })
}

test("a car's own commands subscription goes to its session hash only, in the library's encoding", async () => {
  const f = fixture()
  await f.store.addSubscriptions(client('car-1'), [{ topic: 'vehicles/car-1/commands', qos: 1 }])
  assert.deepEqual(f.indexed, [], 'not in the fleet-wide index')
  const stored = f.hashes.get(sessionSubscriptionsKey('car-1'))?.get('vehicles/car-1/commands')
  assert.deepEqual(msgpack.decode(stored!), { topic: 'vehicles/car-1/commands', qos: 1 })
})

test('other subscriptions keep the library path: another id, wildcards, anything else', async () => {
  const f = fixture()
  await f.store.addSubscriptions(client('service:watch'), [{ topic: 'vehicles/car-1/commands', qos: 1 }, { topic: 'vehicles/+/commands', qos: 0 }])
  await f.store.addSubscriptions(client('car-1'), [{ topic: 'vehicles/car-1/commands', qos: 1 }, { topic: 'vehicles/car-1/commands/ack', qos: 0 }])
  assert.deepEqual(f.indexed, [
    ['service:watch', [{ topic: 'vehicles/car-1/commands', qos: 1 }, { topic: 'vehicles/+/commands', qos: 0 }]],
    ['car-1', [{ topic: 'vehicles/car-1/commands/ack', qos: 0 }]]
  ])
  assert.equal(f.hashes.size, 1)
})

test('a command is queued for the car whose session holds the topic, and not for one that does not', async () => {
  const f = fixture()
  await f.store.addSubscriptions(client('car-1'), [{ topic: 'vehicles/car-1/commands', qos: 1 }])
  await enqueue(f, 'vehicles/car-1/commands')
  await enqueue(f, 'vehicles/car-2/commands')
  assert.deepEqual(f.queued, [['car-1'], []])
})

test('a session also in the library index (stored before this rule) is queued for once; other subscribers too', async () => {
  const f = fixture([
    { clientId: 'car-1', topic: 'vehicles/car-1/commands', qos: 1 },
    { clientId: 'service:watch', topic: 'vehicles/+/commands', qos: 0 }
  ])
  await f.store.addSubscriptions(client('car-1'), [{ topic: 'vehicles/car-1/commands', qos: 1 }])
  await enqueue(f, 'vehicles/car-1/commands')
  await f.store.addSubscriptions(client('car-2'), [{ topic: 'vehicles/car-2/commands', qos: 1 }])
  await enqueue(f, 'vehicles/car-2/commands')
  assert.deepEqual(f.queued, [['car-1', 'service:watch'], ['service:watch', 'car-2']])
})

test('topics that are not a car\'s exact commands topic are answered by the library alone', async () => {
  const f = fixture([{ clientId: 'x', topic: 'other/topic', qos: 1 }])
  assert.deepEqual(await f.store.subscriptionsByTopic('other/topic'), [{ clientId: 'x', topic: 'other/topic', qos: 1 }])
  assert.deepEqual(await f.store.subscriptionsByTopic('vehicles/car-1/telemetry'), [])
})

test('Redis errors reach the caller (aedes fails the publish), in promise and callback forms', async () => {
  const f = fixture()
  f.setRedisDown(true)
  await assert.rejects(f.store.addSubscriptions(client('car-1'), [{ topic: 'vehicles/car-1/commands', qos: 1 }]) as Promise<unknown>, /redis down/)
  const subs = await f.store.subscriptionsByTopic('vehicles/car-1/commands') as Sub[]
  await assert.rejects(f.store.outgoingEnqueueCombi(subs, {}) as Promise<unknown>, /redis down/)
  const err = await new Promise(resolve => f.store.outgoingEnqueueCombi(subs, {}, resolve))
  assert.match(String(err), /redis down/)
})

test('commandsTopicOwner names the car only for its exact commands topic', () => {
  assert.equal(commandsTopicOwner('vehicles/car-1/commands'), 'car-1')
  for (const t of ['vehicles/+/commands', 'vehicles/car-1/commands/ack', 'vehicles/car-1/telemetry', 'vehicles/#', 'vehicles/car 1/commands', 'x/car-1/commands']) {
    assert.equal(commandsTopicOwner(t), null, t)
  }
})
