import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseTelemetry, type Telemetry } from './telemetry-schema.js'
import { createVehicle, FAILURE_MODES, type FailureMode, type DrivePhase } from './vehicle-model.js'

const START = 1_750_000_000_000

function drive (seed: number, seconds: number, dt = 1, failure: { mode: FailureMode, onsetS: number } | null = null): Telemetry[] {
  const car = createVehicle({ vehicleId: `car-${seed}`, seed, failure, startTs: START })
  const out: Telemetry[] = []
  for (let t = 0; t < seconds; t += dt) out.push(car.next(dt))
  return out
}

function correlation (xs: number[], ys: number[]): number {
  const n = xs.length
  const mx = xs.reduce((s, x) => s + x, 0) / n
  const my = ys.reduce((s, y) => s + y, 0) / n
  let sxy = 0
  let sxx = 0
  let syy = 0
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my)
    sxx += (xs[i]! - mx) ** 2
    syy += (ys[i]! - my) ** 2
  }
  return sxy / Math.sqrt(sxx * syy)
}

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length

test('the same seed gives the same drive; another seed another drive', () => {
  assert.deepEqual(drive(7, 600), drive(7, 600))
  assert.notDeepEqual(drive(7, 60), drive(8, 60))
})

test('every message satisfies the telemetry schema, at 1 s and 10 s intervals, healthy or failing', () => {
  const failures = [null, ...FAILURE_MODES.map(mode => ({ mode, onsetS: 300 }))]
  for (const [i, failure] of failures.entries()) {
    for (const dt of [1, 10]) {
      for (const t of drive(100 + i, 3_600, dt, failure)) {
        const r = parseTelemetry(Buffer.from(JSON.stringify(t)), t.vehicleId, 16_384)
        assert.ok(r.ok, r.ok ? '' : `${failure?.mode ?? 'healthy'} dt=${dt} seq=${t.seq}: ${r.reason} ${r.detail}`)
      }
    }
  }
})

test('seq counts up by one and the car clock follows the simulated time unless a clock is passed', () => {
  const car = createVehicle({ vehicleId: 'c', seed: 1, startTs: START, firstSeq: 41 })
  const a = car.next(1)
  const b = car.next(2.5)
  assert.deepEqual([a.seq, b.seq], [41, 42])
  assert.deepEqual([a.ts, b.ts], [START + 1_000, START + 3_500])
  assert.equal(car.elapsedS, 3.5)
  assert.equal(car.next(1, START + 99_000).ts, START + 99_000)
  assert.throws(() => car.next(-1), RangeError)
})

test('cars drive cycles: stop, accelerate, cruise and brake, with signals that move together', () => {
  const phases = new Set<DrivePhase>()
  const rows: Telemetry[] = []
  for (let seed = 1; seed <= 6; seed++) {
    const car = createVehicle({ vehicleId: 'c', seed, startTs: START })
    for (let t = 0; t < 2_400; t++) {
      rows.push(car.next(1))
      phases.add(car.phase)
    }
  }
  assert.deepEqual([...phases].sort(), ['accelerate', 'brake', 'cruise', 'idle'])
  assert.ok(rows.some(r => r.speedMps === 0), 'cars stop')
  assert.ok(rows.some(r => r.speedMps > 25), 'cars reach motorway speed')
  const pick = (f: keyof Telemetry) => rows.map(r => r[f] as number)
  assert.ok(correlation(pick('speedMps'), pick('rpm')) > 0.6, 'rpm follows speed')
  assert.ok(correlation(rows.map(r => r.rpm * (0.3 + r.throttlePos)), pick('intakeAirFlowGs')) > 0.8, 'air flow follows rpm and throttle')
  assert.ok(correlation(pick('rpm'), pick('engineVibrationMv')) > 0.5, 'vibration follows rpm')
  const warm = rows.filter((_, i) => i % 2_400 > 900)
  assert.ok(warm.every(r => r.coolantTempC > 80 && r.coolantTempC < 96), 'the thermostat holds a warm engine near 89 °C')
  assert.ok(rows.every(r => r.batteryVoltageMv > 11_500 && r.batteryVoltageMv < 14_800), '12 V system')
})

test('a failure changes nothing before its onset and moves its own signals once developed', () => {
  const onsetS = 600
  const healthy = drive(21, 2_400)
  const expectations: Record<FailureMode, (h: Telemetry[], f: Telemetry[]) => void> = {
    coolant_leak: (h, f) => assert.ok(mean(f.map(r => r.coolantTempC)) > mean(h.map(r => r.coolantTempC)) + 15),
    bearing_wear: (h, f) => assert.ok(mean(f.map(r => r.engineVibrationMv)) > 1.5 * mean(h.map(r => r.engineVibrationMv))),
    battery_degradation: (h, f) => {
      assert.ok(mean(f.map(r => r.batteryVoltageMv)) < mean(h.map(r => r.batteryVoltageMv)) - 800)
      assert.ok(mean(f.map(r => r.currentDrawA)) < mean(h.map(r => r.currentDrawA)) - 20, 'a failing cell keeps drawing charge')
    },
    maf_sensor_drift: (h, f) => assert.ok(mean(f.map(r => r.intakeAirFlowGs)) < 0.7 * mean(h.map(r => r.intakeAirFlowGs))),
    tyre_slow_puncture: (h, f) => {
      const lowest = (r: Telemetry) => Math.min(r.tirePressureFlPsi, r.tirePressureFrPsi, r.tirePressureRlPsi, r.tirePressureRrPsi)
      assert.ok(mean(f.map(lowest)) < mean(h.map(lowest)) - 10)
    }
  }
  for (const mode of FAILURE_MODES) {
    const failing = drive(21, 2_400, 1, { mode, onsetS })
    assert.deepEqual(failing.slice(0, onsetS - 1), healthy.slice(0, onsetS - 1), `${mode}: identical before onset`)
    // Fully developed (onset + the longest development time) to the end of the drive.
    expectations[mode](healthy.slice(onsetS + 900), failing.slice(onsetS + 900))
  }
})

test('severity is 0 before the onset and grows linearly to 1', () => {
  const car = createVehicle({ vehicleId: 'c', seed: 3, failure: { mode: 'bearing_wear', onsetS: 100, developS: 200 } })
  car.next(99)
  assert.equal(car.severity, 0)
  car.next(101)
  assert.equal(car.severity, 0.5)
  car.next(500)
  assert.equal(car.severity, 1)
  assert.deepEqual(car.failure, { mode: 'bearing_wear', onsetS: 100, developS: 200 })
})
