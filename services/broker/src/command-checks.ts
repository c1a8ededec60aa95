// Which vehicle.commands records go to a car. Kafka is not trusted with the content: what a car
// gets is the stored record (written by the api or an anomaly rule), and a Kafka record that names
// another car, type, params or times is refused. A record that is final (failed when the api could
// not confirm it, expired, answered) or past its expiresAt is not published. One that some broker
// already routed (its `routed` mark, or a status past pending) is not published again: a car gets
// each command once across pod kills and consumer-group rebalances.
import { isDeepStrictEqual } from 'node:util'
import type { Redis } from 'ioredis'
import { checkCommand, FINAL_STATUSES, type Command, type CommandRecord } from '../../shared/src/command-schema.js'
import { commandKey, commandOf, hashToRecord } from '../../shared/src/command-store.js'
import { isVehicleId } from '../../shared/src/topics.js'

/** Set once aedes has routed or stored a command; it outlives the command's TTL by this much. */
const MARK_SLACK_S = 300
export const commandRoutedKey = (commandId: string) => `fleet:command:${commandId}:routed`

export interface StoredCommand { record: CommandRecord | null, routed: boolean }

export interface CommandRecords {
  /** Each command's stored record (null when there is none) and whether it was routed. */
  read: (commandIds: string[]) => Promise<StoredCommand[]>
  /** Marks the commands as routed (by this broker). */
  markRouted: (commands: Command[], brokerId: string, now: number) => Promise<void>
}

export function redisCommandRecords (redis: Pick<Redis, 'pipeline'>): CommandRecords {
  return {
    async read (ids) {
      if (ids.length === 0) return []
      const pipe = redis.pipeline()
      for (const id of ids) pipe.hgetall(commandKey(id)).exists(commandRoutedKey(id))
      const rows = (await pipe.exec()) ?? []
      for (const [err] of rows) if (err) throw err
      return ids.map((_, i) => ({
        record: hashToRecord((rows[2 * i]![1] ?? {}) as Record<string, string>),
        routed: rows[2 * i + 1]![1] === 1
      }))
    },
    async markRouted (commands, brokerId, now) {
      if (commands.length === 0) return
      const pipe = redis.pipeline()
      for (const c of commands) pipe.set(commandRoutedKey(c.commandId), brokerId, 'EX', Math.max(1, Math.ceil((Date.parse(c.expiresAt) - now) / 1000)) + MARK_SLACK_S)
      for (const [err] of (await pipe.exec()) ?? []) if (err) throw err
    }
  }
}

/** The Kafka record says exactly what the stored record says. */
const sameCommand = (c: Command, stored: Command) =>
  c.vehicleId === stored.vehicleId && c.type === stored.type && c.createdAt === stored.createdAt &&
  c.expiresAt === stored.expiresAt && isDeepStrictEqual(c.params, stored.params)

export type SkipReason = 'invalid' | 'no_record' | 'mismatch' | 'final' | 'expired' | 'already_routed'

export interface Sorted {
  /** To publish: the stored commands, in the order of their records. */
  due: Command[]
  /** Routed before by a broker that may have died before recording it (the record has no `sent`): it is recorded again. */
  resend: Command[]
  skipped: Array<{ reason: SkipReason, commandId?: string, detail?: Record<string, unknown> }>
}

/** Parses a slice of vehicle.commands values; null when the record is not a command. */
export function parseCommands (values: Array<Buffer | null>): Array<Command | null> {
  return values.map(value => {
    try {
      const parsed: unknown = JSON.parse(value?.toString('utf8') ?? '')
      return checkCommand.Check(parsed) && isVehicleId(parsed.vehicleId) ? parsed : null
    } catch {
      return null
    }
  })
}

/** Sorts parsed commands by what their stored records say. */
export function sortCommands (commands: Array<Command | null>, stored: StoredCommand[], now: number): Sorted {
  const out: Sorted = { due: [], resend: [], skipped: [] }
  const inSlice = new Set<string>()
  let k = 0
  for (const c of commands) {
    if (c === null) {
      out.skipped.push({ reason: 'invalid' })
      continue
    }
    const { record, routed } = stored[k++]!
    if (record === null) {
      out.skipped.push({ reason: 'no_record', commandId: c.commandId })
      continue
    }
    const s = commandOf(record)
    if (!sameCommand(c, s)) {
      out.skipped.push({ reason: 'mismatch', commandId: c.commandId, detail: { storedVehicleId: s.vehicleId, kafkaVehicleId: c.vehicleId } })
      continue
    }
    // its car may have answered already; the history still needs the step (the projection files it)
    if (routed && !record.history.some(h => h.status === 'sent')) out.resend.push(s)
    if (FINAL_STATUSES.has(record.status)) {
      out.skipped.push({ reason: 'final', commandId: c.commandId })
    } else if (Date.parse(s.expiresAt) <= now) {
      // The commander's sweeper declares it expired; the broker would not deliver it anyway.
      out.skipped.push({ reason: 'expired', commandId: c.commandId })
    } else if (routed || record.status !== 'pending' || inSlice.has(s.commandId)) {
      out.skipped.push({ reason: 'already_routed', commandId: c.commandId })
    } else {
      inSlice.add(s.commandId)
      out.due.push(s)
    }
  }
  return out
}
