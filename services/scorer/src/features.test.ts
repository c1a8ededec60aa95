import assert from 'node:assert/strict'
import { test } from 'node:test'
import { validTelemetry } from '../../shared/src/telemetry-samples.js'
import { SENSOR_FIELDS, type Telemetry } from '../../shared/src/telemetry-schema.js'
import { createFeatureExtractor, defaultFeatureSet, nextLogInterval, type FeatureSet } from './features.js'

const T0 = 1_750_000_000_000
const set: FeatureSet = {
  version: 1,
  resetGapS: 600,
  features: [
    { name: 'speed', field: 'speedMps', kind: 'raw' },
    { name: 'speed~10s', field: 'speedMps', kind: 'ewma', tauS: 10 },
    { name: '|accel|~10s', field: 'accelFlMs2', kind: 'ewmaAbs', tauS: 10 },
    { name: 'age', field: '', kind: 'age', capS: 60 }
  ]
}
const msg = (id: string, tsMs: number, speedMps: number, accelFlMs2 = 0): Telemetry => ({ ...validTelemetry(id, 0, undefined, tsMs), speedMps, accelFlMs2 })

test('moving averages follow time, not message count: 1 s and 10 s reporting agree', () => {
  const fine = createFeatureExtractor(set)
  const coarse = createFeatureExtractor(set)
  const out = new Float32Array(4)
  fine.push(msg('a', T0, 0), out, 0)
  coarse.push(msg('a', T0, 0), out, 0)
  for (let s = 1; s <= 10; s++) fine.push(msg('a', T0 + s * 1_000, 10), out, 0)
  const a = out[1]!
  coarse.push(msg('a', T0 + 10_000, 10), out, 0)
  assert.ok(Math.abs(a - out[1]!) < 1e-5, `${a} vs ${out[1]}`)
  assert.ok(Math.abs(out[1]! - 10 * (1 - Math.exp(-1))) < 1e-5, 'one time constant: 63 % of a step')
  assert.equal(out[0], 10, 'raw value as sent')
  assert.equal(out[3], 10, 'stream age in seconds')
})

test('absolute moving average, age capped, each car on its own', () => {
  const x = createFeatureExtractor(set)
  const out = new Float32Array(8)
  x.push(msg('a', T0, 5, -2), out, 0)
  x.push(msg('b', T0, 20, 3), out, 4)
  assert.deepEqual(Array.from(out), [5, 5, 2, 0, 20, 20, 3, 0])
  x.push(msg('a', T0 + 120_000, 5, -2), out, 0)
  assert.equal(out[3], 60, 'age capped')
  assert.equal(out[2], 2)
  assert.equal(x.cars, 2)
})

test('a replayed (older) message is scored against the current state without moving it', () => {
  const x = createFeatureExtractor(set)
  const out = new Float32Array(4)
  x.push(msg('a', T0, 0), out, 0)
  x.push(msg('a', T0 + 5_000, 10), out, 0)
  const state = x.exportState('a')
  x.push(msg('a', T0 + 1_000, 99), out, 0)
  assert.equal(out[0], 99)
  assert.equal(x.exportState('a'), state)
})

test('a car silent for longer than resetGapS starts afresh', () => {
  const x = createFeatureExtractor(set)
  const out = new Float32Array(4)
  x.push(msg('a', T0, 0), out, 0)
  x.push(msg('a', T0 + 601_000, 30), out, 0)
  assert.deepEqual(Array.from(out), [30, 30, 0, 0])
})

test('state survives export and import (another scorer continues the car); junk is refused', () => {
  const a = createFeatureExtractor(set)
  const b = createFeatureExtractor(set)
  const outA = new Float32Array(4)
  const outB = new Float32Array(4)
  a.push(msg('car', T0, 0), outA, 0)
  a.push(msg('car', T0 + 3_000, 8), outA, 0)
  a.smooth('car', T0 + 3_000, 2, 60)
  assert.ok(b.importState('car', a.exportState('car')!))
  a.push(msg('car', T0 + 6_000, 12), outA, 0)
  b.push(msg('car', T0 + 6_000, 12), outB, 0)
  assert.deepEqual(outB, outA)
  assert.equal(b.smooth('car', T0 + 9_000, 4, 60), a.smooth('car', T0 + 9_000, 4, 60))
  assert.equal(b.importState('x', 'not json'), false)
  assert.equal(b.importState('x', JSON.stringify({ v: 1, w: 3, ts: T0, avg: [1, 2, 3] })), false, 'other width')
  assert.equal(createFeatureExtractor(defaultFeatureSet()).importState('car', a.exportState('car')!), false, 'other feature set')
})

