// Sends cloud-to-car commands the way the api does: the record is stored in Redis (pending), then
// the command is produced to vehicle.commands (key = vehicleId), where the broker pods consume it.
import { Redis } from 'ioredis'
import { Partitioners, type Producer } from 'kafkajs'
import type { Command, CommandRecord, CommandType } from '../../services/shared/src/command-schema.js'
import { commandOf, createCommandStore } from '../../services/shared/src/command-store.js'
import { KafkaTopics } from '../../services/shared/src/topics.js'
import { testKafka } from './kafka.js'

export interface SendOptions { ttlMs?: number, type?: CommandType, params?: Record<string, unknown> }

/** Records per produce request: Kafka refuses batches over message.max.bytes (1 MB by default). */
const PRODUCE_CHUNK = 50

export interface CommandSender {
  /** Stores and queues a command for the car; resolves once Kafka has it. */
  send: (vehicleId: string, opts?: SendOptions) => Promise<Command>
  /** Stores and queues several at once (one produce request). */
  sendMany: (vehicleIds: string[], opts?: SendOptions) => Promise<Command[]>
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
  const record = (vehicleId: string, opts: SendOptions = {}): CommandRecord => {
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
    for (let i = 0; i < commands.length; i += PRODUCE_CHUNK) {
      await producer.send({ topic: KafkaTopics.commands, acks: -1, messages: commands.slice(i, i + PRODUCE_CHUNK).map(c => ({ key: c.vehicleId, value: JSON.stringify(c) })) })
    }
  }
  const sendMany = async (vehicleIds: string[], opts: SendOptions = {}) => {
    const records = vehicleIds.map(id => record(id, opts))
    await Promise.all(records.map(r => store.create(r)))
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
