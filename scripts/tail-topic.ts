// Prints the records of one fleet Kafka topic as they arrive, one JSON line each (pipe it to jq):
//   npm run tail -- vehicle.telemetry --vehicle my-car-1
//   npm run tail -- vehicle.telemetry.dlq --vehicle my-car-1 --from-beginning --max 5
// A consumer group of its own that commits nothing, so it never moves the services' offsets.
// Exits after --max records, on Ctrl-C, or when stdout closes (e.g. `| head`).
import { randomUUID } from 'node:crypto'
import type { IHeaders } from 'kafkajs'
import { pino } from 'pino'
import { readConfig } from '../services/shared/src/config.js'
import { kafkaSettings } from '../services/shared/src/common-config.js'
import { createKafka } from '../services/shared/src/kafka.js'
import { parseTailArgs, TAIL_USAGE } from './tail-args.js'

const parsed = parseTailArgs(process.argv.slice(2))
if (!parsed.ok) {
  if (parsed.help) {
    console.log(TAIL_USAGE)
    process.exit(0)
  }
  console.error(`${parsed.error}\n${TAIL_USAGE}`)
  process.exit(2)
}
const { topic, vehicleId, fromBeginning, max } = parsed.args
const config = readConfig(kafkaSettings)
// stdout is for records only. kafkajs logs its retries (e.g. "group coordinator is not available"
// while Kafka starts) as errors; what makes this command fail is printed below instead.
const log = pino({ level: 'fatal', base: { service: 'tail' } }, pino.destination(2))
const kafka = createKafka(config, log, '-tail')
const consumer = kafka.consumer({ groupId: `${config.kafkaClientId}-tail-${randomUUID()}`, sessionTimeout: 10_000, heartbeatInterval: 1_000 })

const text = (b: Buffer | null) => b === null ? null : b.toString('utf8')
/** A value as JSON if it is JSON, else as text. */
function value (b: Buffer | null): unknown {
  const s = text(b)
  if (s === null) return null
  try {
    return JSON.parse(s)
  } catch {
    return s
  }
}
const headers = (h: IHeaders | undefined) => Object.fromEntries(Object.entries(h ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v.map(x => x.toString()) : v?.toString() ?? null]))

let printed = 0
let stopping = false
function stop (code: number): void {
  if (stopping) return
  stopping = true
  // leave the group so Kafka forgets it now; if Kafka is gone, do not wait for it
  setTimeout(() => process.exit(code), 3_000).unref()
  consumer.disconnect().finally(() => process.exit(code))
}
process.on('SIGINT', () => stop(0))
process.on('SIGTERM', () => stop(0))
process.stdout.on('error', () => stop(0)) // EPIPE: the reader went away

consumer.on(consumer.events.GROUP_JOIN, () => {
  console.error(`tailing ${topic}${vehicleId === null ? '' : ` for ${vehicleId}`}${fromBeginning ? ' from the beginning' : ' from now on'}; Ctrl-C to stop`)
})
consumer.on(consumer.events.CRASH, ({ payload }) => {
  console.error(`reading ${topic} failed: ${payload.error.message}${payload.restart ? '; retrying' : ''}`)
  if (!payload.restart) stop(1)
})

try {
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning })
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      if (stopping) return
      const key = text(message.key)
      if (vehicleId !== null && key !== vehicleId) return
      process.stdout.write(JSON.stringify({
        topic,
        partition,
        offset: message.offset,
        timestamp: new Date(Number(message.timestamp)).toISOString(),
        key,
        headers: headers(message.headers),
        value: value(message.value)
      }) + '\n')
      if (max !== null && ++printed >= max) stop(0)
    }
  })
} catch (err) {
  console.error(`cannot read ${topic} from ${config.kafkaBrokers.join(',')}: ${(err as Error).message}`)
  process.exit(1)
}
