// The model's input row, computed per car as its telemetry streams in: raw sensor values plus
// exponentially weighted moving averages over a time constant (time-aware, so a car reporting
// every 10 s gets the same smoothing as one reporting every second). Training, evaluation and the
// scorer all go through this one extractor, driven by the feature list in metadata.json, so a
// model and the features it was trained on cannot drift apart.
import { SENSOR_FIELDS, type Telemetry } from '../../shared/src/telemetry-schema.js'
import { smoothScore } from './autoencoder.js'

export type SensorField = typeof SENSOR_FIELDS[number]

export interface FeatureDef {
  name: string
  /** raw: the value as sent; ewma: its moving average; ewmaAbs: the moving average of |value|;
   * age: seconds since the car's stream (re)started, capped at capS (engine warm-up context). */
  kind: 'raw' | 'ewma' | 'ewmaAbs' | 'age'
  /** The telemetry field read ('' for age). */
  field: SensorField | ''
  tauS?: number
  capS?: number
}

export interface FeatureSet {
  version: 1
  features: FeatureDef[]
  /** A car silent for longer starts its averages afresh (engine off, car parked). */
  resetGapS: number
}

const SMOOTHED: SensorField[] = [
  'speedMps', 'rpm', 'throttlePos', 'coolantTempC', 'intakeAirTempC', 'intakeAirFlowGs',
  'engineVibrationMv', 'batteryPct', 'batteryVoltageMv', 'currentDrawA',
  'tirePressureFlPsi', 'tirePressureFrPsi', 'tirePressureRlPsi', 'tirePressureRrPsi'
]
const ACCELS: SensorField[] = ['accelFlMs2', 'accelFrMs2', 'accelRlMs2', 'accelRrMs2']

/** The feature set `npm run train` uses; a model's metadata records the one it was trained with. */
export function defaultFeatureSet (tauS = 30): FeatureSet {
  return {
    version: 1,
    resetGapS: 600,
    features: [
      ...SMOOTHED.map(field => ({ name: field, field, kind: 'raw' as const })),
      ...SMOOTHED.map(field => ({ name: `${field}~${tauS}s`, field, kind: 'ewma' as const, tauS })),
      ...ACCELS.map(field => ({ name: `|${field}|~${tauS}s`, field, kind: 'ewmaAbs' as const, tauS })),
      { name: 'streamAgeS', field: '', kind: 'age', capS: 900 }
    ]
  }
}

const SENSOR_INDEX = new Map<string, number>(SENSOR_FIELDS.map((f, i) => [f, i]))

/** The sensor values in SENSOR_FIELDS order. */
function readSensors (t: Telemetry, out: Float64Array): void {
  out[0] = t.speedMps
  out[1] = t.rpm
  out[2] = t.throttlePos
  out[3] = t.coolantTempC
  out[4] = t.intakeAirTempC
  out[5] = t.intakeAirFlowGs
  out[6] = t.engineVibrationMv
  out[7] = t.batteryPct
  out[8] = t.batteryVoltageMv
  out[9] = t.currentDrawA
  out[10] = t.tirePressureFlPsi
  out[11] = t.tirePressureFrPsi
  out[12] = t.tirePressureRlPsi
  out[13] = t.tirePressureRrPsi
  out[14] = t.accelFlMs2
  out[15] = t.accelFrMs2
  out[16] = t.accelRlMs2
  out[17] = t.accelRrMs2
  out[18] = t.controlUnitFirmware
}

/** Weight of one message in a car's reporting-interval estimate (a moving average of log dt). */
const INTERVAL_WEIGHT = 0.2
const MIN_LOG_INTERVAL = Math.log(0.1)
const MAX_LOG_INTERVAL = Math.log(600)

/**
 * A car's typical reporting interval as a moving average of log(seconds between messages): the
 * log keeps one long gap (a tunnel, a stop with the engine on) from swinging it far, and it is
 * back within a few messages. NaN until the car has sent two messages.
 */
export function nextLogInterval (prev: number, dtS: number): number {
  const l = Math.min(MAX_LOG_INTERVAL, Math.max(MIN_LOG_INTERVAL, Math.log(dtS)))
  return Number.isNaN(prev) ? l : prev + INTERVAL_WEIGHT * (l - prev)
}

interface CarState {
  lastTs: number
  /** nextLogInterval's estimate (NaN until known). */
  logInterval: number
  startTs: number
  /** Wall-clock ms when last seen, for evicting cars that went quiet. */
  seenAt: number
  avg: Float64Array
  /** Smoothed anomaly score and the car clock it was last moved at (NaN before the first). */
  score: number
  scoreTs: number
}

export interface FeatureExtractor {
  readonly width: number
  /**
   * Advances `vehicleId`'s state with one message and writes its feature row into `out` at
   * `offset`. Messages older than the car's last one (a rescored batch after a crash) are scored
   * against the current state without moving it.
   */
  push: (t: Telemetry, out: Float32Array, offset: number, nowMs?: number) => void
  /**
   * Moves the car's smoothed anomaly score towards `rowScore` (time constant `tauS`) and returns
   * it; call in message order after `push`.
   */
  smooth: (vehicleId: string, ts: number, rowScore: number, tauS: number, prior?: number) => number
  /** The car's typical seconds between messages (NaN when unknown). */
  intervalS: (vehicleId: string) => number
  /** Cars with state in memory. */
  readonly cars: number
  has: (vehicleId: string) => boolean
  /** A car's state as a string (kept in Redis so another scorer can continue the car). */
  exportState: (vehicleId: string) => string | null
  importState: (vehicleId: string, state: string) => boolean
  /** Forgets cars not seen since `olderThanMs` (wall clock); returns how many. */
  evict: (olderThanMs: number) => number
}

