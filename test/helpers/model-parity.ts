// Compares a message of a port of the car model (Go's carfleet, k6's bundle run by Sobek) with
// vehicle-model.ts's for the same seed. Another runtime's Math.log/cos/sin/exp/pow may differ from
// V8's by an ulp, so a number may be one unit of its rounding off; anything else (a draw out of
// order, another formula, another seed mix) fails.
import assert from 'node:assert/strict'
import type { Telemetry } from '../../services/shared/src/telemetry-schema.js'

/** The unit each field is rounded to (vehicle-model.ts's r2/r3/r6/Math.round); 0: must be equal. */
export const UNIT: Record<keyof Telemetry, number> = {
  schemaVersion: 0,
  vehicleId: 0,
  seq: 0,
  ts: 0,
  lat: 1e-6,
  lon: 1e-6,
  speedMps: 0.01,
  rpm: 1,
  throttlePos: 0.001,
  coolantTempC: 0.01,
  intakeAirTempC: 0.01,
  intakeAirFlowGs: 0.01,
  engineVibrationMv: 0.01,
  batteryPct: 0.01,
  batteryVoltageMv: 1,
  currentDrawA: 0.01,
  tirePressureFlPsi: 1,
  tirePressureFrPsi: 1,
  tirePressureRlPsi: 1,
  tirePressureRrPsi: 1,
  accelFlMs2: 0.001,
  accelFrMs2: 0.001,
  accelRlMs2: 0.001,
  accelRrMs2: 0.001,
  controlUnitFirmware: 0
}

/** Running totals over many messages: how many numbers were exactly equal, the largest gap. */
export interface ParityTally {
  messages: number
  numbers: number
  exact: number
  sameText: number
  worst: { units: number, where: string }
}

export const newTally = (): ParityTally => ({ messages: 0, numbers: 0, exact: 0, sameText: 0, worst: { units: 0, where: '' } })

/**
 * Asserts that `line` (the port's JSON text) is `want` (vehicle-model.ts's message): same fields in
 * the same order, equal strings and integers, numbers within one unit; where every value is equal
 * the text must be too (JSON.stringify's field order and number printing).
 */
export function checkMessage (tally: ParityTally, line: string, want: Telemetry, where: string, port: string): void {
  const got = JSON.parse(line) as Telemetry
  tally.messages++
  assert.deepEqual(Object.keys(got), Object.keys(want), `${where}: fields`)
  let allEqual = true
  for (const key of Object.keys(want) as Array<keyof Telemetry>) {
    const [g, w] = [got[key], want[key]]
    if (typeof w !== 'number' || UNIT[key] === 0) {
      assert.equal(g, w, `${where}: ${key}`)
      continue
    }
    assert.equal(typeof g, 'number', `${where}: ${key}`)
    tally.numbers++
    if (g === w) {
      tally.exact++
      continue
    }
    allEqual = false
    const units = Math.abs((g as number) - w) / UNIT[key]
    assert.ok(units <= 1 + 1e-6, `${where}: ${key} is ${g} in ${port}, ${w} in vehicle-model.ts`)
    if (units > tally.worst.units) tally.worst = { units, where: `${where}: ${key} ${g} vs ${w}` }
  }
  if (allEqual) {
    assert.equal(line, JSON.stringify(want), `${where}: JSON text`)
    tally.sameText++
  }
}

export const describeTally = (t: ParityTally, cars: number): string =>
  `${t.messages} messages of ${cars} cars: ${t.exact} of ${t.numbers} numeric fields exactly equal (${(t.exact / t.numbers * 100).toFixed(4)} %), ${t.sameText} messages byte-identical; largest difference ${t.worst.units.toFixed(3)} units${t.worst.where === '' ? '' : ` (${t.worst.where})`}`
