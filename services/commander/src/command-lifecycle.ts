// The command lifecycle as a pure, monotonic state machine: what one vehicle.command-events event
// does to a command's record. The record is a projection of that log (command-projection.ts
// applies this function, one event at a time, atomically in Redis), so replaying the log, or
// receiving events twice or out of order, gives the same record.
//
//   pending ─▶ sent ─▶ delivered ─▶ acknowledged | rejected | failed | expired   (final)
//
// - Status only moves forward: an event whose rank is not above the current one (e.g. `delivered`
//   after `acknowledged`, which happens: the car's ack and the broker's PUBACK event can be
//   produced by different pods) is kept in the history, with its time, but the status stays.
// - A final status never changes; a second, different final event (e.g. `expired` racing the
//   car's late `acknowledged`) is ignored: the first one in the log wins.
// - The same status twice is a duplicate (at-least-once delivery everywhere) and changes nothing.
// - An event naming another car than the record is ignored: a car can only speak for itself.
import { FINAL_STATUSES, type CommandEvent, type CommandRecord, type CommandStatus } from '../../shared/src/command-schema.js'

export const STATUS_RANK: Record<CommandStatus, number> = {
  pending: 0,
  sent: 1,
  delivered: 2,
  acknowledged: 3,
  rejected: 3,
  failed: 3,
  expired: 3
}

export type Outcome =
  /** the status moved forward */
  | 'advanced'
  /** an earlier step arrived after a later one: added to the history, status unchanged */
  | 'late'
  /** this status was seen before */
  | 'duplicate'
  /** a different final status after the record was final */
  | 'final'
  /** the event names a different vehicle than the record */
  | 'mismatch'

export interface Transition { outcome: Outcome, record: CommandRecord, changed: boolean }

export const isFinal = (s: CommandStatus) => FINAL_STATUSES.has(s)

export function applyEvent (record: CommandRecord, event: CommandEvent): Transition {
  if (event.vehicleId !== record.vehicleId || event.commandId !== record.commandId) return { outcome: 'mismatch', record, changed: false }
  if (record.history.some(step => step.status === event.status)) return { outcome: 'duplicate', record, changed: false }
  if (isFinal(record.status) && isFinal(event.status)) return { outcome: 'final', record, changed: false }

  const step = { status: event.status, at: event.at, source: event.source, ...(event.detail === undefined ? {} : { detail: event.detail }) }
  const history = [...record.history, step].sort((a, b) => STATUS_RANK[a.status] - STATUS_RANK[b.status] || Date.parse(a.at) - Date.parse(b.at))
  const updatedAt = Date.parse(event.at) > Date.parse(record.updatedAt) ? event.at : record.updatedAt
  if (STATUS_RANK[event.status] > STATUS_RANK[record.status]) {
    const detail = event.detail ?? record.detail
    return { outcome: 'advanced', changed: true, record: { ...record, status: event.status, updatedAt, history, ...(detail === undefined ? {} : { detail }) } }
  }
  return { outcome: 'late', changed: true, record: { ...record, updatedAt, history } }
}

/**
 * Whether the commander should declare a command expired now: its TTL (plus a grace for events
 * still on their way) has passed and it is not final. A delivered command the car never answered
 * expires too; its detail says it was delivered.
 */
export function expiryDue (record: CommandRecord, now: number, graceMs: number): boolean {
  return !isFinal(record.status) && Date.parse(record.expiresAt) + graceMs <= now
}

export function expiryDetail (record: CommandRecord): string {
  return record.status === 'delivered'
    ? 'delivered, but the car did not answer before the command expired'
    : 'not delivered before the command expired; the broker will not deliver it'
}
