// Declares commands expired: every interval, the commands whose expiresAt + grace has passed and
// whose record is not final get an `expired` event on vehicle.command-events (the projection then
// moves the record, unless the car's answer got into the log first). A command is claimed by
// removing it from fleet:commands:expiring, so two commanders do not both expire it; when the event
// cannot be written the claim is put back.
import type { Redis } from 'ioredis'
import type { Producer } from 'kafkajs'
import type { CommandEvent } from '../../shared/src/command-schema.js'
import { EXPIRING_COMMANDS_KEY, type CommandStore } from '../../shared/src/command-store.js'
import type { Logger } from '../../shared/src/logger.js'
import { KafkaTopics } from '../../shared/src/topics.js'
import { expiryDetail, expiryDue, isFinal } from './command-lifecycle.js'
import type { CommanderMetrics } from './commander-metrics.js'

export interface SweeperDeps {
  redis: Redis
  store: CommandStore
  producer: Pick<Producer, 'send'>
  metrics: CommanderMetrics
  log: Logger
  graceMs: number
  now?: () => number
}

const BATCH = 500

/** One sweep; returns how many commands it declared expired. */
export async function sweepExpired (deps: SweeperDeps): Promise<number> {
  const now = deps.now ?? Date.now
  const t = now()
  const ids = await deps.redis.zrangebyscore(EXPIRING_COMMANDS_KEY, '-inf', t - deps.graceMs, 'LIMIT', 0, BATCH)
  const events: CommandEvent[] = []
  const claimed: Array<{ id: string, expiresAt: number }> = []
  for (const id of ids) {
    const record = await deps.store.get(id)
    if (record === null || isFinal(record.status)) {
      await deps.redis.zrem(EXPIRING_COMMANDS_KEY, id)
      continue
    }
    if (!expiryDue(record, t, deps.graceMs)) continue
    if (await deps.redis.zrem(EXPIRING_COMMANDS_KEY, id) !== 1) continue // another commander took it
    claimed.push({ id, expiresAt: Date.parse(record.expiresAt) })
    deps.metrics.expired.inc({ was: record.status })
    events.push({ commandId: id, vehicleId: record.vehicleId, status: 'expired', at: new Date(t).toISOString(), source: 'commander', detail: expiryDetail(record) })
  }
  if (events.length === 0) return 0
  try {
    await deps.producer.send({ topic: KafkaTopics.commandEvents, acks: -1, messages: events.map(e => ({ key: e.vehicleId, value: JSON.stringify(e) })) })
  } catch (err) {
    const pipe = deps.redis.pipeline()
    for (const c of claimed) pipe.zadd(EXPIRING_COMMANDS_KEY, c.expiresAt, c.id)
    await pipe.exec()
    throw err
  }
  return events.length
}

export function startSweeper (deps: SweeperDeps & { intervalMs: number }): { stop: () => Promise<void> } {
  let running: Promise<unknown> | null = null
  let stopped = false
  const timer = setInterval(() => {
    if (running !== null || stopped) return // a slow sweep is not stacked on
    running = sweepExpired(deps)
      .catch(err => deps.log.warn({ err: (err as Error).message }, 'expiry sweep failed; next sweep retries'))
      .finally(() => { running = null })
  }, deps.intervalMs)
  return {
    async stop () {
      stopped = true
      clearInterval(timer)
      await running
    }
  }
}
