// vehicle.commands → the car. Each record is published to vehicles/{id}/commands at QoS 1
// through the broker; when the broker PUBACKed it (it is then queued or in flight to the car) a
// `sent` event goes to vehicle.command-events. A command whose record is already final (failed
// when the api could not confirm it, expired) or past its expiresAt is not published. Records
// of a batch are published in order without waiting for each PUBACK (MQTT keeps one client's
// QoS 1 messages in order), then the batch's PUBACKs are awaited together; offsets are committed
// only after that, so a crash re-publishes (cars must ignore a commandId they have seen).
// Kafka is not trusted with the content: what goes to the car is the stored record (written by
// the api or a rule), and a Kafka record that names another car, type or params is refused.
import { isDeepStrictEqual } from 'node:util'
import type { Consumer, EachBatchPayload, Producer } from 'kafkajs'
import { checkCommand, FINAL_STATUSES, type Command, type CommandEvent, type CommandRecord } from '../../shared/src/command-schema.js'
import { commandKey, commandOf, hashToRecord } from '../../shared/src/command-store.js'
import type { Logger } from '../../shared/src/logger.js'
import { isVehicleId, KafkaTopics, MqttTopics } from '../../shared/src/topics.js'
import type { CommanderMetrics } from './commander-metrics.js'
import type { CommandLink } from './mqtt-link.js'

export interface RecordReader {
  /** Each command's stored record (null when there is none). */
  records: (commandIds: string[]) => Promise<Array<CommandRecord | null>>
}

export const redisRecordReader = (redis: import('ioredis').Redis): RecordReader => ({
  async records (ids) {
    if (ids.length === 0) return []
    const pipe = redis.pipeline()
    for (const id of ids) pipe.hgetall(commandKey(id))
    const rows = (await pipe.exec()) ?? []
    return rows.map(([err, h]) => {
      if (err) throw err
      return hashToRecord((h ?? {}) as Record<string, string>)
    })
  }
})

/** The Kafka record says exactly what the stored record says. */
const sameCommand = (c: Command, stored: Command) =>
  c.vehicleId === stored.vehicleId && c.type === stored.type && c.createdAt === stored.createdAt &&
  c.expiresAt === stored.expiresAt && isDeepStrictEqual(c.params, stored.params)

export interface PublisherDeps {
  link: CommandLink
  records: RecordReader
  producer: Producer
  metrics: CommanderMetrics
  log: Logger
  /** Longest wait for PUBACKs while connected; while the broker is away the wait goes on. */
  publishTimeoutMs: number
  now?: () => number
  /** Keeps the Kafka group session alive during long waits (kafkajs' heartbeat). */
  heartbeat?: () => Promise<void>
  /** False once the consumer is stopping: waits end. */
  running?: () => boolean
}

const TICK_MS = 250
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

/**
 * Waits for the broker. Publishing while disconnected would park the messages in mqtt.js' offline
 * queue and a retry of the batch would then send them twice; a publish in flight when the
 * connection drops is resent by mqtt.js on reconnect, so its PUBACK is awaited, not retried.
 */
async function untilConnected (deps: PublisherDeps): Promise<void> {
  while (!deps.link.connected()) {
    if (deps.running?.() === false) throw new Error('stopping')
    await sleep(TICK_MS)
    await deps.heartbeat?.()
  }
}

async function allPubacks (publishes: Array<Promise<void>>, deps: PublisherDeps): Promise<void> {
  let settled = false
  const all = Promise.all(publishes).finally(() => { settled = true })
  all.catch(() => {})
  let connectedMs = 0
  while (!settled) {
    await Promise.race([all.catch(() => {}), sleep(TICK_MS)])
    if (settled) break
    await deps.heartbeat?.()
    connectedMs = deps.link.connected() ? connectedMs + TICK_MS : 0
    if (connectedMs >= deps.publishTimeoutMs) throw new Error(`broker PUBACK: no answer in ${deps.publishTimeoutMs} ms`)
    if (deps.running?.() === false) throw new Error('stopping')
  }
  await all
}

/** Publishes one slice of vehicle.commands records; resolves when every publish was PUBACKed and the `sent` events written. */
export async function publishCommands (values: Array<Buffer | null>, deps: PublisherDeps): Promise<{ published: number, skipped: number }> {
  const now = deps.now ?? Date.now
  const commands: Command[] = []
  let skipped = 0
  const skip = (reason: string) => { skipped++; deps.metrics.skipped.inc({ reason }) }
  for (const value of values) {
    let parsed: unknown
    try {
      parsed = JSON.parse(value?.toString('utf8') ?? '')
    } catch {
      skip('invalid')
      continue
    }
    if (!checkCommand.Check(parsed) || !isVehicleId(parsed.vehicleId)) {
      skip('invalid')
      continue
    }
    commands.push(parsed)
  }
  const records = await deps.records.records(commands.map(c => c.commandId))
  const due: Command[] = []
  commands.forEach((c, i) => {
    const record = records[i] ?? null
    if (record === null) return skip('no_record')
    const stored = commandOf(record)
    if (!sameCommand(c, stored)) {
      deps.log.warn({ commandId: c.commandId, storedVehicleId: stored.vehicleId, kafkaVehicleId: c.vehicleId }, 'vehicle.commands record differs from the stored command: not published')
      return skip('mismatch')
    }
    if (FINAL_STATUSES.has(record.status)) return skip('final')
    // The sweeper declares it expired; the broker would not deliver it anyway.
    if (Date.parse(stored.expiresAt) <= now()) return skip('expired')
    due.push(stored)
  })
  if (due.length === 0) return { published: 0, skipped }
  await untilConnected(deps)
  const started = process.hrtime.bigint()
  await allPubacks(due.map(c => deps.link.publish(MqttTopics.commands(c.vehicleId), JSON.stringify(c))), deps)
  deps.metrics.publishSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9)
  deps.metrics.published.inc(due.length)
  const at = new Date(now()).toISOString()
  await deps.producer.send({
    topic: KafkaTopics.commandEvents,
    acks: -1,
    messages: due.map(c => {
      const event: CommandEvent = { commandId: c.commandId, vehicleId: c.vehicleId, status: 'sent', at, source: 'commander' }
      return { key: c.vehicleId, value: JSON.stringify(event) }
    })
  })
  return { published: due.length, skipped }
}

const SLICE = 200

export async function runPublisher (consumer: Consumer, deps: PublisherDeps): Promise<void> {
  await consumer.subscribe({ topic: KafkaTopics.commands, fromBeginning: false })
  await consumer.run({
    autoCommit: true,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 3,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload) => {
      for (let i = 0; i < batch.messages.length; i += SLICE) {
        if (!isRunning() || isStale()) return
        const slice = batch.messages.slice(i, i + SLICE)
        try {
          await publishCommands(slice.map(m => m.value), { ...deps, heartbeat, running: () => isRunning() && !isStale() })
        } catch (err) {
          deps.log.warn({ err: (err as Error).message, partition: batch.partition, offset: slice[0]?.offset }, 'command batch not published; retrying')
          throw err
        }
        resolveOffset(slice[slice.length - 1]!.offset)
        await heartbeat()
      }
    }
  })
}
