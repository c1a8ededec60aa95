import assert from 'node:assert/strict'
import { test } from 'node:test'
import mqemitter from 'mqemitter'
import { createRoutingEmitter, filterMayMatchLocal, filterMayMatchShared, isSharedTopic } from './routing-emitter.js'

test('only commands and $SYS topics are shared', () => {
  assert.ok(isSharedTopic('vehicles/car-1/commands'))
  assert.ok(isSharedTopic('$SYS/b1/heartbeat'))
  assert.ok(isSharedTopic('$SYS/sub/add'))
  for (const t of ['vehicles/car-1/telemetry', 'vehicles/car-1/status', 'vehicles/car-1/commands/ack', 'other']) assert.ok(!isSharedTopic(t), t)
})

test('filters subscribe where they could match', () => {
  assert.deepEqual([filterMayMatchShared('vehicles/car-1/commands'), filterMayMatchLocal('vehicles/car-1/commands')], [true, false])
  assert.deepEqual([filterMayMatchShared('$SYS/+/heartbeat'), filterMayMatchLocal('$SYS/+/heartbeat')], [true, false])
  assert.deepEqual([filterMayMatchShared('vehicles/+/status'), filterMayMatchLocal('vehicles/+/status')], [false, true])
  assert.deepEqual([filterMayMatchShared('vehicles/+/+'), filterMayMatchLocal('vehicles/+/+')], [true, true])
  assert.deepEqual([filterMayMatchShared('#'), filterMayMatchLocal('#')], [true, true])
  assert.deepEqual([filterMayMatchShared('vehicles/#'), filterMayMatchLocal('vehicles/#')], [true, true])
})

test('each message goes through exactly one emitter, and a wildcard subscriber hears both', async () => {
  const local = mqemitter()
  const shared = mqemitter()
  const localEmits: string[] = []
  const sharedEmits: string[] = []
  const le = local.emit.bind(local)
  const se = shared.emit.bind(shared)
  local.emit = (m, cb) => { localEmits.push(m.topic); le(m, cb) }
  shared.emit = (m, cb) => { sharedEmits.push(m.topic); se(m, cb) }
  const router = createRoutingEmitter({ local, shared })
  const heard: string[] = []
  await new Promise<void>(resolve => router.on('vehicles/#', (m, done) => { heard.push(m.topic); done() }, resolve))
  await new Promise<void>(resolve => router.emit({ topic: 'vehicles/a/commands' }, () => resolve()))
  await new Promise<void>(resolve => router.emit({ topic: 'vehicles/a/status' }, () => resolve()))
  assert.deepEqual(sharedEmits, ['vehicles/a/commands'])
  assert.deepEqual(localEmits, ['vehicles/a/status'])
  assert.deepEqual(heard.sort(), ['vehicles/a/commands', 'vehicles/a/status'])
  await new Promise<void>(resolve => router.close(resolve))
})