export function createFeatureExtractor (set: FeatureSet): FeatureExtractor {
  const defs = set.features
  const width = defs.length
  const kinds = defs.map(d => d.kind === 'raw' ? 0 : d.kind === 'ewma' ? 1 : d.kind === 'ewmaAbs' ? 2 : 3)
  const taus = defs.map(d => (d.tauS ?? 1) * 1_000)
  const caps = defs.map(d => d.capS ?? 0)
  // Each feature reads one slot of `sensors` (filled by readSensors with plain property loads,
  // which V8 keeps fast; keyed loads by field name cost several times more). Age reads slot 0.
  const slots = defs.map(d => d.field === '' ? 0 : SENSOR_INDEX.get(d.field)!)
  const sensors = new Float64Array(SENSOR_FIELDS.length)
  // One exp() per distinct time constant per message, not per feature.
  const tauList = [...new Set(taus)]
  const tauSlot = taus.map(t => tauList.indexOf(t))
  const alphas = new Float64Array(tauList.length)
  const resetGapMs = set.resetGapS * 1_000
  const cars = new Map<string, CarState>()
  const fresh = (t: Telemetry, now: number): CarState => {
    const avg = new Float64Array(width)
    readSensors(t, sensors)
    for (let i = 0; i < width; i++) {
      const v = sensors[slots[i]!]!
      avg[i] = kinds[i] === 2 ? Math.abs(v) : v
    }
    return { lastTs: t.ts, logInterval: Number.NaN, startTs: t.ts, seenAt: now, avg, score: Number.NaN, scoreTs: t.ts }
  }

  return {
    width,
    get cars () { return cars.size },
    has: id => cars.has(id),
    intervalS (id) {
      const s = cars.get(id)
      return s === undefined ? Number.NaN : Math.exp(s.logInterval)
    },
    push (t, out, offset, nowMs = Date.now()) {
      let s = cars.get(t.vehicleId)
      let dt = 0
      if (s === undefined || t.ts - s.lastTs > resetGapMs) {
        // A car back after a long silence keeps its interval estimate: it is the same car.
        const logInterval = s?.logInterval ?? Number.NaN
        s = fresh(t, nowMs)
        s.logInterval = logInterval
        cars.set(t.vehicleId, s)
      } else {
        dt = t.ts - s.lastTs
        s.seenAt = nowMs
      }
      const advance = dt > 0
      if (advance) {
        s.lastTs = t.ts
        s.logInterval = nextLogInterval(s.logInterval, dt / 1_000)
      }
      const avg = s.avg
      readSensors(t, sensors)
      if (advance) for (let k = 0; k < tauList.length; k++) alphas[k] = 1 - Math.exp(-dt / tauList[k]!)
      for (let i = 0; i < width; i++) {
        const raw = sensors[slots[i]!]!
        const kind = kinds[i]!
        if (kind === 0) {
          out[offset + i] = raw
          continue
        }
        if (kind === 3) {
          const age = (t.ts - s.startTs) / 1_000
          out[offset + i] = age < 0 ? 0 : age > caps[i]! ? caps[i]! : age
          continue
        }
        const v = kind === 2 ? Math.abs(raw) : raw
        if (!advance) {
          out[offset + i] = avg[i]!
          continue
        }
        const alpha = alphas[tauSlot[i]!]!
        const next = avg[i]! + alpha * (v - avg[i]!)
        avg[i] = next
        out[offset + i] = next
      }
    },
    smooth (id, ts, rowScore, tauS, prior) {
      const s = cars.get(id)
      if (s === undefined) return rowScore
      if (Number.isNaN(s.score)) {
        s.score = smoothScore(undefined, rowScore, 0, tauS, prior)
        s.scoreTs = ts
      } else if (ts > s.scoreTs) {
        s.score = smoothScore(s.score, rowScore, (ts - s.scoreTs) / 1_000, tauS)
        s.scoreTs = ts
      }
      return s.score
    },
    exportState (id) {
      const s = cars.get(id)
      return s === undefined ? null : JSON.stringify({ v: set.version, w: width, ts: s.lastTs, start: s.startTs, avg: Array.from(s.avg), score: Number.isNaN(s.score) ? null : s.score, scoreTs: s.scoreTs, iv: Number.isNaN(s.logInterval) ? null : s.logInterval })
    },
    importState (id, state) {
      try {
        const parsed = JSON.parse(state) as { v?: unknown, w?: unknown, ts?: unknown, start?: unknown, avg?: unknown, score?: unknown, scoreTs?: unknown, iv?: unknown }
        if (parsed.v !== set.version || parsed.w !== width || typeof parsed.ts !== 'number' || !Array.isArray(parsed.avg) || parsed.avg.length !== width) return false
        if (!parsed.avg.every(x => typeof x === 'number' && Number.isFinite(x))) return false
        const score = typeof parsed.score === 'number' && Number.isFinite(parsed.score) ? parsed.score : Number.NaN
        const scoreTs = typeof parsed.scoreTs === 'number' ? parsed.scoreTs : parsed.ts
        const startTs = typeof parsed.start === 'number' ? parsed.start : parsed.ts
        // State written before the interval estimate existed has none: it is relearnt in two messages.
        const logInterval = typeof parsed.iv === 'number' && Number.isFinite(parsed.iv) ? parsed.iv : Number.NaN
        cars.set(id, { lastTs: parsed.ts, logInterval, startTs, seenAt: Date.now(), avg: Float64Array.from(parsed.avg as number[]), score, scoreTs })
        return true
      } catch {
        return false
      }
    },
    evict (olderThanMs) {
      let n = 0
      for (const [id, s] of cars) {
        if (s.seenAt < olderThanMs) {
          cars.delete(id)
          n++
        }
      }
      return n
    }
  }
}
