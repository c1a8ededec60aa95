// A micro-batch's Redis writes as one pipeline of plain commands, encoded as they are added
// straight into the bytes sent (resp-writer.ts) and sent on a connection of their own
// (redis-pipeline.ts) that reads back only the count of replies and the first error. History:
// ioredis spent ~8 µs of the scorer's CPU per command (a Command, its promise, its reply), so the
// writes went as EVALSHA calls of a small Lua script for a while; Redis then spent ~13 µs per row on
// the script's argument conversions and calls, more than on the writes (INFO commandstats, 20,000
// cars: evalsha 23.8 µs per row, the HSET, LPUSH and ZADD inside it 10.3). Plain commands cost
// Redis their own work and their parsing only, and the scorer nothing per command.
// Only the write commands below can be added; a member list is split into MAX_MEMBERS per command.
import type { RedisPipeline } from './redis-pipeline.js'
import { RespWriter } from './resp-writer.js'

/** Members per ZADD/SADD/SREM write: larger sets are split. */
const MAX_MEMBERS = 512

/** An argument: text, a number, or bytes sent as they are (a car's telemetry as received). */
export type WriteArg = string | number | Uint8Array

/** The write commands car-history.ts needs; an ioredis pipeline has them too. */
export interface ListWrites {
  lpush: (key: string, ...values: string[]) => unknown
  ltrim: (key: string, start: number, stop: number) => unknown
  expire: (key: string, seconds: number) => unknown
}

export interface WriteBatch extends ListWrites {
  hset: (key: string, ...fieldsAndValues: WriteArg[]) => void
  /** `scoresAndMembers`: score, member, score, member… */
  zadd: (key: string, scoresAndMembers: Array<string | number>) => void
  sadd: (key: string, ...members: string[]) => void
  srem: (key: string, ...members: string[]) => void
  readonly writes: number
  /** Sends every write in order as one pipeline; rejects with the first error. A batch is spent once sent. */
  send: (pipeline: RedisPipeline) => Promise<void>
}

/**
 * Writers whose bytes Redis has answered, kept for the next batch: a batch encodes about a
 * megabyte, and a fresh Buffer of that size each batch (grown by doubling) is memory the GC has to
 * account for and clear. A batch that failed keeps its writer (the socket may still hold its bytes).
 */
const pool: RespWriter[] = []
const POOL_MAX = 8

export function createWriteBatch (): WriteBatch {
  let out = pool.pop() ?? new RespWriter(256 * 1024)
  out.reset()
  let writes = 0
  const add = (cmd: string, key: string, args: ReadonlyArray<WriteArg>, from = 0, to = args.length) => {
    out.array(2 + to - from)
    out.arg(cmd)
    out.arg(key)
    for (let i = from; i < to; i++) out.arg(args[i]!)
    writes++
  }
  const members = (cmd: string, key: string, list: ReadonlyArray<string | number>, per: number) => {
    for (let i = 0; i < list.length; i += per) add(cmd, key, list, i, Math.min(list.length, i + per))
  }
  return {
    hset: (key, ...fv) => add('HSET', key, fv),
    lpush: (key, ...values) => add('LPUSH', key, values),
    ltrim: (key, start, stop) => add('LTRIM', key, [start, stop]),
    expire: (key, seconds) => add('EXPIRE', key, [seconds]),
    zadd: (key, sm) => members('ZADD', key, sm, 2 * MAX_MEMBERS),
    sadd: (key, ...m) => members('SADD', key, m, MAX_MEMBERS),
    srem: (key, ...m) => members('SREM', key, m, MAX_MEMBERS),
    get writes () { return writes },
    async send (pipeline) {
      const n = writes
      const w = out
      writes = 0
      out = new RespWriter(1024)
      if (n === 0) return
      await pipeline.send(w.view(), n)
      if (pool.length < POOL_MAX) pool.push(w)
    }
  }
}
