// When a scored car's place in the fleet ranking (the scores zset) is written: always when it is
// new to this pod, anomalous or its flag flipped; otherwise when its score moved by more than
// RANK_MOVE of its threshold, or RANK_REFRESH_MS after it was last ranked.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { RANK_MOVE, RANK_REFRESH_MS, rankingDue } from './batch-processor.js'

const t0 = 1_000_000
const last = { anomalous: false, rankedAt: t0, rankedScore: 0.2 }
const score = (s: number, anomalous = false) => ({ score: s, threshold: 1, anomalous })

test('a car new to this pod, an anomalous car and a flipped flag are ranked at once', () => {
  assert.equal(rankingDue(undefined, score(0.2), t0), true)
  assert.equal(rankingDue(last, score(1.5, true), t0 + 1), true)
  assert.equal(rankingDue({ ...last, anomalous: true }, score(0.2), t0 + 1), true)
})

test('a healthy car whose score barely moved waits for the refresh; a move beyond RANK_MOVE does not', () => {
  assert.equal(rankingDue(last, score(0.2 + RANK_MOVE * 0.9), t0 + 10_000), false)
  assert.equal(rankingDue(last, score(0.2 - RANK_MOVE * 0.9), t0 + RANK_REFRESH_MS - 1), false)
  assert.equal(rankingDue(last, score(0.2), t0 + RANK_REFRESH_MS), true)
  assert.equal(rankingDue(last, score(0.2 + RANK_MOVE * 1.1), t0 + 10_000), true)
  assert.equal(rankingDue(last, score(0.2 - RANK_MOVE * 1.1), t0 + 10_000), true)
  assert.equal(rankingDue(last, score(Number.NaN), t0 + 10_000), true)
})
