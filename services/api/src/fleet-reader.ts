// What the api knows about cars, read from Redis where the other services keep it:
//   provisioning  fleet:vehicle:{id} hash, fleet:vehicles:revoked set   (provision script)
//   connection    fleet:presence:{id} hash, fleet:online set             (broker pods)
//   latest state  fleet:state:{id} hash, fleet:scores zset, fleet:anomalous set, fleet:anomalies:{id}
//                                                                         (scorer)
// There is no single set of all cars, so the list of known ids is rebuilt every few seconds from
// the online set, the scores zset and a SCAN of the provisioning and presence hashes, and kept
// sorted in memory; list pages are keyset pages over it (cursor = last id).
import type { Redis } from 'ioredis'
import { checkAnomaly, type Anomaly } from '../../shared/src/anomaly-schema.js'
import { ONLINE_VEHICLES_KEY, parsePresence, presenceKey } from '../../shared/src/presence.js'
import { ANOMALOUS_KEY, parseVehicleState, SCORES_KEY, vehicleAnomaliesKey, vehicleStateKey, type VehicleState } from '../../shared/src/vehicle-state.js'
import { REVOKED_VEHICLES_KEY, vehicleKey } from '../../shared/src/vehicle-credentials.js'

export interface VehicleSummary {
  vehicleId: string
  online: boolean
  connectedSince: string | null
  provisioned: boolean
  revoked: boolean
  lastSeenAt: string | null
  score: number | null
  threshold: number | null
  anomalous: boolean
  failureMode: string | null
}

export interface VehicleDetail extends VehicleSummary {
  brokerId: string | null
  provisionedAt: string | null
  revokedAt: string | null
  telemetry: Record<string, unknown> | null
  seq: number | null
  rowScore: number | null
  modelVersion: string | null
  scoredAt: string | null
  recentAnomalies: Anomaly[]
}

export interface ListQuery { limit: number, cursor?: string, online?: boolean, anomalous?: boolean, sort: 'id' | 'score' }

const SCAN_LIMIT = 5_000
// The scorer's state hash also holds its opaque per-car features; read only what we show.
const STATE_FIELDS = ['telemetry', 'seq', 'ts', 'score', 'rowScore', 'threshold', 'anomalous', 'failureMode', 'modelVersion', 'scoredAt'] as const
const stateHash = (values: Array<string | null>) => Object.fromEntries(STATE_FIELDS.flatMap((f, i) => values[i] == null ? [] : [[f, values[i]!]])) as Record<string, string>

function encodeCursor (c: { after?: string, offset?: number }): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url')
}
export function decodeCursor (raw: string): { after?: string, offset?: number } | null {
  try {
    const c = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as { after?: unknown, offset?: unknown }
    if (typeof c.after === 'string' && c.after.length <= 64) return { after: c.after }
    if (typeof c.offset === 'number' && Number.isInteger(c.offset) && c.offset >= 0) return { offset: c.offset }
  } catch {}
  return null
}

async function scanKeys (redis: Redis, match: string, prefix: string, into: Set<string>): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 1000)
    for (const k of keys) into.add(k.slice(prefix.length))
    cursor = next
  } while (cursor !== '0')
}

function summaryOf (vehicleId: string, presence: Record<string, string>, state: VehicleState | null, provisioning: Record<string, string>, revoked: boolean): VehicleSummary {
  const p = parsePresence(presence)
  return {
    vehicleId,
    online: p?.online ?? false,
    connectedSince: p?.online === true ? p.since : null,
    provisioned: provisioning.provisionedAt !== undefined,
    revoked,
    lastSeenAt: state?.scoredAt || p?.since || null,
    score: state === null || !Number.isFinite(state.score) ? null : state.score,
    threshold: state === null || !Number.isFinite(state.threshold) ? null : state.threshold,
    anomalous: state?.anomalous ?? false,
    failureMode: state?.failureMode ?? null
  }
}

