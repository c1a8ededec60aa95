// The telemetry message a car publishes on vehicles/{id}/telemetry: JSON on the wire, schema
// version 1. Covers every sensor of the reference connected-car demo (see REFERENCE_FIELDS) plus
// identity, ordering and position. This schema is the single definition all services read.
import { Type, type Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { TELEMETRY_SCHEMA_VERSION } from './telemetry-version.js'

export { TELEMETRY_SCHEMA_VERSION }

const num = (minimum: number, maximum: number, description: string) => Type.Number({ minimum, maximum, description })
const psi = (description: string) => Type.Integer({ minimum: 0, maximum: 100, description })

export const TelemetrySchema = Type.Object({
  schemaVersion: Type.Literal(TELEMETRY_SCHEMA_VERSION),
  vehicleId: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$', description: 'must equal the id in the topic' }),
  seq: Type.Integer({ minimum: 0, description: 'per-car sequence number, +1 per message' }),
  ts: Type.Integer({ minimum: 1_500_000_000_000, maximum: 4_102_444_800_000, description: 'car clock, ms since epoch' }),
  lat: num(-90, 90, 'latitude, degrees'),
  lon: num(-180, 180, 'longitude, degrees'),
  speedMps: num(0, 120, 'speed, m/s'),
  rpm: num(0, 12_000, 'engine speed, rev/min'),
  throttlePos: num(0, 1, 'throttle position, 0..1'),
  coolantTempC: num(-50, 200, 'coolant temperature, °C'),
  intakeAirTempC: num(-50, 150, 'intake air temperature, °C'),
  intakeAirFlowGs: num(0, 1_000, 'intake air mass flow, g/s'),
  engineVibrationMv: num(0, 10_000, 'engine vibration amplitude (piezo), mV'),
  batteryPct: num(0, 100, 'battery state of charge, %'),
  batteryVoltageMv: num(0, 1_000_000, 'battery voltage, mV'),
  currentDrawA: num(-2_000, 2_000, 'battery current, A (negative = charging)'),
  tirePressureFlPsi: psi('front-left tyre pressure, psi'),
  tirePressureFrPsi: psi('front-right tyre pressure, psi'),
  tirePressureRlPsi: psi('rear-left tyre pressure, psi'),
  tirePressureRrPsi: psi('rear-right tyre pressure, psi'),
  accelFlMs2: num(-200, 200, 'front-left accelerometer, m/s²'),
  accelFrMs2: num(-200, 200, 'front-right accelerometer, m/s²'),
  accelRlMs2: num(-200, 200, 'rear-left accelerometer, m/s²'),
  accelRrMs2: num(-200, 200, 'rear-right accelerometer, m/s²'),
  controlUnitFirmware: Type.Integer({ minimum: 0, maximum: 2_147_483_647, description: 'ECU firmware build' })
}, { additionalProperties: false })

export type Telemetry = Static<typeof TelemetrySchema>

/** Sensor fields, in a fixed order (the scorer's feature order starts from this). */
export const SENSOR_FIELDS = [
  'speedMps', 'rpm', 'throttlePos', 'coolantTempC', 'intakeAirTempC', 'intakeAirFlowGs',
  'engineVibrationMv', 'batteryPct', 'batteryVoltageMv', 'currentDrawA',
  'tirePressureFlPsi', 'tirePressureFrPsi', 'tirePressureRlPsi', 'tirePressureRrPsi',
  'accelFlMs2', 'accelFrMs2', 'accelRlMs2', 'accelRrMs2', 'controlUnitFirmware'
] as const satisfies ReadonlyArray<keyof Telemetry>

/** Our field → the reference demo's field, so results can be compared. */
export const REFERENCE_FIELDS: Record<typeof SENSOR_FIELDS[number], string> = {
  speedMps: 'speed',
  rpm: '(not in reference)',
  throttlePos: 'throttle_pos',
  coolantTempC: 'coolant_temp',
  intakeAirTempC: 'intake_air_temp',
  intakeAirFlowGs: 'intake_air_flow_speed',
  engineVibrationMv: 'engine_vibration_amplitude',
  batteryPct: 'battery_percentage',
  batteryVoltageMv: 'battery_voltage',
  currentDrawA: 'current_draw',
  tirePressureFlPsi: 'tire_pressure_1_1',
  tirePressureFrPsi: 'tire_pressure_1_2',
  tirePressureRlPsi: 'tire_pressure_2_1',
  tirePressureRrPsi: 'tire_pressure_2_2',
  accelFlMs2: 'accelerometer_1_1_value',
  accelFrMs2: 'accelerometer_1_2_value',
  accelRlMs2: 'accelerometer_2_1_value',
  accelRrMs2: 'accelerometer_2_2_value',
  controlUnitFirmware: 'control_unit_firmware'
}

const check = TypeCompiler.Compile(TelemetrySchema)

export type TelemetryRejection = 'oversized' | 'not_json' | 'schema' | 'vehicle_mismatch'

export type TelemetryResult =
  /** `text`: the payload as decoded for parsing (callers that keep the message as text reuse it). */
  | { ok: true, value: Telemetry, text: string }
  | { ok: false, reason: TelemetryRejection, detail: string }

/**
 * Validates one telemetry payload as received for `vehicleId` (the id in the topic, which the
 * broker has already tied to the authenticated car). Never throws.
 */
export function parseTelemetry (payload: Uint8Array, vehicleId: string, maxBytes: number): TelemetryResult {
  if (payload.byteLength > maxBytes) {
    return { ok: false, reason: 'oversized', detail: `payload is ${payload.byteLength} bytes; the limit is ${maxBytes}` }
  }
  let value: unknown
  const text = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8')
  try {
    value = JSON.parse(text)
  } catch (err) {
    return { ok: false, reason: 'not_json', detail: (err as Error).message.slice(0, 200) }
  }
  if (!check.Check(value)) {
    const first = check.Errors(value).First()
    const where = first?.path === '' || first === undefined ? '(root)' : first.path
    return { ok: false, reason: 'schema', detail: `${where}: ${first?.message ?? 'invalid'}` }
  }
  if (value.vehicleId !== vehicleId) {
    return { ok: false, reason: 'vehicle_mismatch', detail: 'vehicleId in the payload differs from the topic' }
  }
  return { ok: true, value, text }
}
