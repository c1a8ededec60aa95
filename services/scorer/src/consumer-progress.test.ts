import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createConsumerProgress } from './consumer-progress.js'

function clocked () {
  let now = 1_000_000
  return { clock: () => now, advance: (ms: number) => { now += ms } }
}

test('catching up: not stalled while batches complete; stalled when behind and nothing scored for the window', () => {
  const t = clocked()
  const p = createConsumerProgress(5_000, t.clock)
  p.assigned([0, 1])
  assert.equal(p.stalled(), null)
  p.batchStarted()
  t.advance(1_000)
  p.batchDone(0, 40_000)
  p.batchStarted()
  t.advance(1_000)
  p.batchDone(1, 38_000)
  assert.equal(p.lag, 78_000)
  t.advance(4_000)
  assert.equal(p.stalled(), null, 'within the window')
  t.advance(2_000)
  assert.match(p.stalled() ?? '', /78000 messages behind and nothing scored for 6 s/)
  p.batchStarted()
  p.batchDone(0, 0)
  assert.equal(p.stalled(), null, 'progress again')
})

test('idle with nothing behind is not stalled, however long', () => {
  const t = clocked()
  const p = createConsumerProgress(5_000, t.clock)
  p.assigned([0])
  p.batchStarted()
  p.batchDone(0, 0)
  t.advance(3_600_000)
  assert.equal(p.stalled(), null)
})

test('a batch in hand longer than the window is a stall even when the last lag was 0; a failed batch is no longer in hand', () => {
  const t = clocked()
  const p = createConsumerProgress(5_000, t.clock)
  p.assigned([0])
  p.batchStarted()
  t.advance(5_001)
  assert.match(p.stalled() ?? '', /in hand for 5 s/)
  p.batchFailed()
  assert.equal(p.stalled(), null)
})

test('a new assignment forgets the partitions it lost and gets the window as grace', () => {
  const t = clocked()
  const p = createConsumerProgress(5_000, t.clock)
  p.assigned([0, 1])
  p.batchStarted()
  p.batchDone(1, 500)
  t.advance(10_000)
  assert.notEqual(p.stalled(), null)
  p.assigned([0])
  assert.equal(p.lag, 0)
  assert.equal(p.stalled(), null)
})
