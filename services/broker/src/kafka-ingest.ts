// The Kafka side of ingest: records are batched (linger, max batch) into one produce request with
// acks=all at a time, and each record's callback runs only after Kafka acknowledged it. A failed
// send is retried with backoff until it succeeds, so an acknowledged car message is never lost;
// while it fails, callers hold their PUBACKs and with them the cars' sockets (backpressure).
// One batch in flight keeps every car's records in order across retries.
import type { Logger } from '../../shared/src/logger.js'
import type { BrokerMetrics } from './broker-metrics.js'
import type { RecordProducer } from './record-producer.js'

export interface IngestRecord {
  topic: string
  key: string
  value: Buffer
  timestamp: number
  headers?: Record<string, string>
}

export type IngestCallback = (err?: Error) => void

export interface IngestSink {
  write: (record: IngestRecord, cb: IngestCallback) => void
  /** Records written but not yet acknowledged. */
  pending: () => number
  /** False while Kafka sends fail. */
  healthy: () => boolean
  /** Resolves when nothing is pending, or false after `timeoutMs`. */
  drain: (timeoutMs: number) => Promise<boolean>
  /** Stops retrying; every pending callback gets an error (its PUBACK is never sent). */
  close: () => void
}

interface Pending { record: IngestRecord, cb: IngestCallback }

export interface KafkaIngestOptions {
  producer: Pick<RecordProducer, 'send'>
  lingerMs: number
  maxBatch: number
  log: Logger
  metrics: BrokerMetrics
  retryMinMs?: number
  retryMaxMs?: number
}

export class ShutdownError extends Error {
  readonly code = 'BROKER_SHUTTING_DOWN'
  constructor () { super('broker is shutting down; the record was not acknowledged') }
}

export function createKafkaIngest (opts: KafkaIngestOptions): IngestSink {
  const { producer, lingerMs, maxBatch, log, metrics } = opts
  const retryMinMs = opts.retryMinMs ?? 100
  const retryMaxMs = opts.retryMaxMs ?? 2_000
  let queue: Pending[] = []
  let inFlight: Pending[] = []
  let sending = false
  let timer: NodeJS.Timeout | null = null
  let failing = false
  let closed = false
  let drainWaiters: Array<() => void> = []

  const pendingCount = () => queue.length + inFlight.length

  function schedule (): void {
    if (sending || queue.length === 0 || closed) return
    if (queue.length >= maxBatch || lingerMs === 0) {
      if (timer !== null) clearTimeout(timer)
      timer = null
      sending = true
      setImmediate(() => { void flush() })
      return
    }
    timer ??= setTimeout(() => { timer = null; sending = true; void flush() }, lingerMs)
  }

  async function flush (): Promise<void> {
    inFlight = queue.length <= maxBatch ? queue : queue.slice(0, maxBatch)
    queue = queue.length <= maxBatch ? [] : queue.slice(maxBatch)
    const records = inFlight.map(p => p.record)
    let attempt = 0
    while (!closed) {
      const started = performance.now()
      try {
        await producer.send(records)
        metrics.produceSeconds.observe((performance.now() - started) / 1000)
        break
      } catch (err) {
        attempt++
        metrics.produceErrors.inc()
        if (!failing) {
          failing = true
          metrics.backpressure.set(1)
          log.error({ err: (err as Error).message, records: inFlight.length }, 'kafka produce failed: holding PUBACKs and retrying')
        }
        await new Promise(resolve => setTimeout(resolve, Math.min(retryMaxMs, retryMinMs * 2 ** Math.min(attempt, 10))))
      }
    }
    const done = inFlight
    inFlight = []
    if (closed) {
      const err = new ShutdownError()
      for (const p of done) p.cb(err)
    } else {
      if (failing) {
        failing = false
        metrics.backpressure.set(0)
        log.info({ attempts: attempt + 1 }, 'kafka produce recovered')
      }
      metrics.batchRecords.observe(done.length)
      const perTopic = new Map<string, number>()
      for (const r of records) perTopic.set(r.topic, (perTopic.get(r.topic) ?? 0) + 1)
      for (const [topic, n] of perTopic) metrics.recordsAcked.inc({ topic }, n)
      for (const p of done) p.cb()
    }
    sending = false
    if (pendingCount() === 0) {
      const waiters = drainWaiters
      drainWaiters = []
      for (const w of waiters) w()
    }
    schedule()
  }

  return {
    write (record, cb) {
      if (closed) {
        cb(new ShutdownError())
        return
      }
      queue.push({ record, cb })
      schedule()
    },
    pending: pendingCount,
    healthy: () => !failing,
    drain (timeoutMs) {
      if (pendingCount() === 0) return Promise.resolve(true)
      return new Promise(resolve => {
        const t = setTimeout(() => resolve(false), timeoutMs)
        drainWaiters.push(() => { clearTimeout(t); resolve(true) })
      })
    },
    close () {
      closed = true
      if (timer !== null) clearTimeout(timer)
      timer = null
      const err = new ShutdownError()
      const waiting = queue
      queue = []
      for (const p of waiting) p.cb(err)
    }
  }
}
