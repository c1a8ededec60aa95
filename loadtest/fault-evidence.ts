// Independent evidence for the fault matrix: what the cars were told (their record files: which
// (car, seq) got a PUBACK, which commands arrived how often) against what Kafka holds, read back
// with a consumer of our own from the offsets noted before the load started.
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Admin } from 'kafkajs'
import { createKafka } from '../services/shared/src/kafka.js'
import { createLogger } from '../services/shared/src/logger.js'
import type { SimulatorRecord } from '../services/simulator/src/index.js'

export type Offsets = Array<{ partition: number, offset: string }>

const kafka = () => createKafka({ kafkaBrokers: (process.env.FLEET_KAFKA_BROKERS ?? '127.0.0.1:19092').split(','), kafkaClientId: 'fleet-faults' }, createLogger('faults-kafka', 'error'))

export async function withAdmin<T> (fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka().admin()
  await admin.connect()
  try {
    return await fn(admin)
  } finally {
    await admin.disconnect()
  }
}

/** End offsets per partition; retried while a fresh or restarted Kafka is still electing leaders. */
export async function endOffsets (admin: Admin, topic: string): Promise<Offsets> {
  for (let attempt = 1; ; attempt++) {
    try {
      return (await admin.fetchTopicOffsets(topic)).map(({ partition, offset }) => ({ partition, offset }))
    } catch (err) {
      if (attempt >= 30 || (err as { retriable?: boolean }).retriable !== true) throw err
      await new Promise(resolve => setTimeout(resolve, 500))
    }
  }
}

export const sumOffsets = (o: Offsets) => o.reduce((n, p) => n + Number(p.offset), 0)

/**
 * Reads `topic` from `from` up to the end offsets it has now, handing each record whose key
 * `keep`s to `onRecord`. Resolves with the number of records read (kept or not).
 */
export async function readTopic (topic: string, from: Offsets, keep: (key: string) => boolean, onRecord: (key: string, value: Buffer, timestamp: number) => void, timeoutMs = 120_000): Promise<number> {
  const end = await withAdmin(admin => endOffsets(admin, topic))
  const endOf = new Map(end.map(p => [p.partition, BigInt(p.offset)]))
  const fromOf = new Map(from.map(p => [p.partition, BigInt(p.offset)]))
  const open = new Set(end.filter(p => BigInt(p.offset) > (fromOf.get(p.partition) ?? 0n)).map(p => p.partition))
  if (open.size === 0) return 0
  // The group starts where we say (committed before it joins), so no record is read twice.
  const groupId = `fleet-faults-read-${randomUUID()}`
  await withAdmin(admin => admin.setOffsets({ groupId, topic, partitions: end.map(p => ({ partition: p.partition, offset: (fromOf.get(p.partition) ?? 0n).toString() })) }))
  const consumer = kafka().consumer({ groupId, sessionTimeout: 30_000, maxBytes: 32 * 2 ** 20, maxBytesPerPartition: 8 * 2 ** 20 })
  let read = 0
  const nextOffset = new Map<number, bigint>()
  let finished!: () => void
  const done = new Promise<void>(resolve => { finished = resolve })
  await consumer.connect()
  try {
    await consumer.subscribe({ topic })
    await consumer.run({
      partitionsConsumedConcurrently: 4,
      eachBatch: async ({ batch, resolveOffset }) => {
        const stopAt = endOf.get(batch.partition) ?? 0n
        const next = nextOffset.get(batch.partition) ?? 0n
        for (const m of batch.messages) {
          if (BigInt(m.offset) >= stopAt) break
          // A group rebalance (a coordinator moving between Kafka nodes) hands a batch out again
          // from the last commit: an offset read before is this reader's repeat, not a duplicate.
          if (BigInt(m.offset) < next) continue
          nextOffset.set(batch.partition, BigInt(m.offset) + 1n)
          read++
          const key = m.key?.toString() ?? ''
          if (keep(key)) onRecord(key, m.value ?? Buffer.alloc(0), Number(m.timestamp))
          resolveOffset(m.offset)
        }
        if (BigInt(batch.lastOffset()) + 1n >= stopAt) {
          open.delete(batch.partition)
          if (open.size === 0) finished()
        }
      }
    })
    let timer: NodeJS.Timeout | undefined
    await Promise.race([done, new Promise((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`reading ${topic}: ${open.size} partitions not read to their end in ${timeoutMs / 1_000} s`)), timeoutMs) })])
    clearTimeout(timer)
  } finally {
    await consumer.disconnect()
  }
  return read
}

