// What the api knows about cars, read from Redis where the other services keep it:
//   the list      fleet:vehicles:known zset (every car anything made known; vehicle-index.ts)
//   provisioning  fleet:vehicle:{id} hash, fleet:vehicles:revoked set   (provision script)
//   connection    fleet:presence:{id} hash, fleet:online set             (broker pods)
//   latest state  fleet:state:{id} hash, fleet:scores zset, fleet:anomalous set, fleet:anomalies:{id}
//                                                                         (scorer)
// List pages are keyset pages by id (cursor = last id) read straight from the known set, or from
// the online / anomalous set when a filter asks for membership and that set is small.
import type { Redis } from 'ioredis'
import { checkAnomaly, type Anomaly } from '../../shared/src/anomaly-schema.js'
import { ONLINE_VEHICLES_KEY, parsePresence, presenceKey } from '../../shared/src/presence.js'
import { ANOMALOUS_KEY, parseVehicleState, SCORES_KEY, vehicleAnomaliesKey, vehicleStateKey, type VehicleState } from '../../shared/src/vehicle-state.js'
import { REVOKED_VEHICLES_KEY, vehicleKey } from '../../shared/src/vehicle-credentials.js'
import { KNOWN_VEHICLES_KEY } from '../../shared/src/vehicle-index.js'

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

/** Rows one list request reads at most (a filtered page may come back short, with a cursor). */
const SCAN_LIMIT = 5_000
/** An online or anomalous set at most this large is read whole for its filter, sorted here. */
const SMALL_SET = 5_000
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

/** Ids after `after` (all when undefined), ascending, at most `n`: the candidates of a page. */
type IdSource = (after: string | undefined, n: number) => Promise<string[]>

function sortedSource (ids: string[]): IdSource {
  ids.sort()
  return async (after, n) => {
    let lo = 0
    let hi = ids.length
    while (after !== undefined && lo < hi) {
      const mid = (lo + hi) >>> 1
      if (ids[mid]! <= after) lo = mid + 1
      else hi = mid
    }
    return ids.slice(lo, lo + n)
  }
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
  // every score is 0, so BYLEX walks the ids in order from just after the cursor
  const knownSource: IdSource = (after, n) => redis.zrange(KNOWN_VEHICLES_KEY, after === undefined ? '-' : `(${after}`, '+', 'BYLEX', 'LIMIT', 0, n)

  /** The smallest membership set the filters ask for, if small enough to read whole; else the known set. */
  async function sourceFor (q: ListQuery): Promise<IdSource> {
    const sets = [...(q.online === true ? [ONLINE_VEHICLES_KEY] : []), ...(q.anomalous === true ? [ANOMALOUS_KEY] : [])]
    if (sets.length === 0) return knownSource
    const sizes = await Promise.all(sets.map(k => redis.scard(k)))
    const i = sizes.indexOf(Math.min(...sizes))
    return sizes[i]! <= SMALL_SET ? sortedSource(await redis.smembers(sets[i]!)) : knownSource
  }

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
      const next = await sourceFor(q)
      const items: VehicleSummary[] = []
      const chunk = Math.max(q.limit, 50)
      let after = cursor.after
      let read = 0
      let more = true
      while (items.length < q.limit && read < SCAN_LIMIT) {
        const ids = await next(after, chunk)
        let used = 0
        for (const r of await rows(ids)) {
          used++
          const s = summaryOf(r.id, r.presence, r.state, r.provisioning, r.revoked)
          if ((q.online === undefined || s.online === q.online) && (q.anomalous === undefined || s.anomalous === q.anomalous)) items.push(s)
          if (items.length === q.limit) break
        }
        read += used
        if (used > 0) after = ids[used - 1]
        if (used === ids.length && ids.length < chunk) {
          more = false
          break
        }
      }
      // a page that ended on the last id of a full chunk: is there anything after it?
      if (more && after !== undefined && items.length === q.limit) more = (await next(after, 1)).length > 0
      return { items, nextCursor: more && after !== undefined ? encodeCursor({ after }) : null }
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
      const [known, online, anomalous, scored] = await Promise.all([redis.zcard(KNOWN_VEHICLES_KEY), redis.scard(ONLINE_VEHICLES_KEY), redis.scard(ANOMALOUS_KEY), redis.zcard(SCORES_KEY)])
      const at = async (rank: number) => {
        const r = await redis.zrange(SCORES_KEY, rank, rank, 'WITHSCORES')
        return r.length === 2 ? Number(r[1]) : null
      }
      const [p50, p95, max] = scored === 0 ? [null, null, null] : await Promise.all([at(Math.floor((scored - 1) * 0.5)), at(Math.floor((scored - 1) * 0.95)), at(scored - 1)])
      return { known, online, anomalous, scored, scoreP50: p50, scoreP95: p95, scoreMax: max }
    }
  }
}

export type FleetReader = ReturnType<typeof createFleetReader>
