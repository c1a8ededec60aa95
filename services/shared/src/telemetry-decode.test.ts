import assert from 'node:assert/strict'
import { test } from 'node:test'
import { seededRandom } from './seeded-random.js'
import { invalidTelemetrySamples, validTelemetry } from './telemetry-samples.js'
import { parseTelemetry } from './telemetry-schema.js'
import { createVehicle } from './vehicle-model.js'
import { decodeTelemetry, telemetryIdBytes } from './telemetry-decode.js'

const id = 'car-1'
const idBytes = Buffer.from(id)
const MAX = 16_384

/** The fast path may decline (null) but never accepts what parseTelemetry refuses, nor differs from it. */
function agrees (payload: Buffer, what: string): 'fast' | 'declined' {
  const fast = decodeTelemetry(payload, id, idBytes)
  const slow = parseTelemetry(payload, id, MAX)
  if (fast === null) return 'declined'
  assert.ok(slow.ok, `${what}: the fast path accepted what parseTelemetry refuses (${slow.ok ? '' : slow.detail}): ${payload.toString('latin1').slice(0, 300)}`)
  assert.deepEqual(fast, slow.value, what)
  for (const k of Object.keys(fast) as Array<keyof typeof fast>) assert.ok(Object.is(fast[k], slow.value[k]), `${what}: ${k} ${fast[k]} vs ${slow.value[k]}`)
  return 'fast'
}

test('what cars send takes the fast path, with the values JSON.parse reads', () => {
  const rnd = seededRandom(3)
  for (let seq = 0; seq < 2_000; seq++) assert.equal(agrees(Buffer.from(JSON.stringify(validTelemetry(id, seq, rnd))), `sample ${seq}`), 'fast')
  // The simulator's cars: full-precision doubles (up to 17 significant digits), failures included.
  const car = createVehicle({ vehicleId: id, seed: 5, failure: { mode: 'battery_degradation', onsetS: 10, developS: 60 } })
  for (let s = 0; s < 2_000; s++) assert.equal(agrees(Buffer.from(JSON.stringify(car.next(1))), `simulated ${s}`), 'fast')
})

test('every invalid sample is declined and parseTelemetry gives its reason', () => {
  for (const s of invalidTelemetrySamples(id, MAX)) {
    if (s.expect === 'oversized') continue // the caller checks the size first
    assert.equal(decodeTelemetry(s.payload, id, idBytes), null, s.name)
  }
})

test('JSON the fast path does not handle is declined, and it never disagrees on edits of a valid message', () => {
  const base = validTelemetry(id, 7, seededRandom(7), 1_760_000_000_000)
  const text = JSON.stringify(base)
  const cases: Array<[string, string]> = [
    ['whitespace everywhere', JSON.stringify(base, null, 2)],
    ['keys in another order', JSON.stringify(Object.fromEntries(Object.entries(base).reverse()))],
    ['duplicate key (JSON.parse keeps the last)', text.replace('{', '{"rpm":1,')],
    ['exponent', text.replace(/"rpm":[^,]+/, '"rpm":1.5e3')],
    ['negative zero', text.replace(/"accelFlMs2":[^,]+/, '"accelFlMs2":-0')],
    ['17 significant digits', text.replace(/"lat":[^,]+/, '"lat":48.123456789012345')],
    ['many decimals', text.replace(/"lat":[^,]+/, '"lat":48.1000000000000000000000000001')],
    ['integer as 3.0', text.replace(/"seq":[^,]+/, '"seq":7.0')],
    ['integer as 3.5', text.replace(/"seq":[^,]+/, '"seq":7.5')],
    ['schema version 1.0', text.replace(/"schemaVersion":[^,]+/, '"schemaVersion":1.0')],
    ['leading zero', text.replace(/"rpm":[^,]+/, '"rpm":0800')],
    ['bare dot', text.replace(/"rpm":[^,]+/, '"rpm":800.')],
    ['plus sign', text.replace(/"rpm":[^,]+/, '"rpm":+800')],
    ['escaped id', text.replace('"car-1"', '"car\\u002d1"')],
    ['escaped key', text.replace('"rpm"', '"r\\u0070m"')],
    ['id of another car', text.replace('"car-1"', '"car-12"')],
    ['null value', text.replace(/"rpm":[^,]+/, '"rpm":null')],
    ['string number', text.replace(/"rpm":[^,]+/, '"rpm":"800"')],
    ['huge', text.replace(/"seq":[^,]+/, '"seq":1e400')],
    ['trailing comma', text.replace(/}$/, ',}')],
    ['trailing garbage', text + 'x'],
    ['two objects', text + text],
    ['BOM', '\ufeff' + text],
    ['non-ASCII key', text.replace('"rpm"', '"rpmé"')],
    ['range edge', text.replace(/"throttlePos":[^,]+/, '"throttlePos":1')],
    ['just past the range', text.replace(/"throttlePos":[^,]+/, '"throttlePos":1.0000000000000002')]
  ]
  const outcome: Record<string, string> = {}
  for (const [name, payload] of cases) outcome[name] = agrees(Buffer.from(payload), name)
  assert.equal(outcome['whitespace everywhere'], 'fast')
  assert.equal(outcome['keys in another order'], 'fast')
  assert.equal(outcome['duplicate key (JSON.parse keeps the last)'], 'declined')
  assert.equal(outcome['integer as 3.5'], 'declined')
  assert.equal(outcome['range edge'], 'fast')
  assert.equal(outcome['just past the range'], 'declined')

  // Random edits: bytes changed, dropped, doubled; the fast path never accepts what the slow refuses.
  const rnd = seededRandom(11)
  const bytes = Buffer.from(text)
  const alphabet = Buffer.from('0123456789-+.eE",:{}[] \\nult')
  let fast = 0
  for (let n = 0; n < 20_000; n++) {
    const b = Buffer.from(bytes)
    const at = rnd.int(0, b.length - 1)
    const edit = rnd.int(0, 2)
    const mutated = edit === 0
      ? (b[at] = alphabet[rnd.int(0, alphabet.length - 1)]!, b)
      : edit === 1 ? Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]) : Buffer.concat([b.subarray(0, at + 1), b.subarray(at)])
    if (agrees(mutated, `edit ${n}`) === 'fast') fast++
  }
  assert.ok(fast > 1_000, `some edits stay valid and take the fast path (${fast})`)
})

test("a car's id bytes have memory of their own, not a slice of Node's shared pool", () => {
  // Kept per connected car: a pool slice would keep an 8 KiB slab alive per few cars.
  const b = telemetryIdBytes('sim-car-00042')!
  assert.equal(b.toString('latin1'), 'sim-car-00042')
  assert.equal(b.buffer.byteLength, b.byteLength)
  assert.equal(b.byteOffset, 0)
  assert.equal(telemetryIdBytes('not an id!'), null)
})
