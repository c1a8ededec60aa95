// Cloud-to-car commands enter the broker from Kafka: every broker pod consumes vehicle.commands in
// one consumer group, checks each record against its stored command (command-checks.ts), hands
// the due ones to aedes (publish-to-car.ts) and, once aedes has routed them or stored them in the
// car's session, marks them routed, produces their `sent` events to vehicle.command-events and
// only then commits the offset. A pod killed in between leaves the offset uncommitted: the pod
// that takes the partition over reads the records again and publishes only what was not routed.
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs'
import type { Command, CommandEvent } from '../../shared/src/command-schema.js'
import type { Logger } from '../../shared/src/logger.js'
import { KafkaTopics } from '../../shared/src/topics.js'
import type { BrokerMetrics } from './broker-metrics.js'
import { parseCommands, sortCommands, type CommandRecords } from './command-checks.js'
import type { IngestSink } from './kafka-ingest.js'
import type { PublishToCar } from './publish-to-car.js'
import { createConsumerSupervisor, type LaunchedConsumer } from '../../shared/src/consumer-supervisor.js'

export interface CommandIntakeDeps {
  kafka: Kafka
  groupId: string
  records: CommandRecords
  publish: PublishToCar
  /** Where `sent` events go (acks=all; the callback runs once Kafka has them). */
  sink: Pick<IngestSink, 'write'>
  brokerId: string
  metrics: BrokerMetrics
  log: Logger
  /** Longest wait for aedes to route a slice before it is tried again. */
  publishTimeoutMs: number
  now?: () => number
}

export interface CommandIntake {
  start: () => Promise<void>
  stop: () => Promise<void>
  /** True while this pod is a member of the consumer group. */
  joined: () => boolean
}

/** Records handled together: read in one Redis round trip, published together, one commit. */
const SLICE = 200
/** Longest wait for the consumer to leave its group on stop (Kafka may be away). */
const LEAVE_MS = 5_000
const TICK_MS = 250
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

/** Resolves when every callback came back; rejects on the first error or after `ms`, heartbeating meanwhile. */
async function allRouted (publishes: Array<Promise<void>>, ms: number, heartbeat: () => Promise<void>): Promise<void> {
  let settled = false
  const all = Promise.all(publishes).finally(() => { settled = true })
  all.catch(() => {})
  const deadline = Date.now() + ms
  while (!settled) {
    await Promise.race([all.catch(() => {}), sleep(TICK_MS)])
    if (settled) break
    if (Date.now() > deadline) throw new Error(`commands not routed in ${ms} ms`)
    await heartbeat()
  }
  await all
}

export interface SliceResult { published: number, skipped: number }

/** One slice of vehicle.commands: resolves once its due commands were routed and their `sent` events are in Kafka. */
export async function handleCommandSlice (values: Array<Buffer | null>, deps: CommandIntakeDeps, heartbeat: () => Promise<void> = async () => {}): Promise<SliceResult> {
  const now = deps.now ?? Date.now
  const { metrics, log } = deps
  metrics.commandsConsumed.inc(values.length)
  const parsed = parseCommands(values)
  const commands = parsed.filter((c): c is Command => c !== null)
  const sorted = sortCommands(parsed, await deps.records.read(commands.map(c => c.commandId)), now())
  for (const s of sorted.skipped) {
    metrics.commandsSkipped.inc({ reason: s.reason })
    if (s.reason === 'mismatch') log.warn({ commandId: s.commandId, ...s.detail }, 'vehicle.commands record differs from the stored command: not published')
    else log.debug({ commandId: s.commandId, reason: s.reason }, 'command not published')
  }
  const { due } = sorted
  if (due.length > 0) {
    const started = process.hrtime.bigint()
    // In order: one car's commands are one partition's, and aedes routes them in the order given.
    await allRouted(due.map(c => new Promise<void>((resolve, reject) => deps.publish(c, err => err ? reject(err) : resolve()))), deps.publishTimeoutMs, heartbeat)
    metrics.commandPublishSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9)
    metrics.commandsPublished.inc(due.length)
    try {
      await deps.records.markRouted(due, deps.brokerId, now())
    } catch (err) {
      // Routed all the same; without the mark a pod that reads them again may send them twice.
      metrics.commands.inc({ event: 'mark_failed' })
      log.warn({ err: (err as Error).message, commands: due.length }, 'routed commands not marked')
    }
    log.debug({ commands: due.length }, 'commands routed')
  }
  const sent = [...due, ...sorted.resend]
  if (sent.length > 0) {
    const t = now()
    const at = new Date(t).toISOString()
    await Promise.all(sent.map(c => new Promise<void>((resolve, reject) => {
      const event: CommandEvent = { commandId: c.commandId, vehicleId: c.vehicleId, status: 'sent', at, source: `broker:${deps.brokerId}` }
      deps.sink.write({ topic: KafkaTopics.commandEvents, key: c.vehicleId, value: Buffer.from(JSON.stringify(event)), timestamp: t }, err => err ? reject(err) : resolve())
    })))
  }
  return { published: due.length, skipped: sorted.skipped.length }
}

