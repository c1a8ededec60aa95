import assert from 'node:assert/strict'
import { test } from 'node:test'
import { mqttSessionKeys } from '../../../shared/src/vehicle-lifecycle.js'
import { sessionKeys } from './session-expiry.js'

test('decommissioning (shared/vehicle-lifecycle.ts) deletes every session key the engine writes, its QoS 2 window too', () => {
  for (const id of ['car-1', 'a car/with:odd chars']) assert.deepEqual(mqttSessionKeys(id), sessionKeys(id))
})
