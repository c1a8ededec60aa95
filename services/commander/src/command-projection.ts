// vehicle.command-events → the command records in Redis: the only writer of lifecycle moves. Each
// event goes through command-lifecycle.ts' applyEvent on the record read under WATCH and is written
// in MULTI (retried when another writer got there first), so concurrent commanders (a rebalance)
// cannot lose a move. After a change, a note on fleet:commands:updates wakes the api's waiters.
import type { Consumer, EachBatchPayload } from 'kafkajs'
import type { Redis } from 'ioredis'
import { checkCommandEvent, type CommandEvent } from '../../shared/src/command-schema.js'
import { COMMAND_UPDATES_CHANNEL, commandKey, EXPIRING_COMMANDS_KEY, hashToRecord, recordToHash, type CommandUpdate } from '../../shared/src/command-store.js'
import type { Logger } from '../../shared/src/logger.js'
import { keepForNextConsumer } from '../../shared/src/supervised-consumer.js'
import { KafkaTopics } from '../../shared/src/topics.js'
import { applyEvent, isFinal, type Outcome } from './command-lifecycle.js'
import type { CommanderMetrics } from './commander-metrics.js'

export type ApplyOutcome = Outcome | 'unknown' | 'invalid'

/** Applies one event to its record. `redis` must be a connection of its own (WATCH is per connection). */
export async function applyToRecord (redis: Redis, event: CommandEvent): Promise<ApplyOutcome> {
  const key = commandKey(event.commandId)
  for (let attempt = 0; attempt < 20; attempt++) {
    await redis.watch(key)
    const record = hashToRecord(await redis.hgetall(key))
    if (record === null) {
      await redis.unwatch()
      return 'unknown'
    }
    const t = applyEvent(record, event)
    if (!t.changed) {
      await redis.unwatch()
      return t.outcome
    }
    const tx = redis.multi().hset(key, recordToHash(t.record))
    if (isFinal(t.record.status)) tx.zrem(EXPIRING_COMMANDS_KEY, record.commandId)
    const update: CommandUpdate = { commandId: record.commandId, vehicleId: record.vehicleId, status: t.record.status }
    tx.publish(COMMAND_UPDATES_CHANNEL, JSON.stringify(update))
    if (await tx.exec() !== null) return t.outcome
  }
  throw new Error(`command ${event.commandId}: record kept changing`)
}

export function parseEvent (value: Buffer | null): CommandEvent | null {
  try {
    const v: unknown = JSON.parse(value?.toString('utf8') ?? '')
    return checkCommandEvent.Check(v) ? v : null
  } catch {
    return null
  }
}

/** Subscribes and runs `consumer`; `progress` is called after each event applied. */
export async function runProjection (consumer: Consumer, deps: { redis: Redis, metrics: CommanderMetrics, log: Logger }, progress: () => void = () => {}): Promise<void> {
  // A group with nothing committed for a partition starts at its first record, not its end: events
  // written while no consumer ran (a crash, a first start) are applied, not skipped; applying one
  // again changes nothing (command-lifecycle.ts).
  await consumer.subscribe({ topic: KafkaTopics.commandEvents, fromBeginning: true })
  await consumer.run({
    autoCommit: true,
    eachBatchAutoResolve: false,
    // One partition at a time: the WATCH connection serves one transaction at a time.
    partitionsConsumedConcurrently: 1,
    eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }: EachBatchPayload) => {
      for (const message of batch.messages) {
        if (!isRunning() || isStale()) return
        const event = parseEvent(message.value)
        let outcome: ApplyOutcome
        try {
          outcome = event === null ? 'invalid' : await applyToRecord(deps.redis, event)
        } catch (err) {
          await keepForNextConsumer(commitOffsetsIfNecessary, batch.topic, batch.partition, message.offset)
          throw err
        }
        deps.metrics.events.inc({ status: event?.status ?? 'invalid', outcome })
        if (outcome === 'mismatch') deps.log.warn({ commandId: event?.commandId, vehicleId: event?.vehicleId }, 'command event names another vehicle than its record: ignored')
        resolveOffset(message.offset)
        progress()
        await heartbeat()
      }
    }
  })
}
