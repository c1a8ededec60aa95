import assert from 'node:assert/strict'
import { test } from 'node:test'
import mqemitter, { type MQEmitter } from 'mqemitter'
import { COMMANDS_FILTER, createRoutingEmitter, createTopicTable, filterMayMatchLocal, filterMayMatchShared, isSharedTopic } from './routing-emitter.js'

test('only commands and the $SYS topics other pods listen to are shared', () => {
  assert.ok(isSharedTopic('vehicles/car-1/commands'))
  for (const t of ['$SYS/b1/heartbeat', '$SYS/b1/birth', '$SYS/b1/new/clients', '$SYS/sub/add', '$SYS/sub/rm']) assert.ok(isSharedTopic(t), t)
  for (const t of ['vehicles/car-1/telemetry', 'vehicles/car-1/status', 'vehicles/car-1/commands/ack', 'other', '$SYS/b1/new/subscribes', '$SYS/b1/new/unsubscribes', '$SYS/b1/disconnect/clients']) assert.ok(!isSharedTopic(t), t)
})

test('filters subscribe where they could match', () => {
  assert.deepEqual([filterMayMatchShared('vehicles/car-1/commands'), filterMayMatchLocal('vehicles/car-1/commands')], [true, false])
  assert.deepEqual([filterMayMatchShared('$SYS/+/heartbeat'), filterMayMatchLocal('$SYS/+/heartbeat')], [true, true])
  assert.deepEqual([filterMayMatchShared('vehicles/+/status'), filterMayMatchLocal('vehicles/+/status')], [false, true])
  assert.deepEqual([filterMayMatchShared('vehicles/+/+'), filterMayMatchLocal('vehicles/+/+')], [true, true])
  assert.deepEqual([filterMayMatchShared('#'), filterMayMatchLocal('#')], [true, true])
  assert.deepEqual([filterMayMatchShared('vehicles/#'), filterMayMatchLocal('vehicles/#')], [true, true])
})

function spy (e: MQEmitter) {
  const emits: string[] = []
  const ons: string[] = []
  const emit = e.emit.bind(e)
  const on = e.on.bind(e)
  e.emit = (m, cb) => { emits.push(m.topic); return emit(m, cb) }
  e.on = (t, n, d) => { ons.push(t); return on(t, n, d) }
  return { emits, ons }
}

/** A router over two spied in-memory emitters; `emit` resolves once the message was delivered. */
function rig () {
  const local = mqemitter()
  const shared = mqemitter()
  const l = spy(local)
  const s = spy(shared)
  const router = createRoutingEmitter({ local, shared })
  const heard: string[] = []
  const emit = (topic: string) => new Promise<void>(resolve => router.emit({ topic }, () => resolve()))
  const close = () => new Promise<void>(resolve => router.close(resolve))
  return { router, l, s, heard, emit, close }
}

test('each message goes through exactly one emitter, and a wildcard subscriber hears both', async () => {
  const { router, l, s, heard, emit, close } = rig()
  await new Promise<void>(resolve => router.on('vehicles/#', (m, done) => { heard.push(m.topic); done() }, resolve))
  for (const topic of ['vehicles/a/commands', 'vehicles/a/status', '$SYS/b1/new/subscribes']) await emit(topic)
  assert.deepEqual(s.emits, ['vehicles/a/commands'])
  assert.deepEqual(l.emits, ['vehicles/a/status', '$SYS/b1/new/subscribes'])
  assert.deepEqual(heard.sort(), ['vehicles/a/commands', 'vehicles/a/status'])
  await close()
})

test('a car\'s commands subscription adds nothing to the shared emitter: one pattern subscription carries every car\'s commands', async () => {
  const { router, l, s, heard, emit, close } = rig()
  const listeners = ['a', 'b', 'c'].map(car => (m: { topic: string }, done: () => void) => { heard.push(`${car}:${m.topic}`); done() })
  for (const [i, car] of ['a', 'b', 'c'].entries()) await new Promise<void>(resolve => router.on(`vehicles/${car}/commands`, listeners[i]!, resolve))
  assert.deepEqual(s.ons, [COMMANDS_FILTER])
  assert.deepEqual(l.ons, [])
  await emit('vehicles/b/commands')
  await emit('vehicles/nobody-here/commands')
  assert.deepEqual(heard, ['b:vehicles/b/commands'])
  await new Promise<void>(resolve => router.removeListener('vehicles/b/commands', listeners[1]!, resolve))
  await emit('vehicles/b/commands')
  assert.deepEqual(heard, ['b:vehicles/b/commands'])
  assert.deepEqual(s.emits, ['vehicles/b/commands', 'vehicles/nobody-here/commands', 'vehicles/b/commands'])
  await close()
})

test('topic table: several listeners on one topic, each called once, done after the last', async () => {
  const table = createTopicTable()
  const calls: string[] = []
  const a = (_m: unknown, done: () => void) => { calls.push('a'); setImmediate(done) }
  const b = (_m: unknown, done: () => void) => { calls.push('b'); done() }
  table.on('t', a)
  table.on('t', b)
  await new Promise<void>(resolve => table.emit({ topic: 't' }, resolve))
  assert.deepEqual(calls, ['a', 'b'])
  table.removeListener('t', a)
  await new Promise<void>(resolve => table.emit({ topic: 't' }, resolve))
  assert.deepEqual(calls, ['a', 'b', 'b'])
  table.removeListener('t', b)
  assert.equal(table.size, 0)
})
