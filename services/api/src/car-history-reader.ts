// A car's recent history as the scorer keeps it (shared/src/car-history.ts), oldest first, with
// the features that carried its anomalous points' scores summed up.
import type { Redis } from 'ioredis'
import { carHistoryKey, decodeHistoryPoint, type HistoryPoint } from '../../shared/src/car-history.js'
import { vehicleStateKey } from '../../shared/src/vehicle-state.js'

export interface CarHistory {
  threshold: number | null
  points: HistoryPoint[]
  /** Mean share of each feature over the anomalous points, largest first. */
  features: Array<{ feature: string, share: number }>
}

export function carriedBy (points: HistoryPoint[], top = 6): CarHistory['features'] {
  const sum = new Map<string, number>()
  let n = 0
  for (const p of points) {
    if (p.topFeatures === null) continue
    n++
    for (const f of p.topFeatures) sum.set(f.feature, (sum.get(f.feature) ?? 0) + f.share)
  }
  return [...sum].map(([feature, s]) => ({ feature, share: Math.round(s / n * 1_000) / 1_000 })).sort((a, b) => b.share - a.share).slice(0, top)
}

export function createCarHistoryReader (redis: Redis) {
  return {
    async read (vehicleId: string, points: number): Promise<CarHistory> {
      const [raw, threshold] = await Promise.all([redis.lrange(carHistoryKey(vehicleId), 0, points - 1), redis.hget(vehicleStateKey(vehicleId), 'threshold')])
      const decoded = raw.flatMap(r => {
        const p = decodeHistoryPoint(r)
        return p === null ? [] : [p]
      }).reverse()
      const t = Number(threshold)
      return { threshold: threshold === null || !Number.isFinite(t) ? null : t, points: decoded, features: carriedBy(decoded) }
    }
  }
}

export type CarHistoryReader = ReturnType<typeof createCarHistoryReader>