test('the smoothed score starts at the first row score and decays towards new ones over time', () => {
  const x = createFeatureExtractor(set)
  x.push(msg('a', T0, 0), new Float32Array(4), 0)
  assert.equal(x.smooth('a', T0, 10, 60), 10)
  const s = x.smooth('a', T0 + 60_000, 0, 60)
  assert.ok(Math.abs(s - 10 * Math.exp(-1)) < 1e-9)
  assert.equal(x.smooth('a', T0 + 30_000, 100, 60), s, 'an older message does not move it')
})

test('quiet cars are evicted from memory', () => {
  const x = createFeatureExtractor(set)
  x.push(msg('old', T0, 0), new Float32Array(4), 0, 1_000)
  x.push(msg('new', T0, 0), new Float32Array(4), 0, 5_000)
  assert.equal(x.evict(2_000), 1)
  assert.equal(x.has('old'), false)
  assert.equal(x.has('new'), true)
})

test('every sensor field reaches its feature (the fast reader follows SENSOR_FIELDS)', () => {
  const fieldsSet: FeatureSet = { version: 1, resetGapS: 600, features: SENSOR_FIELDS.map(field => ({ name: field, field, kind: 'raw' as const })) }
  const t = validTelemetry('a', 3, undefined, T0)
  const out = new Float32Array(SENSOR_FIELDS.length)
  createFeatureExtractor(fieldsSet).push(t, out, 0)
  assert.deepEqual(Array.from(out), SENSOR_FIELDS.map(f => Math.fround(t[f])))
})

test('the reporting interval is learnt per car: the same drive at 1 s and at 10 s reads 1 and 10, with comparable averages', () => {
  const fine = createFeatureExtractor(set)
  const coarse = createFeatureExtractor(set)
  const outF = new Float32Array(4)
  const outC = new Float32Array(4)
  assert.ok(Number.isNaN(fine.intervalS('car')), 'unknown before it is seen')
  // A slow sinusoidal speed profile over 10 min, sampled at both rates.
  const speed = (s: number) => 15 + 10 * Math.sin(s / 60)
  for (let s = 0; s <= 600; s++) {
    fine.push(msg('car', T0 + s * 1_000, speed(s)), outF, 0)
    if (s % 10 === 0) coarse.push(msg('car', T0 + s * 1_000, speed(s)), outC, 0)
  }
  assert.ok(Math.abs(fine.intervalS('car') - 1) < 1e-9)
  assert.ok(Math.abs(coarse.intervalS('car') - 10) < 1e-9)
  // Within 5 % of the 20 m/s swing: a 10 s average sampled every 10 s is coarse, not biased.
  assert.ok(Math.abs(outF[1]! - outC[1]!) < 1, `speed~10s at 1 s ${outF[1]} vs at 10 s ${outC[1]}`)
})

test('one long gap moves the interval estimate a little, and it is back within a few messages', () => {
  let l = Number.NaN
  for (let i = 0; i < 20; i++) l = nextLogInterval(l, 1)
  l = nextLogInterval(l, 300)
  assert.ok(Math.exp(l) < 4, `after a 300 s gap: ${Math.exp(l)} s`)
  for (let i = 0; i < 15; i++) l = nextLogInterval(l, 1)
  assert.ok(Math.exp(l) < 1.1, `15 messages later: ${Math.exp(l)} s`)
  assert.equal(nextLogInterval(Number.NaN, 1e-9), Math.log(0.1), 'clamped')
})

test('the interval estimate survives a rebalance (exported state), and state from before it is still read', () => {
  const a = createFeatureExtractor(set)
  const out = new Float32Array(4)
  for (let s = 0; s < 5; s++) a.push(msg('car', T0 + s * 10_000, 10), out, 0)
  const b = createFeatureExtractor(set)
  assert.ok(b.importState('car', a.exportState('car')!))
  assert.ok(Math.abs(b.intervalS('car') - 10) < 1e-9)
  const old = JSON.parse(a.exportState('car')!) as Record<string, unknown>
  delete old.iv
  const c = createFeatureExtractor(set)
  assert.ok(c.importState('car', JSON.stringify(old)))
  assert.ok(Number.isNaN(c.intervalS('car')))
  c.push(msg('car', T0 + 50_000, 10), out, 0)
  assert.ok(Math.abs(c.intervalS('car') - 10) < 1e-9, 'relearnt from the next message')
})
