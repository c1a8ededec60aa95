import assert from 'node:assert/strict'
import { test } from 'node:test'
import { serviceToken, vehicleToken, verifyServiceToken, verifyVehicleToken } from './vehicle-credentials.js'

test('a car token verifies for its car and key only', () => {
  const t = vehicleToken('k1', 'car-1')
  assert.ok(verifyVehicleToken('k1', 'car-1', t))
  assert.ok(verifyVehicleToken('k1', 'car-1', Buffer.from(t)))
  assert.ok(!verifyVehicleToken('k1', 'car-2', t))
  assert.ok(!verifyVehicleToken('k2', 'car-1', t))
  assert.ok(!verifyVehicleToken('k1', 'car-1', undefined))
  assert.ok(!verifyVehicleToken('k1', 'car-1', t.slice(0, -1)))
})

test('service and car tokens are not interchangeable', () => {
  assert.notEqual(serviceToken('k', 'commander'), vehicleToken('k', 'commander'))
  assert.ok(verifyServiceToken('k', 'commander', serviceToken('k', 'commander')))
  assert.ok(!verifyServiceToken('k', 'commander', vehicleToken('k', 'commander')))
})
