import assert from 'node:assert/strict'
import { test } from 'node:test'
import { contributions, createScoreCalibration, guessFailureMode, rowScores, smoothScore, standardise } from './autoencoder.js'

test('standardise centres, scales and clips in place', () => {
  const rows = Float32Array.from([10, 0, 30, 1_000])
  standardise(rows, 2, { mean: [10, 0], std: [10, 2], clip: 5 })
  assert.deepEqual(Array.from(rows), [0, 0, 2, 5])
})

test('a row score is the mean squared error in units of each feature\'s typical error', () => {
  const x = Float32Array.from([0, 0, 1, 1])
  const recon = Float32Array.from([1, 0, 1, 3])
  assert.deepEqual(Array.from(rowScores(x, recon, 2, [1, 2])), [0.5, 0.5])
})

test('with topK the score is the mean of the largest scaled errors, so one failing signal is not diluted', () => {
  const x = new Float32Array(4)
  const recon = Float32Array.from([1, 4, 2, 0])
  assert.deepEqual(Array.from(rowScores(x, recon, 4, [1, 1, 1, 1], 1)), [16])
  assert.deepEqual(Array.from(rowScores(x, recon, 4, [1, 1, 1, 1], 2)), [10])
  assert.deepEqual(Array.from(rowScores(x, recon, 4, [1, 1, 1, 1], 4)), [5.25], 'topK ≥ width is the mean')
})

test('smoothing decays over time and holds for out-of-order messages', () => {
  assert.equal(smoothScore(undefined, 4, 1, 60), 4)
  assert.equal(smoothScore(4, 100, 0, 60), 4)
  assert.ok(Math.abs(smoothScore(0, 1, 60, 60) - (1 - Math.exp(-1))) < 1e-12)
  assert.equal(smoothScore(3, 9, 5, 0), 9, 'no smoothing when tau is 0')
})

test('with a prior, a car\'s first score moves only one second\'s worth away from it', () => {
  const first = smoothScore(undefined, 1_000, 0, 60, 1)
  assert.ok(Math.abs(first - (1 + 999 * (1 - Math.exp(-1 / 60)))) < 1e-9)
  assert.ok(first < 20, 'one odd first message raises no alarm')
})

test('contributions name the features that carry the score, largest first', () => {
  const x = Float32Array.from([0, 0, 0])
  const recon = Float32Array.from([1, 3, 0])
  const c = contributions(x, recon, 0, 3, [1, 1, 1], ['a', 'b', 'c'], 2)
  assert.deepEqual(c, [{ feature: 'b', share: 0.9 }, { feature: 'a', share: 0.1 }])
})

test('the failure mode guess follows the signals that carry the error', () => {
  const fields = ['coolantTempC', 'engineVibrationMv', 'speedMps', 'tirePressureFlPsi', 'accelFlMs2']
  const x = new Float32Array(5)
  const guess = (errors: number[]) => guessFailureMode(x, Float32Array.from(errors), 0, 5, [1, 1, 1, 1, 1], fields)
  assert.equal(guess([3, 0.5, 0, 0, 0]), 'coolant_leak')
  assert.equal(guess([0, 4, 1, 0, 0]), 'bearing_wear')
  assert.equal(guess([0, 0, 0, 2, 2]), 'tyre_slow_puncture', 'pressures and accelerometers count together')
  assert.equal(guess([0.1, 0, 5, 0, 0]), null, 'driving signals are no failure')
})

test('score calibration: scores in units of the 1 s threshold, interpolated in log(interval), clamped outside', () => {
  const none = createScoreCalibration({ threshold: 100 })
  assert.equal(none.cap, Number.POSITIVE_INFINITY)
  assert.equal(none.scale(10), 1, 'an older model: one threshold for every car')
  const c = createScoreCalibration({ threshold: 100, scoreCap: 200, thresholdByIntervalS: [{ intervalS: 1, threshold: 100 }, { intervalS: 10, threshold: 150 }] })
  assert.equal(c.cap, 200)
  assert.equal(c.scale(1), 1)
  assert.equal(c.scale(0.5), 1)
  assert.ok(Math.abs(c.scale(10) - 100 / 150) < 1e-12)
  assert.equal(c.scale(60), c.scale(10))
  assert.ok(Math.abs(c.scale(Math.sqrt(10)) - (1 + 100 / 150) / 2) < 1e-12, 'half way in log(interval)')
  assert.equal(c.scale(Number.NaN), c.scale(10), 'unknown interval: the strictest')
})
