// Valid and invalid telemetry samples for tests, benchmarks and the small local fleet. Valid ones
// are plausible snapshots of a driving car; invalid ones each break exactly one rule, named.
import { seededRandom, type Random } from './seeded-random.js'
import { TELEMETRY_SCHEMA_VERSION, type Telemetry, type TelemetryRejection } from './telemetry-schema.js'

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits

export function validTelemetry (vehicleId: string, seq: number, rnd: Random = seededRandom(seq + 1), ts = Date.now()): Telemetry {
  const speed = rnd.between(0, 35)
  const throttle = Math.min(1, Math.max(0, speed / 40 + rnd.normal(0, 0.05)))
  return {
    schemaVersion: TELEMETRY_SCHEMA_VERSION,
    vehicleId,
    seq,
    ts,
    lat: round(48.1 + rnd.between(-0.2, 0.2), 6),
    lon: round(11.5 + rnd.between(-0.2, 0.2), 6),
    speedMps: round(speed),
    rpm: round(800 + speed * 80 + rnd.normal(0, 50), 0),
    throttlePos: round(throttle, 3),
    coolantTempC: round(88 + rnd.normal(0, 2)),
    intakeAirTempC: round(25 + rnd.normal(0, 3)),
    intakeAirFlowGs: round(Math.max(0, 3 + throttle * 60 + rnd.normal(0, 2))),
    engineVibrationMv: round(Math.max(0, 120 + speed * 4 + rnd.normal(0, 10))),
    batteryPct: round(rnd.between(20, 100)),
    batteryVoltageMv: round(12_600 + rnd.normal(0, 80), 0),
    currentDrawA: round(5 + throttle * 40 + rnd.normal(0, 2)),
    tirePressureFlPsi: rnd.int(32, 35),
    tirePressureFrPsi: rnd.int(32, 35),
    tirePressureRlPsi: rnd.int(32, 35),
    tirePressureRrPsi: rnd.int(32, 35),
    accelFlMs2: round(rnd.normal(0, 0.8), 3),
    accelFrMs2: round(rnd.normal(0, 0.8), 3),
    accelRlMs2: round(rnd.normal(0, 0.8), 3),
    accelRrMs2: round(rnd.normal(0, 0.8), 3),
    controlUnitFirmware: 2024_03_01
  }
}

export interface InvalidSample {
  name: string
  expect: TelemetryRejection
  payload: Buffer
}

/** One payload per way a car (or an impostor) can get telemetry wrong. */
export function invalidTelemetrySamples (vehicleId: string, maxBytes: number): InvalidSample[] {
  const base = validTelemetry(vehicleId, 1)
  const json = (v: unknown) => Buffer.from(JSON.stringify(v))
  const { coolantTempC: _dropped, ...missingField } = base
  return [
    { name: 'not JSON', expect: 'not_json', payload: Buffer.from('speed=12;rpm=2000') },
    { name: 'truncated JSON', expect: 'not_json', payload: json(base).subarray(0, 40) },
    { name: 'binary garbage', expect: 'not_json', payload: Buffer.from([0xff, 0xfe, 0x00, 0x13, 0x37]) },
    { name: 'JSON array', expect: 'schema', payload: json([base]) },
    { name: 'missing field', expect: 'schema', payload: json(missingField) },
    { name: 'wrong type', expect: 'schema', payload: json({ ...base, speedMps: 'fast' }) },
    { name: 'out of range', expect: 'schema', payload: json({ ...base, coolantTempC: 999 }) },
    { name: 'unknown field', expect: 'schema', payload: json({ ...base, vin: 'WVWZZZ1JZXW000001' }) },
    { name: 'unknown schema version', expect: 'schema', payload: json({ ...base, schemaVersion: 99 }) },
    { name: 'other vehicle id', expect: 'vehicle_mismatch', payload: json({ ...base, vehicleId: `${vehicleId}-x` }) },
    { name: 'oversized', expect: 'oversized', payload: Buffer.concat([json(base), Buffer.alloc(maxBytes, 0x20)]) }
  ]
}
