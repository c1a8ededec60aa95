// A fast path for the telemetry check of the scorer and the broker: reads a payload's bytes once,
// with the same rules as parseTelemetry (JSON, TelemetrySchema, the id of the topic), and builds the
// Telemetry object (the scorer) or only says it is valid (the broker) without decoding the bytes to
// text, without JSON.parse's intermediate object and without the schema pass (together 10–14 % of
// the scorer's busy time at 10,000 msg/s, ~12 % of the broker's at the soak's shape). It accepts only the
// plain shape cars send: one flat object, the schema's keys each once in any order, numbers and
// the vehicle id without escapes, ASCII only. Anything else — and anything it refuses — answers
// null, and the caller runs parseTelemetry, which gives the verdict and the DLQ reason: the fast
// path can only accept what parseTelemetry accepts, with the same values (telemetry-decode.test.ts).
import { TelemetrySchema, type Telemetry } from './telemetry-schema.js'

/** The schema's keys in its order; the Telemetry literal below is built in this order. */
const KEYS = [
  'schemaVersion', 'vehicleId', 'seq', 'ts', 'lat', 'lon', 'speedMps', 'rpm', 'throttlePos', 'coolantTempC',
  'intakeAirTempC', 'intakeAirFlowGs', 'engineVibrationMv', 'batteryPct', 'batteryVoltageMv', 'currentDrawA',
  'tirePressureFlPsi', 'tirePressureFrPsi', 'tirePressureRlPsi', 'tirePressureRrPsi',
  'accelFlMs2', 'accelFrMs2', 'accelRlMs2', 'accelRrMs2', 'controlUnitFirmware'
] as const satisfies ReadonlyArray<keyof Telemetry>
const VEHICLE_ID = 1

interface Rule { integer: boolean, min: number, max: number, literal: number | null }
const props = TelemetrySchema.properties as Record<string, { type?: string, const?: unknown, minimum?: number, maximum?: number }>
if (Object.keys(props).join() !== KEYS.join()) throw new Error('telemetry-decode: KEYS differ from TelemetrySchema')
/** Per key, what TelemetrySchema asks of its number (the vehicle id's rule is not used). */
const RULES: Rule[] = KEYS.map(k => {
  const p = props[k]!
  return {
    integer: p.type === 'integer',
    min: p.minimum ?? -Infinity,
    max: p.maximum ?? Infinity,
    literal: typeof p.const === 'number' ? p.const : null
  }
})
const ID_PATTERN = new RegExp((props.vehicleId as { pattern: string }).pattern)
const KEY_BYTES = KEYS.map(k => Buffer.from(k, 'latin1'))
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i)

const QUOTE = 34
const BACKSLASH = 92

const isWs = (c: number) => c === 32 || c === 10 || c === 13 || c === 9

/** Index into KEYS of the key in b[start, end), or -1; tries `guess` first (cars send keys in order). */
function keyIndex (b: Uint8Array, start: number, end: number, guess: number): number {
  const n = end - start
  if (guess < KEYS.length && same(KEY_BYTES[guess]!, b, start, n)) return guess
  for (let k = 0; k < KEYS.length; k++) if (k !== guess && same(KEY_BYTES[k]!, b, start, n)) return k
  return -1
}

function same (key: Buffer, b: Uint8Array, start: number, n: number): boolean {
  if (key.length !== n) return false
  for (let i = 0; i < n; i++) if (key[i] !== b[start + i]) return false
  return true
}

/** Reused between calls: the values read, by key index, and which keys were seen. */
const values = new Float64Array(KEYS.length)
const seen = new Uint8Array(KEYS.length)

/**
 * The telemetry in `b` for the car `vehicleId` (whose id as bytes is `idBytes`), or null when the
 * fast path cannot vouch for it (then parseTelemetry decides). Never throws.
 */
export function decodeTelemetry (b: Uint8Array, vehicleId: string, idBytes: Uint8Array): Telemetry | null {
  if (!scan(b, idBytes)) return null
  const v = values
  return {
    schemaVersion: v[0] as 1,
    vehicleId,
    seq: v[2]!,
    ts: v[3]!,
    lat: v[4]!,
    lon: v[5]!,
    speedMps: v[6]!,
    rpm: v[7]!,
    throttlePos: v[8]!,
    coolantTempC: v[9]!,
    intakeAirTempC: v[10]!,
    intakeAirFlowGs: v[11]!,
    engineVibrationMv: v[12]!,
    batteryPct: v[13]!,
    batteryVoltageMv: v[14]!,
    currentDrawA: v[15]!,
    tirePressureFlPsi: v[16]!,
    tirePressureFrPsi: v[17]!,
    tirePressureRlPsi: v[18]!,
    tirePressureRrPsi: v[19]!,
    accelFlMs2: v[20]!,
    accelFrMs2: v[21]!,
    accelRlMs2: v[22]!,
    accelRrMs2: v[23]!,
    controlUnitFirmware: v[24]!
  }
}

