// Appends scored rows to each car's bounded history (layout: shared/src/car-history.ts) in the
// Redis writes the scorer already sends per batch. Per car at most one point per `everyMs` of car
// clock; LTRIM only every TRIM_EVERY points (the list may run up to that many over `length`) and
// EXPIRE once a minute, so a point costs one LPUSH argument and a share of two commands.
import { carHistoryKey, encodeHistoryPoint } from '../../shared/src/car-history.js'
import type { ScoredRow } from './batch-scoring.js'
import type { ListWrites } from './redis-batch.js'

export interface HistoryOptions {
  /** Points kept per car; 0 = no history. */
  length: number
  everyMs: number
  ttlS: number
}

const TRIM_EVERY = 8
const EXPIRE_REFRESH_MS = 60_000

export function createHistoryWriter (o: HistoryOptions) {
  /** Per car: car clock of its last point, points since the last trim, when its TTL was set (wall clock). */
  const cars = new Map<string, { lastTs: number, untrimmed: number, expireAt: number }>()
  let sweptAt = 0

  return {
    get cars () { return cars.size },
    /** Adds the batch's points to `pipe` (rows of one car in message order). */
    append (pipe: ListWrites, scored: readonly ScoredRow[], now: number): void {
      if (o.length === 0) return
      let points: Map<string, string[]> | null = null
      for (const s of scored) {
        const t = s.row.telemetry
        let c = cars.get(t.vehicleId)
        if (c === undefined) cars.set(t.vehicleId, c = { lastTs: -Infinity, untrimmed: TRIM_EVERY, expireAt: 0 })
        // A car clock that went back (a restarted car) starts a new spacing.
        else if (t.ts - c.lastTs < o.everyMs && t.ts >= c.lastTs) continue
        c.lastTs = t.ts
        points ??= new Map()
        const entry = encodeHistoryPoint(t, s.score.score, s.score.rowScore, s.anomaly?.topFeatures ?? null)
        const list = points.get(t.vehicleId)
        if (list === undefined) points.set(t.vehicleId, [entry])
        else list.push(entry)
      }
      if (points === null) return
      for (const [id, entries] of points) {
        const key = carHistoryKey(id)
        const c = cars.get(id)!
        pipe.lpush(key, ...entries)
        c.untrimmed += entries.length
        if (c.untrimmed >= TRIM_EVERY) {
          pipe.ltrim(key, 0, o.length - 1)
          c.untrimmed = 0
        }
        if (now - c.expireAt >= EXPIRE_REFRESH_MS) {
          pipe.expire(key, o.ttlS)
          c.expireAt = now
        }
      }
      // Forget cars whose history has expired anyway (memory stays bounded by the live fleet).
      if (now - sweptAt >= EXPIRE_REFRESH_MS) {
        sweptAt = now
        for (const [id, c] of cars) if (now - c.expireAt > o.ttlS * 1_000) cars.delete(id)
      }
    }
  }
}

export type HistoryWriter = ReturnType<typeof createHistoryWriter>
