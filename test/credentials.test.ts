// Per-car credentials against a real broker and Redis (issue #21, points 1-2): the published
// development key is no credential outside development, a rotated-out credential stops working
// when its overlap ends, re-provisioning a revoked car never revives its old credential or
// certificate, and a copy of the credential data in Redis lets nobody connect.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import { startTestBroker, type TestBroker } from './helpers/broker.js'
import { connackCode, uniqueFleetPrefix } from './helpers/cars.js'
import { credentialAdapter, legacyCarToken, legacyServiceToken } from './helpers/credentials.js'

const prefix = uniqueFleetPrefix('creds')
let tb: TestBroker
let redis: Redis
let creds: ReturnType<typeof credentialAdapter>

before(async () => {
  // a production broker: no development flag
  tb = await startTestBroker({ FLEET_DEV_MODE: '' })
  redis = new Redis(tb.config.redisUrl)
  creds = credentialAdapter(redis)
})
after(async () => {
  redis?.disconnect()
  await tb?.stop()
})

test('the published development key logs in neither as a car nor as service:commander', async () => {
  const id = `${prefix}-devkey`
  await creds.provision(id)
  assert.equal(await connackCode(id, tb.mqttPort, { password: legacyCarToken(id) }), 4)
  const commander = 'service:commander'
  assert.equal(await connackCode(commander, tb.mqttPort, { clientId: `${commander}:x`, username: commander, password: legacyServiceToken('commander') }), 4)
})

test('after a rotation the old credential works during the overlap only', async () => {
  const id = `${prefix}-rot`
  const first = await creds.provision(id)
  assert.equal(await connackCode(id, tb.mqttPort, { password: first }), 0)
  const second = await creds.rotate(id, 1)
  assert.notEqual(second, first, 'a rotation makes a new password')
  assert.equal(await connackCode(id, tb.mqttPort, { password: first }), 0, 'the old one still works during the overlap')
  assert.equal(await connackCode(id, tb.mqttPort, { password: second }), 0)
  await new Promise(resolve => setTimeout(resolve, 1_200))
  assert.equal(await connackCode(id, tb.mqttPort, { password: first }), 4, 'the old one is refused once the overlap ended')
  assert.equal(await connackCode(id, tb.mqttPort, { password: second }), 0)
})

test('re-provisioning a revoked car does not revive its old credential', async () => {
  const id = `${prefix}-revive`
  const old = await creds.provision(id)
  await creds.revoke(id)
  assert.equal(await connackCode(id, tb.mqttPort, { password: old }), 5)
  const fresh = await creds.provision(id)
  assert.notEqual(await connackCode(id, tb.mqttPort, { password: old }), 0, 'the revoked credential stays dead')
  assert.equal(await connackCode(id, tb.mqttPort, { password: fresh }), 0)
})

test('a copy of the car\'s credential data in Redis is no password', async () => {
  const id = `${prefix}-copy`
  const password = await creds.provision(id)
  const stored = await redis.hgetall(`fleet:vehicle:${id}`)
  const candidates = Object.entries(stored).flatMap(([f, v]) => [v, f, ...v.split(':'), `fc1.${f.replace(/^c:/, '')}.${v.split(':')[0]}`])
  for (const candidate of candidates) {
    assert.notEqual(candidate, password)
    assert.equal(await connackCode(id, tb.mqttPort, { password: candidate }), 4, `stored value ${JSON.stringify(candidate.slice(0, 12))}… must not log in`)
  }
  assert.equal(await connackCode(id, tb.mqttPort, { password }), 0)
})
