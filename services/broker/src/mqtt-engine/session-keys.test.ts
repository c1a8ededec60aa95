import assert from 'node:assert/strict'
import { test } from 'node:test'
import { mqttSessionKeys } from '../../../shared/src/vehicle-lifecycle.js'
import { liveSessionKeys } from './session-expiry.js'

test('decommissioning (shared/vehicle-lifecycle.ts) deletes the session keys the engine\'s persistence writes', () => {
  for (const id of ['car-1', 'a car/with:odd chars']) assert.deepEqual(mqttSessionKeys(id), liveSessionKeys(id))
})
