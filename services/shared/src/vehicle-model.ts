// A seeded car simulator: one petrol car with a 12 V electrical system driving idle → accelerate →
// cruise → brake cycles, whose telemetry moves together the way a real car's does (gear and rpm
// follow speed, throttle follows the power the car needs, air flow follows rpm and throttle, the
// thermostat holds the coolant, the alternator charges the battery), plus named failures that
// develop over minutes from an onset time. Used by training, evaluation, tests and the load tools,
// so it is plain arithmetic on numbers: one object allocated per message. The Go load generator's
// cars are a port of this file (loadtest/k6/xk6-mqtt/carfleet/model.go): change both, in the same
// order of random draws (test/go-model-parity.test.ts compares them).
import { seededRandom } from './seeded-random.js'
import type { SENSOR_FIELDS, Telemetry } from './telemetry-schema.js'
import { TELEMETRY_SCHEMA_VERSION } from './telemetry-version.js'

export const FAILURE_MODES = ['coolant_leak', 'bearing_wear', 'battery_degradation', 'maf_sensor_drift', 'tyre_slow_puncture'] as const
export type FailureMode = typeof FAILURE_MODES[number]
type SensorField = typeof SENSOR_FIELDS[number]

/** The signals each failure moves: ground truth for explaining an anomaly as a likely mode. */
export const FAILURE_SIGNALS: Record<FailureMode, readonly SensorField[]> = {
  coolant_leak: ['coolantTempC'],
  bearing_wear: ['engineVibrationMv'],
  battery_degradation: ['batteryVoltageMv', 'currentDrawA', 'batteryPct'],
  maf_sensor_drift: ['intakeAirFlowGs'],
  tyre_slow_puncture: ['tirePressureFlPsi', 'tirePressureFrPsi', 'tirePressureRlPsi', 'tirePressureRrPsi', 'accelFlMs2', 'accelFrMs2', 'accelRlMs2', 'accelRrMs2']
}

/** Seconds from onset until each failure is fully developed (severity 1) unless told otherwise. */
export const DEFAULT_DEVELOP_S: Record<FailureMode, number> = {
  coolant_leak: 600,
  bearing_wear: 900,
  battery_degradation: 600,
  maf_sensor_drift: 900,
  tyre_slow_puncture: 900
}

export interface FailureSpec {
  mode: FailureMode
  /** Seconds of driving after which the failure starts. */
  onsetS: number
  /** Seconds from onset to full severity (linear). */
  developS?: number
}

export interface VehicleOptions {
  vehicleId: string
  seed: number
  failure?: FailureSpec | null
  /** Car clock at the first message, ms since epoch (default: now). */
  startTs?: number
  firstSeq?: number
  /** Start with the engine at ambient temperature (default) or already warm. */
  coldStart?: boolean
}

export type DrivePhase = 'idle' | 'accelerate' | 'cruise' | 'brake'

export interface Vehicle {
  readonly vehicleId: string
  /** Simulated seconds since the first message. */
  readonly elapsedS: number
  /** 0 until the failure's onset, then growing linearly to 1. */
  readonly severity: number
  readonly failure: Readonly<Required<FailureSpec>> | null
  readonly phase: DrivePhase
  /**
   * Advances the car by `dtS` seconds and returns the message it sends then. `tsMs` overrides the
   * car clock (live load tools pass the wall clock); by default it is startTs + elapsed time.
   */
  next: (dtS: number, tsMs?: number) => Telemetry
}

// Overall ratio (gearbox × final drive) in engine rpm per m/s for a 0.31 m wheel.
const GEAR_RPM_PER_MPS = [431, 252, 168, 120, 96, 78]
const FIRMWARES = [2024_03_01, 2024_08_15, 2025_01_10]
const M_PER_DEG = 111_320
const MAX_STEP_S = 1
const ROADS = [
  { min: 7, max: 14, stopP: 0.7, cruiseS: [15, 90] }, // city
  { min: 14, max: 22, stopP: 0.4, cruiseS: [30, 180] }, // suburban
  { min: 25, max: 36, stopP: 0.08, cruiseS: [90, 600] } // motorway
] as const

