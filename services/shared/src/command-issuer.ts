// Issuing a command: the one path by which a command enters the system (the api's POST and the
// commander's anomaly rule both use it). Claims the Idempotency-Key, writes the pending record,
// then produces the command to vehicle.commands (key = vehicleId) and waits for Kafka's
// acknowledgement, then its `pending` event to vehicle.command-events. When Kafka refuses, the record
// becomes `failed` and the key is released, so the caller may retry with the same key.
// The wait for Kafka is bounded (queueTimeoutMs): past it the caller hears `accepted` (the record
// is pending and may still be queued) and the outcome lands in the record when Kafka answers:
// acknowledged, it stays pending and goes on; refused, it becomes failed, unless the commander
// has moved it on already (a timed-out write that Kafka did take).
import { createHash, randomUUID } from 'node:crypto'
import { Value } from '@sinclair/typebox/value'
import type { Producer } from 'kafkajs'
import { COMMAND_VARIANTS, type CommandEvent, type CommandRecord, type CommandRequest } from './command-schema.js'
import { commandOf, type CommandStore } from './command-store.js'
import { KafkaTopics } from './topics.js'

export type IssueResult =
  | { kind: 'created', record: CommandRecord }
  /** The same Idempotency-Key and the same request again: the first command, not a new one. */
  | { kind: 'replayed', record: CommandRecord }
  /** The Idempotency-Key was used for a different request. */
  | { kind: 'key_reused', commandId: string }
  /** Kafka did not take the command; the record says failed. `error` is what the producer said. */
  | { kind: 'unavailable', record: CommandRecord, detail: string, error: Error }
  /** Kafka did not answer within queueTimeoutMs: pending, still being queued; the record will tell. */
  | { kind: 'accepted', record: CommandRecord }

export interface IssueRequest {
  vehicleId: string
  request: CommandRequest
  ttlS: number
  /** Who asked: operator key name, JWT subject, or rule:<name>. */
  requestedBy: string
  /** The service issuing it, as the history and the `pending` event name it (default api). */
  source?: string
  /** Idempotency-Key and the space it is unique in (e.g. the principal). */
  idempotency?: { scope: string, key: string }
}

/** JSON with sorted keys, so equal requests have equal fingerprints whatever their key order. */
function stableJson (v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v).sort().map(k => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`).join(',')}}`
  }
  return JSON.stringify(v)
}

/** The request's params with the schema's defaults filled in (what the car receives). */
export function normalisedParams (request: CommandRequest): Record<string, unknown> {
  const variant = COMMAND_VARIANTS.find(v => v.properties.type.const === request.type)
  const given = structuredClone((request as { params?: Record<string, unknown> }).params ?? {})
  if (variant === undefined) return given
  return Value.Default(variant.properties.params, given) as Record<string, unknown>
}

export interface CommandIssuer {
  issue: (req: IssueRequest) => Promise<IssueResult>
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

export interface CommandIssuerDeps {
  store: CommandStore
  producer: Pick<Producer, 'send'>
  /** Longest wait for Kafka's acknowledgement before answering `accepted` (default 5 s). */
  queueTimeoutMs?: number
  /** Called with what happened to a command once Kafka answered after the caller had been told `accepted`. */
  onLateOutcome?: (outcome: { commandId: string, queued: boolean, detail?: string }) => void
  now?: () => number
  newId?: () => string
}

export function createCommandIssuer (deps: CommandIssuerDeps): CommandIssuer {
  const now = deps.now ?? Date.now
  const queueTimeoutMs = deps.queueTimeoutMs ?? 5_000
  const newId = deps.newId ?? randomUUID
  const { store, producer } = deps

  /** The command an Idempotency-Key already names (its record is written right after the claim). */
  async function claimed (commandId: string): Promise<CommandRecord | null> {
    for (let i = 0; i < 20; i++) {
      const r = await store.get(commandId)
      if (r !== null) return r
      await sleep(50)
    }
    return null
  }

  return {
    async issue (req) {
      const params = normalisedParams(req.request)
      const commandId = newId()
      if (req.idempotency !== undefined) {
        const fingerprint = createHash('sha256').update(stableJson({ vehicleId: req.vehicleId, type: req.request.type, params, ttlS: req.ttlS })).digest('base64url')
        for (let attempt = 0; ; attempt++) {
          const claim = await store.claimIdempotency(req.idempotency.scope, req.idempotency.key, { commandId, fingerprint })
          if (claim.claimed) break
          if (claim.fingerprint !== fingerprint) return { kind: 'key_reused', commandId: claim.commandId }
          const first = await claimed(claim.commandId)
          if (first !== null) return { kind: 'replayed', record: first }
          // The claim's record never appeared (its writer died): take the key over once.
          if (attempt > 0) throw new Error('idempotency claim without a record')
          await store.releaseIdempotency(req.idempotency.scope, req.idempotency.key)
        }
      }
      const t = now()
      const source = req.source ?? 'api'
      const createdAt = new Date(t).toISOString()
      const record: CommandRecord = {
        commandId,
        vehicleId: req.vehicleId,
        type: req.request.type,
        params,
        status: 'pending',
        createdAt,
        expiresAt: new Date(t + req.ttlS * 1000).toISOString(),
        updatedAt: createdAt,
        requestedBy: req.requestedBy,
        history: [{ status: 'pending', at: createdAt, source }]
      }
      await store.create(record)
      const queued = producer.send({ topic: KafkaTopics.commands, acks: -1, messages: [{ key: req.vehicleId, value: JSON.stringify(commandOf(record)), timestamp: String(t) }] })
        .then(() => null, (err: Error) => err)
      const settle = async (err: Error | null): Promise<IssueResult> => {
        if (err !== null) {
          // Possibly written after all (a timeout): the commander publishes only commands whose
          // record is not final, so the failed record also stops it.
          const detail = 'not queued: Kafka did not acknowledge the command'
          const failed = await store.failUnqueued(record, detail, new Date(now()).toISOString())
          if (failed.status !== 'failed') return { kind: 'created', record: failed }
          if (req.idempotency !== undefined) await store.releaseIdempotency(req.idempotency.scope, req.idempotency.key).catch(() => {})
          return { kind: 'unavailable', record: failed, detail: `${detail} (${err.message})`, error: err }
        }
        // The audit trail's first line; the record already says pending, so a loss here costs
        // nothing, and the answer does not wait for it (a slow Kafka would hold it again; the
        // projection files a late pending step in the history where it belongs).
        const pending: CommandEvent = { commandId, vehicleId: req.vehicleId, status: 'pending', at: createdAt, source }
        void producer.send({ topic: KafkaTopics.commandEvents, acks: -1, messages: [{ key: req.vehicleId, value: JSON.stringify(pending), timestamp: String(t) }] }).catch(() => {})
        return { kind: 'created', record }
      }
      let timer: NodeJS.Timeout | undefined
      const timedOut = new Promise<'timeout'>(resolve => { timer = setTimeout(() => resolve('timeout'), queueTimeoutMs) })
      const first = await Promise.race([queued, timedOut])
      clearTimeout(timer)
      if (first !== 'timeout') return await settle(first)
      void queued.then(settle).then(
        r => deps.onLateOutcome?.({ commandId, queued: r.kind === 'created', ...(r.kind === 'unavailable' ? { detail: r.detail } : {}) }),
        (err: Error) => deps.onLateOutcome?.({ commandId, queued: false, detail: `the outcome could not be recorded: ${err.message}` })
      )
      return { kind: 'accepted', record }
    }
  }
}