const SEQ = /"seq":(\d+)/

/**
 * How often each (car, seq) is in a topic: per car an array indexed by seq. A copy is told apart
 * by its record timestamp, which the broker sets when it receives the PUBLISH: a copy with another
 * timestamp is the car sending it again (QoS 1 after a PUBACK it never got), one with the same
 * timestamp is one received message written to Kafka twice.
 */
export class SeqCounts {
  readonly cars = new Map<string, number[]>()
  private readonly firstTs = new Map<string, number[]>()
  records = 0
  outOfOrder = 0
  /** extra copies the car sent again (another receive time) */
  resentByCar = 0
  /** extra copies of one received message (the same receive time) */
  writtenTwice = 0
  add (car: string, seq: number, timestamp = 0) {
    this.records++
    let c = this.cars.get(car)
    if (c === undefined) this.cars.set(car, c = [])
    let t = this.firstTs.get(car)
    if (t === undefined) this.firstTs.set(car, t = [])
    // A car's first sight of a seq below its highest so far: its records left Kafka's order.
    if (c[seq] === undefined && c.length > seq + 1) this.outOfOrder++
    if (c[seq] === undefined) t[seq] = timestamp
    else if (t[seq] === timestamp) this.writtenTwice++
    else this.resentByCar++
    c[seq] = (c[seq] ?? 0) + 1
  }

  addRecord (key: string, value: Buffer, timestamp = 0) {
    const m = SEQ.exec(value.toString('latin1', 0, Math.min(value.length, 512)))
    if (m !== null) this.add(key, Number(m[1]), timestamp)
  }

  count (car: string, seq: number) { return this.cars.get(car)?.[seq] ?? 0 }
  get unique () {
    let n = 0
    for (const c of this.cars.values()) for (const v of c) if (v !== undefined) n++
    return n
  }
}

export interface SimRecords {
  acked: Map<string, Array<[number, number]>>
  commands: Map<string, number>
  stats: Record<string, number>
  reconnectGapsMs: number[]
}

/** Merges the simulator processes' record files. */
export function readSimRecords (files: string[]): SimRecords {
  const out: SimRecords = { acked: new Map(), commands: new Map(), stats: {}, reconnectGapsMs: [] }
  for (const f of files) {
    const r = JSON.parse(readFileSync(f, 'utf8')) as SimulatorRecord
    for (const [car, runs] of Object.entries(r.acked)) out.acked.set(car, runs)
    for (const [id, n] of Object.entries(r.commands)) out.commands.set(id, (out.commands.get(id) ?? 0) + n)
    for (const [k, v] of Object.entries(r.stats)) if (typeof v === 'number') out.stats[k] = (out.stats[k] ?? 0) + v
    for (const ms of r.reconnectGapsMs ?? []) out.reconnectGapsMs.push(ms)
  }
  return out
}

export interface TelemetryVerdict {
  acked: number
  ackedLost: number
  lostSample: string[]
  recordsInKafka: number
  unique: number
  duplicates: number
  /** of the duplicates: sent again by the car after a PUBACK it never got (QoS 1 is at least once) */
  duplicatesResentByCars: number
  /** of the duplicates: one received message written twice (never expected) */
  duplicatesWrittenTwice: number
  carsWithDuplicates: number
  outOfOrder: number
}

/** Every acknowledged (car, seq) must be in Kafka; a (car, seq) there more than once is a duplicate. */
export function judgeTelemetry (acked: Map<string, Array<[number, number]>>, kafka: SeqCounts): TelemetryVerdict {
  let total = 0
  let lost = 0
  const lostSample: string[] = []
  for (const [car, runs] of acked) {
    for (const [a, b] of runs) {
      for (let s = a; s <= b; s++) {
        total++
        if (kafka.count(car, s) === 0) {
          lost++
          if (lostSample.length < 10) lostSample.push(`${car}/${s}`)
        }
      }
    }
  }
  let carsWithDuplicates = 0
  for (const c of kafka.cars.values()) if (c.some(v => v !== undefined && v > 1)) carsWithDuplicates++
  const unique = kafka.unique
  return { acked: total, ackedLost: lost, lostSample, recordsInKafka: kafka.records, unique, duplicates: kafka.records - unique, duplicatesResentByCars: kafka.resentByCar, duplicatesWrittenTwice: kafka.writtenTwice, carsWithDuplicates, outOfOrder: kafka.outOfOrder }
}
