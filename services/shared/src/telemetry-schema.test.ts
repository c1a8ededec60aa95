import assert from 'node:assert/strict'
import { test } from 'node:test'
import { invalidTelemetrySamples, validTelemetry } from './telemetry-samples.js'
import { parseTelemetry, SENSOR_FIELDS, REFERENCE_FIELDS } from './telemetry-schema.js'
import { seededRandom } from './seeded-random.js'

test('generated samples are valid for their car', () => {
  const rnd = seededRandom(7)
  for (let seq = 0; seq < 500; seq++) {
    const t = validTelemetry('car-1', seq, rnd)
    const r = parseTelemetry(Buffer.from(JSON.stringify(t)), 'car-1', 16_384)
    assert.ok(r.ok, r.ok ? '' : `${r.reason}: ${r.detail}`)
  }
})

test('each invalid sample is refused with its reason and a detail', () => {
  for (const s of invalidTelemetrySamples('car-1', 2_048)) {
    const r = parseTelemetry(s.payload, 'car-1', 2_048)
    assert.equal(r.ok, false, s.name)
    if (!r.ok) {
      assert.equal(r.reason, s.expect, s.name)
      assert.ok(r.detail.length > 0)
    }
  }
})

test('a schema error names the field', () => {
  const bad = { ...validTelemetry('car-1', 0), coolantTempC: 'hot' }
  const r = parseTelemetry(Buffer.from(JSON.stringify(bad)), 'car-1', 16_384)
  assert.ok(!r.ok && r.detail.startsWith('/coolantTempC'))
})

test('a payload that is valid for one car is refused for another', () => {
  const r = parseTelemetry(Buffer.from(JSON.stringify(validTelemetry('car-1', 0))), 'car-2', 16_384)
  assert.ok(!r.ok && r.reason === 'vehicle_mismatch')
})

test('every reference-demo sensor is covered', () => {
  const covered = new Set(Object.values(REFERENCE_FIELDS))
  for (const f of ['coolant_temp', 'intake_air_temp', 'intake_air_flow_speed', 'battery_percentage', 'battery_voltage', 'current_draw', 'speed',
    'engine_vibration_amplitude', 'throttle_pos', 'tire_pressure_1_1', 'tire_pressure_1_2', 'tire_pressure_2_1', 'tire_pressure_2_2',
    'accelerometer_1_1_value', 'accelerometer_1_2_value', 'accelerometer_2_1_value', 'accelerometer_2_2_value', 'control_unit_firmware']) {
    assert.ok(covered.has(f), f)
  }
  assert.equal(Object.keys(REFERENCE_FIELDS).length, SENSOR_FIELDS.length)
})
