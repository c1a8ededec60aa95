// Where command records live in Redis. The api creates a record (pending); from then on only the
// commander's projection of vehicle.command-events moves it (services/commander/src/
// command-lifecycle.ts decides, command-projection.ts writes). Both read through this module:
//   fleet:command:{commandId}           hash, the record (fields of CommandRecord; params and
//                                       history as JSON); expires `retentionS` after expiresAt
//   fleet:commands:vehicle:{vehicleId}  zset commandId → createdAt ms: a car's commands, trimmed
//   fleet:commands:expiring             zset commandId → expiresAt ms while the record is not final
//   fleet:commands:idem:{sha256}        Idempotency-Key claim {commandId, fingerprint}, 24 h
//   channel fleet:commands:updates      {commandId, vehicleId, status} after every change
import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'
import { COMMAND_STATUSES, type Command, type CommandRecord, type CommandStatus, type CommandStep } from './command-schema.js'

export const commandKey = (commandId: string) => `fleet:command:${commandId}`
export const vehicleCommandsKey = (vehicleId: string) => `fleet:commands:vehicle:${vehicleId}`
export const EXPIRING_COMMANDS_KEY = 'fleet:commands:expiring'
export const idempotencyKey = (digest: string) => `fleet:commands:idem:${digest}`
export const COMMAND_UPDATES_CHANNEL = 'fleet:commands:updates'

export interface CommandUpdate { commandId: string, vehicleId: string, status: CommandStatus }

/** Commands kept per car in its list (older ones drop out of the list; their records expire). */
export const MAX_COMMANDS_PER_VEHICLE = 500
export const IDEMPOTENCY_TTL_S = 24 * 3600

export function recordToHash (r: CommandRecord): Record<string, string> {
  const h: Record<string, string> = {
    commandId: r.commandId,
    vehicleId: r.vehicleId,
    type: r.type,
    params: JSON.stringify(r.params),
    status: r.status,
    createdAt: r.createdAt,
    expiresAt: r.expiresAt,
    updatedAt: r.updatedAt,
    requestedBy: r.requestedBy,
    history: JSON.stringify(r.history)
  }
  if (r.detail !== undefined) h.detail = r.detail
  return h
}

const statuses = new Set<string>(COMMAND_STATUSES)

/** The record in a hash, or null when the hash is missing or not a command record. */
export function hashToRecord (h: Record<string, string>): CommandRecord | null {
  if (h.commandId === undefined || h.vehicleId === undefined || h.status === undefined || !statuses.has(h.status)) return null
  let params: Record<string, unknown> = {}
  let history: CommandStep[] = []
  try {
    params = JSON.parse(h.params ?? '{}') as Record<string, unknown>
    history = JSON.parse(h.history ?? '[]') as CommandStep[]
  } catch {
    return null
  }
  return {
    commandId: h.commandId,
    vehicleId: h.vehicleId,
    type: h.type ?? '',
    params,
    status: h.status as CommandStatus,
    createdAt: h.createdAt ?? '',
    expiresAt: h.expiresAt ?? '',
    updatedAt: h.updatedAt ?? h.createdAt ?? '',
    requestedBy: h.requestedBy ?? '',
    ...(h.detail === undefined ? {} : { detail: h.detail }),
    history
  }
}

/** What travels on vehicle.commands and to the car for this record. */
export function commandOf (r: CommandRecord): Command {
  return { commandId: r.commandId, vehicleId: r.vehicleId, type: r.type, params: r.params, createdAt: r.createdAt, expiresAt: r.expiresAt }
}

export interface CommandStore {
  /** Writes a new record and indexes it (per car, and by expiry). */
  create: (record: CommandRecord) => Promise<void>
  get: (commandId: string) => Promise<CommandRecord | null>
  /** A car's commands, newest first; `before` = createdAt ms of the last one seen (paging). */
  listForVehicle: (vehicleId: string, opts: { limit: number, before?: number }) => Promise<{ items: CommandRecord[], next: number | null }>
  /**
   * Marks a record failed when Kafka did not take its command, if it is still pending; a record
   * the commander has moved on (its command was queued after all) is returned as it is.
   */
  failUnqueued: (record: CommandRecord, detail: string, at: string) => Promise<CommandRecord>
  /** Claims an Idempotency-Key for one request; when taken, says by which command and request. */
  claimIdempotency: (scope: string, key: string, claim: { commandId: string, fingerprint: string }) => Promise<{ claimed: true } | { claimed: false, commandId: string, fingerprint: string }>
  releaseIdempotency: (scope: string, key: string) => Promise<void>
}

