import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import { pino } from 'pino'
import { waitReady, watchReadiness } from './readiness-watch.js'

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

test('waitReady resolves with no failing check once ready, or with the failing checks at the deadline', async () => {
  let consuming = false
  setTimeout(() => { consuming = true }, 50)
  assert.deepEqual(await waitReady(() => ({ kafka: true, consuming }), 2_000, 10), [])
  const t0 = Date.now()
  assert.deepEqual(await waitReady(() => ({ kafka: false, consuming: true, redis: false }), 100, 10), ['kafka', 'redis'])
  assert.ok(Date.now() - t0 >= 100)
})

test('watchReadiness logs a warning with the failing checks when a service stops being ready, and when it is back', async () => {
  const lines: Array<{ level: number, msg: string, failing?: string[] }> = []
  const log = pino({ level: 'info' }, new Writable({ write (chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done() } }))
  let checks: Record<string, boolean> = { kafka: true, consuming: true }
  const stop = watchReadiness('scorer', () => checks, log, 10)
  await sleep(50)
  assert.equal(lines.length, 0, 'nothing while ready')
  checks = { kafka: false, consuming: true }
  await sleep(50)
  checks = { kafka: true, consuming: true }
  await sleep(50)
  stop()
  assert.deepEqual(lines.map(l => [l.level, l.msg, l.failing]), [[40, 'scorer is not ready', ['kafka']], [30, 'scorer is ready', undefined]])
})
