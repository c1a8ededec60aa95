// Sends cloud-to-car commands the way the api does: the record is stored in Redis (pending), then
// the command is produced to vehicle.commands (key = vehicleId), where the broker pods consume it.
import { Redis } from 'ioredis'
import { Partitioners, type Producer } from 'kafkajs'
import type { Command, CommandRecord, CommandType } from '../../services/shared/src/command-schema.js'
import { commandOf, createCommandStore } from '../../services/shared/src/command-store.js'
import { KafkaTopics } from '../../services/shared/src/topics.js'
import { testKafka } from './kafka.js'

export interface CommandSender {
  /** Stores and queues a command for the car; resolves once Kafka has it. */
  send: (vehicleId: string, opts?: { ttlMs?: number, type?: CommandType, params?: Record<string, unknown> }) => Promise<Command>
  /** Stores and queues several at once (one produce request). */
  sendMany: (vehicleIds: string[], opts?: { ttlMs?: number }) => Promise<Command[]>
  /** Produces a record as given, stored or not (a forged or replayed one). */
  produce: (commands: Command[]) => Promise<void>
  stop: () => Promise<void>
}

export async function startCommandSender (prefix: string): Promise<CommandSender> {
  const redis = new Redis(process.env.FLEET_REDIS_URL ?? 'redis://127.0.0.1:16379')
  const store = createCommandStore(redis, { retentionS: 3600 })
  const producer: Producer = testKafka().producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false })
  await producer.connect()
  let n = 0
  const record = (vehicleId: string, opts: { ttlMs?: number, type?: CommandType, params?: Record<string, unknown> } = {}): CommandRecord => {
    const t = Date.now()
    const createdAt = new Date(t).toISOString()
    return {
      commandId: `${prefix}-c${++n}-${t.toString(36)}`,
      vehicleId,
      type: opts.type ?? 'flash-lights',
      params: opts.params ?? { times: 2 },
      status: 'pending',
      createdAt,
      expiresAt: new Date(t + (opts.ttlMs ?? 60_000)).toISOString(),
      updatedAt: createdAt,
      requestedBy: 'test',
      history: [{ status: 'pending', at: createdAt, source: 'api' }]
    }
  }
  const produce = async (commands: Command[]) => {
    await producer.send({ topic: KafkaTopics.commands, acks: -1, messages: commands.map(c => ({ key: c.vehicleId, value: JSON.stringify(c) })) })
  }
  const sendMany = async (vehicleIds: string[], opts: { ttlMs?: number } = {}) => {
    const records = vehicleIds.map(id => record(id, opts))
    for (const r of records) await store.create(r)
    const commands = records.map(commandOf)
    await produce(commands)
    return commands
  }
  return {
    send: async (vehicleId, opts = {}) => {
      const r = record(vehicleId, opts)
      await store.create(r)
      await produce([commandOf(r)])
      return commandOf(r)
    },
    sendMany,
    produce,
    stop: async () => {
      await producer.disconnect()
      redis.disconnect()
    }
  }
}