// KEYS: record, expiring index; ARGV: commandId, updates channel, update, then field/value pairs.
const FAIL_IF_PENDING = `
if redis.call('HGET', KEYS[1], 'status') ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1`

const idemDigest = (scope: string, key: string) => createHash('sha256').update(scope).update('\0').update(key).digest('hex')

export function createCommandStore (redis: Redis, opts: { retentionS: number }): CommandStore {
  const expireAt = (r: CommandRecord) => Math.ceil(Date.parse(r.expiresAt) / 1000) + opts.retentionS
  return {
    async create (r) {
      const list = vehicleCommandsKey(r.vehicleId)
      await redis.multi()
        .hset(commandKey(r.commandId), recordToHash(r))
        .expireat(commandKey(r.commandId), expireAt(r))
        .zadd(list, Date.parse(r.createdAt), r.commandId)
        .zremrangebyrank(list, 0, -(MAX_COMMANDS_PER_VEHICLE + 1))
        .expireat(list, expireAt(r))
        .zadd(EXPIRING_COMMANDS_KEY, Date.parse(r.expiresAt), r.commandId)
        .exec()
    },
    async get (commandId) {
      return hashToRecord(await redis.hgetall(commandKey(commandId)))
    },
    async listForVehicle (vehicleId, { limit, before }) {
      const max = before === undefined ? '+inf' : `(${before}`
      const ids = await redis.zrevrangebyscore(vehicleCommandsKey(vehicleId), max, '-inf', 'WITHSCORES', 'LIMIT', 0, limit + 1)
      const pairs: Array<[string, number]> = []
      for (let i = 0; i < ids.length; i += 2) pairs.push([ids[i]!, Number(ids[i + 1])])
      const page = pairs.slice(0, limit)
      const pipe = redis.pipeline()
      for (const [id] of page) pipe.hgetall(commandKey(id))
      const rows = (await pipe.exec()) ?? []
      const items = rows.map(([, h]) => hashToRecord((h ?? {}) as Record<string, string>)).filter((r): r is CommandRecord => r !== null)
      const next = pairs.length > limit ? page[page.length - 1]![1] : null
      return { items, next }
    },
    async failUnqueued (r, detail, at) {
      const failed: CommandRecord = { ...r, status: 'failed', detail, updatedAt: at, history: [...r.history, { status: 'failed', at, source: 'api', detail }] }
      const fields = Object.entries(recordToHash(failed)).flat()
      const update = JSON.stringify({ commandId: r.commandId, vehicleId: r.vehicleId, status: 'failed' } satisfies CommandUpdate)
      const written = await redis.eval(FAIL_IF_PENDING, 2, commandKey(r.commandId), EXPIRING_COMMANDS_KEY, r.commandId, COMMAND_UPDATES_CHANNEL, update, ...fields) as number
      if (written === 1) return failed
      return hashToRecord(await redis.hgetall(commandKey(r.commandId))) ?? failed
    },
    async claimIdempotency (scope, key, claim) {
      const k = idempotencyKey(idemDigest(scope, key))
      const ok = await redis.set(k, JSON.stringify(claim), 'EX', IDEMPOTENCY_TTL_S, 'NX')
      if (ok === 'OK') return { claimed: true }
      const held = JSON.parse((await redis.get(k)) ?? '{}') as { commandId?: string, fingerprint?: string }
      return { claimed: false, commandId: held.commandId ?? '', fingerprint: held.fingerprint ?? '' }
    },
    async releaseIdempotency (scope, key) {
      await redis.del(idempotencyKey(idemDigest(scope, key)))
    }
  }
}