/**
 * The id's bytes to pass to isPlainTelemetry, or null for an id the schema refuses (the scan
 * compares the payload's id with these bytes; it does not check the id itself).
 */
export function telemetryIdBytes (vehicleId: string): Buffer | null {
  if (!ID_PATTERN.test(vehicleId)) return null
  // Memory of its own: a car keeps these bytes as long as it is connected, and a small
  // Buffer.from is a slice of Node's shared 8 KiB pool that keeps the whole slab alive (the
  // 100k soak's brokers held ~10 KB more per car with it, each slab pinned by a few cars' ids).
  const b = Buffer.allocUnsafeSlow(vehicleId.length)
  b.write(vehicleId, 'latin1')
  return b
}

/**
 * Whether `b` is valid telemetry of the car whose id as bytes is `idBytes` (telemetryIdBytes).
 * False means only that the fast path cannot vouch for it: parseTelemetry decides. Never throws.
 */
export function isPlainTelemetry (b: Uint8Array, idBytes: Uint8Array): boolean {
  return scan(b, idBytes)
}

/** Reads `b` into `values`; true if every rule holds. */
function scan (b: Uint8Array, idBytes: Uint8Array): boolean {
  const len = b.length
  let i = 0
  while (i < len && isWs(b[i]!)) i++
  if (b[i] !== 0x7b) return false // {
  i++
  seen.fill(0)
  let count = 0
  let guess = 0
  for (;;) {
    while (i < len && isWs(b[i]!)) i++
    if (b[i] !== QUOTE) return false
    const ks = ++i
    while (i < len && b[i] !== QUOTE) {
      const c = b[i]!
      if (c === BACKSLASH || c < 0x20 || c > 0x7e) return false
      i++
    }
    if (i >= len) return false
    const k = keyIndex(b, ks, i, guess)
    if (k < 0 || seen[k] === 1) return false
    seen[k] = 1
    count++
    guess = k + 1
    i++
    while (i < len && isWs(b[i]!)) i++
    if (b[i] !== 0x3a) return false // :
    i++
    while (i < len && isWs(b[i]!)) i++
    if (k === VEHICLE_ID) {
      // A string equal to the topic's id, byte for byte, with no escapes.
      if (b[i] !== QUOTE) return false
      const vs = ++i
      const n = idBytes.length
      if (vs + n >= len || b[vs + n] !== QUOTE) return false
      for (let j = 0; j < n; j++) if (b[vs + j] !== idBytes[j]) return false
      i = vs + n + 1
    } else {
      i = readNumber(b, i, k)
      if (i < 0) return false
    }
    while (i < len && isWs(b[i]!)) i++
    const c = b[i]
    i++
    if (c === 0x2c) continue // ,
    if (c !== 0x7d) return false // }
    break
  }
  while (i < len && isWs(b[i]!)) i++
  if (i !== len || count !== KEYS.length) return false
  for (let k = 0; k < KEYS.length; k++) {
    if (k === VEHICLE_ID) continue
    const v = values[k]!
    const r = RULES[k]!
    if (!Number.isFinite(v) || v < r.min || v > r.max || (r.integer && !Number.isInteger(v)) || (r.literal !== null && v !== r.literal)) return false
  }
  return true
}

/**
 * Reads a JSON number (RFC 8259 §6 grammar) at `i` into values[k]; returns the offset after it,
 * or -1. Up to 15 significant digits and 22 decimals, m / 10^d is exact before its one rounding,
 * so it equals what JSON.parse gives; longer numbers and exponents go through Number().
 */
function readNumber (b: Uint8Array, i: number, k: number): number {
  const start = i
  const len = b.length
  let neg = false
  if (b[i] === 0x2d) { neg = true; i++ } // -
  let c = b[i]
  if (c === 0x30) { // 0: no digits may follow
    i++
    c = b[i]
    if (c !== undefined && c >= 0x30 && c <= 0x39) return -1
  } else if (c === undefined || c < 0x31 || c > 0x39) {
    return -1
  }
  let m = 0
  let digits = 0
  while (i < len && (c = b[i]!) >= 0x30 && c <= 0x39) {
    m = m * 10 + (c - 0x30)
    digits++
    i++
  }
  let decimals = 0
  if (b[i] === 0x2e) { // .
    i++
    while (i < len && (c = b[i]!) >= 0x30 && c <= 0x39) {
      m = m * 10 + (c - 0x30)
      digits++
      decimals++
      i++
    }
    if (decimals === 0) return -1
  }
  let exact = digits <= 15 && decimals <= 22
  if (b[i] === 0x65 || b[i] === 0x45) { // e E
    i++
    if (b[i] === 0x2b || b[i] === 0x2d) i++
    const es = i
    while (i < len && (c = b[i]!) >= 0x30 && c <= 0x39) i++
    if (i === es) return -1
    exact = false
  }
  if (exact) {
    const v = decimals === 0 ? m : m / POW10[decimals]!
    values[k] = neg ? -v : v
  } else {
    values[k] = Number(Buffer.from(b.buffer, b.byteOffset + start, i - start).toString('latin1'))
  }
  return i
}
