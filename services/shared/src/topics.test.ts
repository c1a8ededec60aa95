import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MqttTopics, parseVehicleTopic } from './topics.js'

test('vehicle topics round-trip', () => {
  for (const kind of ['telemetry', 'status', 'commands', 'commandAck'] as const) {
    assert.deepEqual(parseVehicleTopic(MqttTopics.of(kind, 'car-7')), { vehicleId: 'car-7', kind })
  }
})

test('anything else is not a vehicle topic', () => {
  for (const t of ['vehicles/car-7', 'vehicles//telemetry', 'vehicles/+/telemetry', 'vehicles/#', 'vehicles/car-7/telemetry/x',
    'vehicles/car-7/commands/ack/x', 'Vehicles/car-7/telemetry', '$SYS/x', '', 'vehicles/car 7/telemetry', `vehicles/${'a'.repeat(65)}/telemetry`]) {
    assert.equal(parseVehicleTopic(t), null, t)
  }
})
