// Where the cars are, for the dashboard's map: each scored car's latest position (from the
// telemetry the scorer keeps in fleet:state:{id}), its connection and anomaly state. Riskiest cars
// first (the scores zset) and at most `limit` of them, so one request is bounded however large the
// fleet; cars never scored have no position to show.
import type { Redis } from 'ioredis'
import { ONLINE_VEHICLES_KEY } from '../../shared/src/presence.js'
import { SCORES_KEY, vehicleStateKey } from '../../shared/src/vehicle-state.js'

export interface CarPosition {
  vehicleId: string
  lat: number
  lon: number
  online: boolean
  anomalous: boolean
  score: number | null
  failureMode: string | null
  seenAt: string | null
}

const FIELDS = ['telemetry', 'anomalous', 'failureMode', 'score', 'scoredAt'] as const

function position (telemetry: string | null): { lat: number, lon: number } | null {
  if (telemetry === null) return null
  try {
    const t = JSON.parse(telemetry) as { lat?: unknown, lon?: unknown }
    if (typeof t.lat === 'number' && typeof t.lon === 'number' && Math.abs(t.lat) <= 90 && Math.abs(t.lon) <= 180) return { lat: t.lat, lon: t.lon }
  } catch {}
  return null
}

export function createFleetPositions (redis: Redis) {
  return {
    async list (limit: number): Promise<{ items: CarPosition[], scored: number }> {
      const [ids, scored] = await Promise.all([redis.zrevrange(SCORES_KEY, 0, limit - 1), redis.zcard(SCORES_KEY)])
      if (ids.length === 0) return { items: [], scored }
      const pipe = redis.pipeline()
      for (const id of ids) {
        pipe.hmget(vehicleStateKey(id), ...FIELDS)
        pipe.sismember(ONLINE_VEHICLES_KEY, id)
      }
      const res = (await pipe.exec()) ?? []
      const items: CarPosition[] = []
      ids.forEach((vehicleId, i) => {
        const [err, state] = res[2 * i] ?? [null, null]
        const [err2, online] = res[2 * i + 1] ?? [null, 0]
        if (err !== null || err2 !== null) throw err ?? err2
        const [telemetry, anomalous, failureMode, score, scoredAt] = state as Array<string | null>
        const at = position(telemetry ?? null)
        if (at === null) return
        const n = Number(score)
        items.push({ vehicleId, ...at, online: online === 1, anomalous: anomalous === '1', score: score == null || !Number.isFinite(n) ? null : n, failureMode: failureMode || null, seenAt: scoredAt || null })
      })
      return { items, scored }
    }
  }
}

export type FleetPositions = ReturnType<typeof createFleetPositions>
