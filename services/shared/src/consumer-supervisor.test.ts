import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createLogger } from './logger.js'
import { createConsumerSupervisor, type SupervisorOptions } from './consumer-supervisor.js'

/** A fake consumer launcher: each launch is recorded with its crash callback; a launch may be told to fail. */
function harness (overrides: Partial<SupervisorOptions> = {}) {
  const launches: Array<{ crash: (err: Error) => void, stopped: boolean }> = []
  const pending: Array<{ fn: () => void, ms: number }> = []
  const restarts: Error[] = []
  const gaveUp: Error[] = []
  let failNextLaunches = 0
  let crashWhileJoining = false
  const sup = createConsumerSupervisor({
    log: createLogger('test', 'silent'),
    initialBackoffMs: 1_000,
    maxBackoffMs: 30_000,
    maxRestarts: 3,
    onRestart: err => restarts.push(err),
    onGiveUp: err => gaveUp.push(err),
    timers: { set: (fn, ms) => pending.push({ fn, ms }), clear: () => { pending.length = 0 } },
    launch: async crashed => {
      if (failNextLaunches > 0) {
        failNextLaunches--
        throw new Error('connect ECONNREFUSED')
      }
      const l = { crash: crashed, stopped: false }
      launches.push(l)
      if (crashWhileJoining) {
        crashWhileJoining = false
        crashed(new Error('coordinator gone while joining'))
      }
      return { stop: async () => { l.stopped = true } }
    },
    ...overrides
  })
  /** Lets the scheduled restart run, and the launch it starts settle. */
  const fire = async () => {
    const next = pending.shift()
    assert.ok(next !== undefined, 'a restart is scheduled')
    next.fn()
    await new Promise(resolve => setImmediate(resolve))
    return next.ms
  }
  return { sup, launches, pending, restarts, gaveUp, fire, failNext: (n: number) => { failNextLaunches = n }, crashOnJoin: () => { crashWhileJoining = true } }
}

const tooLarge = Object.assign(new Error('The request included a message larger than the max message size the server will accept'), { name: 'KafkaJSNonRetriableError' })

test('a crashed consumer is replaced by a new one after a backoff, counted with its cause', async () => {
  const h = harness()
  await h.sup.start()
  assert.equal(h.sup.state, 'running')
  h.launches[0]!.crash(tooLarge)
  assert.equal(h.sup.state, 'restarting', 'not running while it waits to restart')
  assert.deepEqual(h.restarts, [tooLarge])
  assert.equal(await h.fire(), 1_000)
  assert.equal(h.sup.state, 'running')
  assert.equal(h.launches.length, 2, 'a new consumer')
  // A late crash report from the old consumer changes nothing.
  h.launches[0]!.crash(new Error('late'))
  assert.equal(h.sup.state, 'running')
  assert.equal(h.restarts.length, 1)
})

test('the backoff doubles while restarts make no progress, up to the cap; progress starts it again', async () => {
  const h = harness({ maxRestarts: 0, maxBackoffMs: 5_000 })
  await h.sup.start()
  const delays: number[] = []
  for (let i = 0; i < 5; i++) {
    h.launches.at(-1)!.crash(new Error(`crash ${i}`))
    delays.push(await h.fire())
  }
  assert.deepEqual(delays, [1_000, 2_000, 4_000, 5_000, 5_000])
  assert.equal(h.sup.state, 'running', 'maxRestarts 0: never gives up')
  h.sup.progress()
  h.launches.at(-1)!.crash(new Error('after progress'))
  assert.equal(await h.fire(), 1_000)
})

test('a restart whose launch fails (Kafka away) is retried with the next backoff', async () => {
  const h = harness()
  await h.sup.start()
  h.failNext(2)
  h.launches[0]!.crash(new Error('connection closed'))
  assert.equal(await h.fire(), 1_000)
  assert.equal(h.sup.state, 'restarting')
  assert.equal(await h.fire(), 2_000)
  assert.equal(await h.fire(), 4_000)
  assert.equal(h.sup.state, 'running')
  assert.deepEqual(h.restarts.map(e => e.message), ['connection closed', 'connect ECONNREFUSED', 'connect ECONNREFUSED'])
})

test('a consumer that crashes while joining is restarted, not reported running', async () => {
  const h = harness()
  h.crashOnJoin()
  await h.sup.start()
  assert.equal(h.sup.state, 'restarting')
  await h.fire()
  assert.equal(h.sup.state, 'running')
  assert.equal(h.launches.length, 2)
})

test('after maxRestarts in a row with no progress it gives up and says so', async () => {
  const h = harness({ maxRestarts: 2 })
  await h.sup.start()
  for (let i = 0; i < 2; i++) {
    h.launches.at(-1)!.crash(tooLarge)
    await h.fire()
  }
  h.launches.at(-1)!.crash(tooLarge)
  assert.equal(h.sup.state, 'failed')
  assert.deepEqual(h.gaveUp, [tooLarge])
  assert.equal(h.pending.length, 0, 'no further restart')
})

test('stop stops the consumer and cancels a pending restart; a first launch that fails is thrown', async () => {
  const h = harness()
  await h.sup.start()
  await h.sup.stop()
  assert.equal(h.launches[0]!.stopped, true)
  assert.equal(h.sup.state, 'stopped')

  const h2 = harness()
  await h2.sup.start()
  h2.launches[0]!.crash(new Error('x'))
  await h2.sup.stop()
  assert.equal(h2.pending.length, 0)
  assert.equal(h2.sup.state, 'stopped')

  const h3 = harness()
  h3.failNext(1)
  await assert.rejects(h3.sup.start(), /ECONNREFUSED/)
})