/** Creates, joins and runs one consumer; `crashed` is called once if kafkajs stops it on its own. */
async function launchConsumer (deps: CommandIntakeDeps, member: (on: boolean) => void, progress: () => void, crashed: (err: Error) => void): Promise<LaunchedConsumer> {
  const { log, metrics } = deps
  const consumer: Consumer = deps.kafka.consumer({
    groupId: deps.groupId,
    sessionTimeout: 10_000,
    rebalanceTimeout: 10_000,
    heartbeatInterval: 1_000,
    // a stop waits for the fetch under way: keep the long poll short (commands are few)
    maxWaitTimeInMs: 1_000,
    allowAutoTopicCreation: false,
    // kafkajs' own restart can outlive a disconnect; the supervisor makes a new consumer instead
    retry: { retries: 8, initialRetryTime: 300, maxRetryTime: 5_000, restartOnFailure: async () => false }
  })
  consumer.on(consumer.events.GROUP_JOIN, e => {
    member(true)
    log.info({ group: deps.groupId, partitions: e.payload.memberAssignment[KafkaTopics.commands]?.length ?? 0 }, 'consuming vehicle.commands')
  })
  consumer.on(consumer.events.CRASH, e => {
    member(false)
    crashed(e.payload.error)
  })
  const stop = async () => {
    let slow: NodeJS.Timeout | undefined
    await Promise.race([
      consumer.disconnect().catch(() => {}),
      new Promise<void>(resolve => {
        slow = setTimeout(() => {
          log.warn({ ms: LEAVE_MS }, 'vehicle.commands consumer did not leave its group in time; its partitions move after the session timeout')
          resolve()
        }, LEAVE_MS)
      })
    ])
    clearTimeout(slow)
    member(false)
  }
  try {
    await consumer.connect()
    // A new group starts at the earliest record: every record is checked against its stored
    // command, so old ones are skipped, and none written before the group's first join is lost.
    await consumer.subscribe({ topic: KafkaTopics.commands, fromBeginning: true })
    await consumer.run({
      autoCommit: true,
      // each slice's offset is committed as soon as its `sent` events are in Kafka
      autoCommitThreshold: 1,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 3,
      eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }: EachBatchPayload) => {
        for (let i = 0; i < batch.messages.length; i += SLICE) {
          if (!isRunning() || isStale()) return
          const slice = batch.messages.slice(i, i + SLICE)
          try {
            await handleCommandSlice(slice.map(m => m.value), deps, heartbeat)
          } catch (err) {
            metrics.commands.inc({ event: 'slice_failed' })
            log.warn({ err: (err as Error).message, partition: batch.partition, offset: slice[0]?.offset }, 'commands not published; the slice is read again')
            throw err
          }
          resolveOffset(slice[slice.length - 1]!.offset)
          await commitOffsetsIfNecessary()
          progress()
          await heartbeat()
        }
      }
    })
  } catch (err) {
    // Kafka away at start: the broker starts all the same, the supervisor tries again later.
    await stop()
    crashed(err as Error)
  }
  return { stop }
}

export function createCommandIntake (deps: CommandIntakeDeps): CommandIntake {
  let member = false
  const joinedAs = (on: boolean) => {
    member = on
    deps.metrics.commandGroupMember.set(on ? 1 : 0)
  }
  // A consumer that crashes (Kafka away longer than its retries) is replaced after a backoff, for
  // as long as it takes: the pod keeps serving cars meanwhile and its partitions go to the others.
  const supervisor = createConsumerSupervisor({
    launch: crashed => launchConsumer(deps, joinedAs, () => supervisor.progress(), crashed),
    log: deps.log.child({ consumer: 'vehicle.commands' }),
    initialBackoffMs: 1_000,
    maxBackoffMs: 30_000,
    maxRestarts: 0,
    onRestart: () => deps.metrics.commands.inc({ event: 'consumer_restart' })
  })
  return {
    joined: () => member,
    start: () => supervisor.start(),
    async stop () {
      await supervisor.stop()
      joinedAs(false)
    }
  }
}
