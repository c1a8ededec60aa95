import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { AuthorizeForwardHandler, Client } from 'aedes'
import { Registry } from 'prom-client'
import { createLogger } from '../../shared/src/logger.js'
import { createBrokerMetrics } from './broker-metrics.js'
import { createCommandRelay } from './command-relay.js'
import type { IngestSink } from './kafka-ingest.js'
import type { VehicleIdentity } from './vehicle-auth.js'

const car = (id: string) => ({ id, clean: false, subscriptions: {} }) as unknown as Client
const identity: VehicleIdentity = { get: c => c.id, principal: () => undefined }
const command = (vehicleId: string, commandId: string, expiresAt = new Date(Date.now() + 60_000).toISOString()) => ({
  cmd: 'publish',
  topic: `vehicles/${vehicleId}/commands`,
  qos: 1,
  dup: false,
  retain: false,
  payload: Buffer.from(JSON.stringify({ commandId, vehicleId, type: 'lock', params: {}, expiresAt })),
  brokerId: 'b0',
  brokerCounter: 1
}) as Packet
type Packet = Parameters<AuthorizeForwardHandler>[1]

function relay () {
  const metrics = createBrokerMetrics(new Registry())
  const r = createCommandRelay({ sink: {} as IngestSink, identity, brokerId: 'b1', metrics, log: createLogger('test', 'silent') })
  return { forward: r.authorizeForward, metrics }
}

test('a connection is forwarded each command once, whichever path offers it again; a new connection gets it again', async () => {
  const { forward, metrics } = relay()
  const first = car('car-1')
  assert.ok(forward(first, command('car-1', 'c1')))
  assert.equal(forward(first, command('car-1', 'c1')), null, 'the same command again on the same connection')
  assert.ok(forward(first, command('car-1', 'c2')))
  assert.ok(forward(car('car-1'), command('car-1', 'c1')), 'the next connection of the car (an unacknowledged command is resent)')
  assert.equal((await metrics.commands.get()).values.find(v => v.labels.event === 'duplicate_not_forwarded')?.value, 1)
})

test('commands for another car and expired commands are not forwarded; other topics pass', () => {
  const { forward } = relay()
  assert.equal(forward(car('car-1'), command('car-2', 'c1')), null)
  assert.equal(forward(car('car-1'), command('car-1', 'old', new Date(Date.now() - 1).toISOString())), null)
  const status = { cmd: 'publish', topic: 'vehicles/car-1/status', qos: 0, dup: false, retain: false, payload: Buffer.from('{}'), brokerId: 'b0', brokerCounter: 2 } as Packet
  assert.equal(forward(car('car-1'), status), status)
})
