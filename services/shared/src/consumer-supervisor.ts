// Keeps one Kafka consumer running. A consumer that crashes (kafkajs stops it for good on a
// non-retriable error) is replaced by a new one after a growing backoff, counted and logged with
// its cause; after `maxRestarts` restarts in a row with no progress it gives up and says so, so
// that the process exits and its supervisor (Kubernetes, the launcher) restarts it.
import type { Logger } from './logger.js'

/** A launched consumer: `stop` leaves the group and disconnects. */
export interface LaunchedConsumer { stop: () => Promise<void> }

export type SupervisorState = 'idle' | 'running' | 'restarting' | 'failed' | 'stopped'

export interface SupervisorOptions {
  /** Creates, connects, subscribes and runs a new consumer; it calls `crashed` once if that consumer stops on its own. */
  launch: (crashed: (err: Error) => void) => Promise<LaunchedConsumer>
  log: Logger
  initialBackoffMs: number
  maxBackoffMs: number
  /** Restarts in a row without progress before giving up; 0 = never give up. */
  maxRestarts: number
  onRestart?: (err: Error) => void
  onGiveUp?: (err: Error) => void
  timers?: { set: (fn: () => void, ms: number) => unknown, clear: (t: unknown) => void }
}

export interface ConsumerSupervisor {
  /** Launches the first consumer; a launch that throws is thrown (the scorer does not start). */
  start: () => Promise<void>
  stop: () => Promise<void>
  /** A batch was scored: the consumer works, the count of restarts in a row starts again. */
  progress: () => void
  readonly state: SupervisorState
  /** Restarts in a row without progress. */
  readonly attempts: number
}

export function createConsumerSupervisor (opts: SupervisorOptions): ConsumerSupervisor {
  const timers = opts.timers ?? { set: (fn: () => void, ms: number) => setTimeout(fn, ms), clear: (t: unknown) => clearTimeout(t as NodeJS.Timeout) }
  let state: SupervisorState = 'idle'
  let current: LaunchedConsumer | null = null
  let attempts = 0
  let timer: unknown = null
  let generation = 0

  async function launch (): Promise<void> {
    const gen = ++generation
    let crashedEarly = false
    const consumer = await opts.launch(err => {
      if (gen !== generation) return
      if (current === null) crashedEarly = true
      current = null
      crashed(err)
    })
    if (state === 'stopped') {
      await consumer.stop()
      return
    }
    // A consumer that crashed while it was joining has a restart scheduled already.
    if (crashedEarly || gen !== generation) return
    current = consumer
    state = 'running'
  }

  function crashed (err: Error): void {
    if (state === 'stopped' || state === 'failed') return
    if (opts.maxRestarts > 0 && attempts >= opts.maxRestarts) {
      state = 'failed'
      opts.log.fatal({ err: err.message, error: err.name, restarts: attempts }, 'consumer crashed again with no progress since the last restart; giving up')
      opts.onGiveUp?.(err)
      return
    }
    const delay = Math.min(opts.maxBackoffMs, opts.initialBackoffMs * 2 ** attempts)
    attempts++
    state = 'restarting'
    opts.onRestart?.(err)
    opts.log.error({ err: err.message, error: err.name, attempt: attempts, inMs: delay }, 'consumer crashed; restarting it')
    timer = timers.set(() => {
      timer = null
      if (state !== 'restarting') return
      launch().catch((launchErr: Error) => {
        generation++
        crashed(launchErr)
      })
    }, delay)
  }

  return {
    get state () { return state },
    get attempts () { return attempts },
    async start () {
      await launch()
    },
    progress () {
      attempts = 0
    },
    async stop () {
      state = 'stopped'
      if (timer !== null) timers.clear(timer)
      timer = null
      const c = current
      current = null
      await c?.stop()
    }
  }
}