const clamp = (n: number, lo: number, hi: number) => n < lo ? lo : n > hi ? hi : n
const r2 = (n: number) => Math.round(n * 100) / 100
const r3 = (n: number) => Math.round(n * 1_000) / 1_000
const r6 = (n: number) => Math.round(n * 1_000_000) / 1_000_000

export function createVehicle (opts: VehicleOptions): Vehicle {
  const rnd = seededRandom(Math.imul(opts.seed ^ 0x5bd1e995, 2_654_435_761) ^ 0x27d4eb2f)
  const normal = rnd.normal
  const startTs = opts.startTs ?? Date.now()
  const failure = opts.failure == null ? null : { mode: opts.failure.mode, onsetS: opts.failure.onsetS, developS: opts.failure.developS ?? DEFAULT_DEVELOP_S[opts.failure.mode] }

  // What makes this car (and its day) different from the next one.
  const massKg = rnd.between(1_250, 1_850)
  const cdA = rnd.between(0.6, 0.8)
  const aggressive = rnd.between(0.7, 1.3)
  const ambientC = rnd.between(0, 32)
  const idleRpm = rnd.between(720, 820)
  const vibGain = rnd.between(0.85, 1.15)
  const electricalLoadA = rnd.between(18, 40)
  const tyreBase = rnd.between(32, 35.5)
  const tyreCold = Array.from({ length: 4 }, () => tyreBase + normal(0, 0.35))
  const punctured = rnd.int(0, 3)
  const firmware = rnd.pick(FIRMWARES)

  let elapsed = 0
  let seq = opts.firstSeq ?? 0
  let phase: DrivePhase = 'idle'
  let phaseLeft = rnd.between(3, 20)
  let road: 0 | 1 | 2 = rnd.int(0, 2) as 0 | 1 | 2
  let target = 0
  let v = 0
  let a = 0
  let gear = 0
  let rpm = idleRpm
  let throttle = 0
  let loadKw = 0
  let coolant = opts.coldStart === false ? 89 : ambientC + rnd.between(0, 5)
  let iat = ambientC + 4
  let soc = rnd.between(72, 95)
  let tyreWarm = 0
  let rough = rnd.between(0.5, 1.5)
  let heading = rnd.next() * 2 * Math.PI
  let lat = 48.137 + rnd.between(-0.3, 0.3)
  let lon = 11.575 + rnd.between(-0.4, 0.4)
  let battI = 0
  let battV = 12_600
  let sev = 0

  function chooseRoad () {
    const u = rnd.next()
    // Roads change slowly: mostly stay, otherwise a neighbouring kind.
    if (u < 0.6) return
    road = clamp(road + (u < 0.8 ? -1 : 1), 0, 2) as 0 | 1 | 2
  }

  function newCruiseTarget () {
    const r = ROADS[road]
    return rnd.between(r.min, r.max)
  }

  function stepPhase (dt: number) {
    phaseLeft -= dt
    const r = ROADS[road]
    switch (phase) {
      case 'idle':
        a = 0
        if (phaseLeft <= 0) {
          chooseRoad()
          target = newCruiseTarget()
          phase = 'accelerate'
        }
        break
      case 'accelerate': {
        const want = Math.min(aggressive * (v < 10 ? 2.4 : 1.4), 0.8 * (target - v) + 0.3)
        a += (want - a) * Math.min(1, dt * 1.5)
        if (v >= target - 0.3) {
          phase = 'cruise'
          phaseLeft = rnd.between(r.cruiseS[0], r.cruiseS[1])
        }
        break
      }
      case 'cruise':
        // Traffic: the wanted speed wanders a little around the road's pace.
        target = clamp(target + normal(0, 0.25) * Math.sqrt(dt), r.min - 2, r.max + 2)
        a = clamp(0.4 * (target - v), -1.5, 1.2)
        if (phaseLeft <= 0) {
          if (rnd.next() < r.stopP) {
            target = 0
            phase = 'brake'
          } else {
            chooseRoad()
            const next = newCruiseTarget()
            target = next
            phase = next > v ? 'accelerate' : 'brake'
          }
        }
        break
      case 'brake': {
        const want = -Math.min(aggressive * 2.6, 0.6 * (v - target) + 0.4)
        a += (want - a) * Math.min(1, dt * 2)
        if (v <= target + 0.2) {
          if (target <= 0.5) {
            v = 0
            a = 0
            phase = 'idle'
            phaseLeft = rnd.between(5, road === 0 ? 60 : 30)
          } else {
            phase = 'cruise'
            phaseLeft = rnd.between(r.cruiseS[0], r.cruiseS[1])
          }
        }
        break
      }
    }
  }

  function stepPhysics (dt: number) {
    stepPhase(dt)
    v = clamp(v + a * dt, 0, 60)
    elapsed += dt
    sev = failure === null || elapsed < failure.onsetS ? 0 : Math.min(1, (elapsed - failure.onsetS) / failure.developS)

    // Drivetrain: the highest gear that keeps the engine above its shift point.
    const shiftRpm = 1_350 + 1_100 * throttle
    gear = 0
    for (let g = GEAR_RPM_PER_MPS.length - 1; g > 0; g--) {
      if (v * GEAR_RPM_PER_MPS[g]! >= shiftRpm) { gear = g; break }
    }
    const wheelRpm = v * GEAR_RPM_PER_MPS[gear]!
    const resistN = 0.5 * 1.2 * cdA * v * v + (v > 0.1 ? 0.012 * massKg * 9.81 : 0)
    const powerW = (massKg * a + resistN) * v
    loadKw = Math.max(0, powerW / 1_000)
    rpm = v < 2.5 && a > 0 ? idleRpm + 900 + 500 * a : Math.max(idleRpm, wheelRpm)
    const maxKw = 110 * clamp(rpm / 5_500, 0.18, 1)
    throttle = powerW <= 0 ? 0 : clamp(0.03 + loadKw / maxKw, 0, 1)

    // Thermostat and radiator: warm-up, then held near 89 °C; a leak takes the radiator's capacity.
    const heatKw = 3.5 + 1.05 * loadKw
    const opening = clamp((coolant - 88) / 7, 0, 1)
    const fan = coolant > 97 ? 0.6 : 0
    const leak = failure?.mode === 'coolant_leak' ? 1 - 0.97 * sev : 1
    const uaKw = opening * (0.6 + 0.04 * v + fan) * leak + 0.004
    coolant = clamp(coolant + dt * (heatKw - uaKw * (coolant - ambientC)) / 50, -40, 135)

    // Heat soak raises the intake air at low speed once the engine is warm.
    const soak = 18 * Math.exp(-v / 6) * clamp((coolant - ambientC) / 70, 0, 1.4)
    iat += (ambientC + 3 + soak - iat) * Math.min(1, dt / 60)

    // Alternator (capacity grows with rpm) carries the loads and charges the battery.
    const loads = electricalLoadA + (coolant > 97 ? 20 : 0) + (throttle > 0.5 ? 5 : 0)
    const altMax = 130 * clamp((rpm - 450) / 1_600, 0.28, 1)
    const wantCharge = 1.2 + 0.9 * (100 - soc)
    const degraded = failure?.mode === 'battery_degradation' ? sev : 0
    const charge = Math.min(wantCharge + 32 * degraded, altMax - loads)
    battI = -charge
    battV = charge > 0
      ? 14_250 - 8 * (iat - 20) - 1_400 * degraded - Math.max(0, 40 - charge) * 2
      : 12_000 + 7 * soc + charge * 12 - 1_400 * degraded
    // A failing cell takes charge and gives nothing back: state of charge falls while charging.
    soc = clamp(soc + dt * (-battI / (60 * 3_600) * 100 * (1 - degraded) - 0.012 * degraded), 5, 100)

    tyreWarm += (clamp(v / 25, 0, 1) - tyreWarm) * Math.min(1, dt / 600)
    rough = clamp(rough + normal(0, 0.03) * Math.sqrt(dt), 0.3, 2)
    heading += normal(0, 0.04) * Math.sqrt(dt) * (v > 1 ? 1 : 0)
    const metres = v * dt
    lat = clamp(lat + metres * Math.cos(heading) / M_PER_DEG, -89.9, 89.9)
    lon += metres * Math.sin(heading) / (M_PER_DEG * Math.cos(lat * Math.PI / 180))
    if (lon > 180) lon -= 360
    if (lon < -180) lon += 360
  }

  function emit (tsMs: number): Telemetry {
    const mode = failure?.mode
    const bearing = mode === 'bearing_wear' ? sev : 0
    const drift = mode === 'maf_sensor_drift' ? sev : 0
    const puncture = mode === 'tyre_slow_puncture' ? sev : 0
    // Losing coolant uncovers the sensor: it reads the hotter head metal, higher under load, and
    // jumps as air pockets pass it; long before the radiator runs out of capacity.
    const leak = mode === 'coolant_leak' ? sev : 0
    const maf = rpm / 120 * 2.0 * 1.2 * 0.85 * (0.3 + 0.7 * Math.pow(throttle, 0.6)) * 293 / (273 + iat)
    const vib = vibGain * (60 + 0.035 * rpm + 60 * throttle + 8 * rough) * (1 + normal(0, 0.05)) +
      bearing * (0.5 + rpm / 3_000) * 160 * (1 + normal(0, 0.15))
    const warmPsi = 2.5 * tyreWarm + (ambientC - 20) * 0.06
    const body = normal(0, rough * v / 40)
    const corner = (i: number) => {
      const flat = i === punctured ? puncture : 0
      return r3(clamp(body + normal(0, rough * (0.15 + v / 25) * (1 + 1.5 * flat)), -200, 200))
    }
    const psi = (i: number) => Math.round(clamp(tyreCold[i]! + warmPsi - (i === punctured ? 17 * puncture : 0) + normal(0, 0.25), 0, 100))
    return {
      schemaVersion: TELEMETRY_SCHEMA_VERSION,
      vehicleId: opts.vehicleId,
      seq: seq++,
      ts: Math.round(tsMs),
      lat: r6(lat),
      lon: r6(lon),
      speedMps: r2(v),
      rpm: Math.round(clamp(rpm + normal(0, 15), 0, 12_000)),
      throttlePos: r3(clamp(throttle + (throttle > 0 ? normal(0, 0.01) : 0), 0, 1)),
      coolantTempC: r2(clamp(coolant + leak * (6 + 0.15 * loadKw) + normal(0, 0.3 + 1.5 * leak), -50, 200)),
      intakeAirTempC: r2(clamp(iat + normal(0, 0.4), -50, 150)),
      intakeAirFlowGs: r2(clamp(maf * (1 - 0.45 * drift) - 0.8 * drift + normal(0, 0.15 + 0.02 * maf), 0, 1_000)),
      engineVibrationMv: r2(clamp(vib, 0, 10_000)),
      batteryPct: r2(clamp(soc + normal(0, 0.2), 0, 100)),
      batteryVoltageMv: Math.round(clamp(battV + normal(0, 25), 0, 1_000_000)),
      currentDrawA: r2(clamp(battI + normal(0, 0.6), -2_000, 2_000)),
      tirePressureFlPsi: psi(0),
      tirePressureFrPsi: psi(1),
      tirePressureRlPsi: psi(2),
      tirePressureRrPsi: psi(3),
      accelFlMs2: corner(0),
      accelFrMs2: corner(1),
      accelRlMs2: corner(2),
      accelRrMs2: corner(3),
      controlUnitFirmware: firmware
    }
  }

  return {
    vehicleId: opts.vehicleId,
    get elapsedS () { return elapsed },
    get severity () { return sev },
    get phase () { return phase },
    failure,
    next (dtS, tsMs) {
      if (!(dtS >= 0)) throw new RangeError('dtS must be a number ≥ 0')
      // Long intervals are integrated in ≤ 1 s steps so the dynamics stay stable at any rate.
      let left = dtS
      while (left > 1e-9) {
        const step = left > MAX_STEP_S ? MAX_STEP_S : left
        stepPhysics(step)
        left -= step
      }
      return emit(tsMs ?? startTs + elapsed * 1_000)
    }
  }
}
