// The per-car list of recent refusals (shared/src/rejections.ts), written off the hot path: a
// refusal is put in memory (a Map lookup and a push) and every `flushMs` the buffered ones go to
// Redis in one pipeline, three commands per car (LPUSH, LTRIM, EXPIRE). A car flooding invalid
// messages costs at most `perCarPerFlush` entries and three commands per flush; the rest of its
// refusals in that window are only counted (the last entry's `dropped`). At most `maxCars` cars
// per flush are buffered, so memory and Redis load are bounded whatever cars send. Best effort:
// the DLQ record in Kafka is the durable one, so a failed write is counted and logged, not retried.
import type { Redis } from 'ioredis'
import { Counter, type Registry } from 'prom-client'
import type { Logger } from '../../shared/src/logger.js'
import { REJECTION_DETAIL_CHARS, REJECTIONS_KEPT, REJECTIONS_TTL_S, rejectionsKey, type Rejection } from '../../shared/src/rejections.js'

export interface RejectionLogOptions {
  redis: Pick<Redis, 'pipeline'>
  /** Written into each entry, e.g. broker:<id>. */
  source: string
  registry: Registry
  log: Logger
  flushMs?: number
  perCarPerFlush?: number
  maxCars?: number
}

export interface RejectionLog {
  add: (vehicleId: string, r: { topic: string, reason: string, detail: string, receivedAt: number }) => void
  /** Writes what is buffered now (the timer calls it; tests and stop may too). */
  flush: () => Promise<void>
  close: () => Promise<void>
}

export function createRejectionLog (opts: RejectionLogOptions): RejectionLog {
  const { redis, source, log } = opts
  const flushMs = opts.flushMs ?? 1_000
  const perCar = Math.min(opts.perCarPerFlush ?? 5, REJECTIONS_KEPT)
  const maxCars = opts.maxCars ?? 1_000
  const counted = new Counter({ name: 'fleet_broker_rejections_logged_total', help: 'refusals for the per-car rejection list (GET /v1/vehicles/{id}/rejections): written, dropped by the flood guard, or failed to write', labelNames: ['result'], registers: [opts.registry] })
  const written = counted.labels('written')
  const dropped = counted.labels('dropped')
  const failed = counted.labels('failed')
  let pending = new Map<string, Rejection[]>()
  // counted here and added to the metric once per flush: a prom-client inc per refusal would be
  // most of a flood's cost
  let droppedSince = 0
  let timer: NodeJS.Timeout | null = null
  let closed = false

  async function flush (): Promise<void> {
    timer = null
    if (droppedSince > 0) {
      dropped.inc(droppedSince)
      droppedSince = 0
    }
    if (pending.size === 0) return
    const due = pending
    pending = new Map()
    const pipe = redis.pipeline()
    let entries = 0
    for (const [vehicleId, items] of due) {
      const key = rejectionsKey(vehicleId)
      // LPUSH puts each value at the head in turn: oldest first leaves the newest at index 0
      pipe.lpush(key, ...items.map(r => JSON.stringify(r))).ltrim(key, 0, REJECTIONS_KEPT - 1).expire(key, REJECTIONS_TTL_S)
      entries += items.length
    }
    try {
      const results = await pipe.exec()
      const err = results?.find(([e]) => e !== null)?.[0]
      if (err != null) throw err
      written.inc(entries)
    } catch (err) {
      failed.inc(entries)
      log.warn({ err: (err as Error).message, cars: due.size, entries }, 'rejection list not written (the DLQ has the records)')
    }
  }

  return {
    add (vehicleId, r) {
      let items = pending.get(vehicleId)
      if (items === undefined) {
        if (closed) {
          dropped.inc()
          return
        }
        if (pending.size >= maxCars) {
          droppedSince++ // a timer is set: the map is not empty
          return
        }
        pending.set(vehicleId, items = [])
      }
      if (items.length >= perCar) {
        items[items.length - 1]!.dropped++
        droppedSince++
        return
      }
      items.push({ at: new Date(r.receivedAt).toISOString(), topic: r.topic, reason: r.reason, detail: r.detail.slice(0, REJECTION_DETAIL_CHARS), source, dropped: 0 })
      if (timer === null) {
        timer = setTimeout(() => { void flush() }, flushMs)
        timer.unref()
      }
    },
    flush: async () => {
      if (timer !== null) clearTimeout(timer)
      await flush()
    },
    async close () {
      closed = true
      if (timer !== null) clearTimeout(timer)
      await flush()
    }
  }
}