export function createFleetReader (redis: Redis) {
  let index: string[] = []
  let indexedAt = 0

  async function rows (ids: string[]) {
    if (ids.length === 0) return []
    const pipe = redis.pipeline()
    for (const id of ids) {
      pipe.hgetall(presenceKey(id))
      pipe.hmget(vehicleStateKey(id), ...STATE_FIELDS)
      pipe.hgetall(vehicleKey(id))
      pipe.sismember(REVOKED_VEHICLES_KEY, id)
    }
    const res = (await pipe.exec()) ?? []
    return ids.map((id, i) => {
      const get = (j: number) => {
        const [err, v] = res[i * 4 + j] ?? [null, null]
        if (err) throw err
        return v
      }
      const state = parseVehicleState(stateHash(get(1) as Array<string | null>))
      return { id, presence: get(0) as Record<string, string>, state, provisioning: get(2) as Record<string, string>, revoked: get(3) === 1 }
    })
  }

  return {
    /** Rebuilds the sorted list of known ids. */
    async refreshIndex (): Promise<number> {
      const ids = new Set<string>(await redis.smembers(ONLINE_VEHICLES_KEY))
      for (const id of await redis.zrange(SCORES_KEY, 0, -1)) ids.add(id)
      await scanKeys(redis, 'fleet:vehicle:*', 'fleet:vehicle:', ids)
      await scanKeys(redis, 'fleet:presence:*', 'fleet:presence:', ids)
      index = [...ids].sort()
      indexedAt = Date.now()
      return index.length
    },
    known: () => index.length,
    indexedAt: () => indexedAt,

    /** Whether anything knows this car (provisioned, ever connected, or scored). */
    async exists (vehicleId: string): Promise<boolean> {
      const [a, b, c] = await Promise.all([redis.exists(vehicleKey(vehicleId)), redis.exists(presenceKey(vehicleId)), redis.exists(vehicleStateKey(vehicleId))])
      return a + b + c > 0
    },
    async isRevoked (vehicleId: string): Promise<boolean> {
      return await redis.sismember(REVOKED_VEHICLES_KEY, vehicleId) === 1
    },

    async list (q: ListQuery): Promise<{ items: VehicleSummary[], nextCursor: string | null }> {
      const cursor = q.cursor === undefined ? {} : decodeCursor(q.cursor) ?? {}
      if (q.sort === 'score') {
        // Riskiest first, straight from the scorer's zset (cars never scored are not in it).
        const offset = cursor.offset ?? 0
        const items: VehicleSummary[] = []
        let at = offset
        while (items.length < q.limit && at - offset < SCAN_LIMIT) {
          const ids = await redis.zrevrange(SCORES_KEY, at, at + q.limit * 2 - 1)
          if (ids.length === 0) return { items, nextCursor: null }
          for (const r of await rows(ids)) {
            at++
            const s = summaryOf(r.id, r.presence, r.state, r.provisioning, r.revoked)
            if ((q.online === undefined || s.online === q.online) && (q.anomalous === undefined || s.anomalous === q.anomalous)) items.push(s)
            if (items.length === q.limit) break
          }
        }
        return { items, nextCursor: encodeCursor({ offset: at }) }
      }
      // Narrow to the live sets when the filter asks for membership; else the index.
      let candidates = index
      if (q.online === true) candidates = (await redis.smembers(ONLINE_VEHICLES_KEY)).sort()
      if (q.anomalous === true) {
        const anomalous = new Set(await redis.smembers(ANOMALOUS_KEY))
        candidates = (q.online === true ? candidates : [...anomalous].sort()).filter(id => anomalous.has(id))
      }
      let start = 0
      if (cursor.after !== undefined) {
        const after = cursor.after
        let lo = 0
        let hi = candidates.length
        while (lo < hi) {
          const mid = (lo + hi) >>> 1
          if (candidates[mid]! <= after) lo = mid + 1
          else hi = mid
        }
        start = lo
      }
      const items: VehicleSummary[] = []
      let i = start
      while (items.length < q.limit && i < candidates.length && i - start < SCAN_LIMIT) {
        const chunk = candidates.slice(i, i + Math.max(q.limit, 50))
        for (const r of await rows(chunk)) {
          i++
          const s = summaryOf(r.id, r.presence, r.state, r.provisioning, r.revoked)
          if ((q.online === undefined || s.online === q.online) && (q.anomalous === undefined || s.anomalous === q.anomalous)) items.push(s)
          if (items.length === q.limit) break
        }
      }
      return { items, nextCursor: i < candidates.length ? encodeCursor({ after: candidates[i - 1]! }) : null }
    },

    async detail (vehicleId: string): Promise<VehicleDetail | null> {
      const [r] = await rows([vehicleId])
      if (r === undefined) return null
      if (Object.keys(r.presence).length === 0 && r.state === null && Object.keys(r.provisioning).length === 0) return null
      const p = parsePresence(r.presence)
      let telemetry: Record<string, unknown> | null = null
      try {
        telemetry = r.state === null ? null : JSON.parse(r.state.telemetry) as Record<string, unknown>
      } catch {}
      const recentAnomalies = (await redis.lrange(vehicleAnomaliesKey(vehicleId), 0, 9)).flatMap(s => {
        try {
          const a: unknown = JSON.parse(s)
          return checkAnomaly.Check(a) ? [a] : []
        } catch {
          return []
        }
      })
      return {
        ...summaryOf(vehicleId, r.presence, r.state, r.provisioning, r.revoked),
        brokerId: p?.brokerId || null,
        provisionedAt: r.provisioning.provisionedAt ?? null,
        revokedAt: r.provisioning.revokedAt ?? null,
        telemetry,
        seq: r.state?.seq ?? null,
        rowScore: r.state?.rowScore ?? null,
        modelVersion: r.state?.modelVersion ?? null,
        scoredAt: r.state?.scoredAt ?? null,
        recentAnomalies
      }
    },

    /** Fleet-wide figures the summary samples. */
    async counts () {
      const [online, anomalous, scored] = await Promise.all([redis.scard(ONLINE_VEHICLES_KEY), redis.scard(ANOMALOUS_KEY), redis.zcard(SCORES_KEY)])
      const at = async (rank: number) => {
        const r = await redis.zrange(SCORES_KEY, rank, rank, 'WITHSCORES')
        return r.length === 2 ? Number(r[1]) : null
      }
      const [p50, p95, max] = scored === 0 ? [null, null, null] : await Promise.all([at(Math.floor((scored - 1) * 0.5)), at(Math.floor((scored - 1) * 0.95)), at(scored - 1)])
      return { online, anomalous, scored, scoreP50: p50, scoreP95: p95, scoreMax: max }
    }
  }
}

export type FleetReader = ReturnType<typeof createFleetReader>
