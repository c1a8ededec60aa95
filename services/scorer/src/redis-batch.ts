// A micro-batch's Redis writes sent as a few EVALSHA calls of one small Lua script instead of a
// pipeline of thousands of commands: ioredis spends several µs of CPU per command (a Command
// object, its promise, its reply) and little per argument, and the scorer writes one to three
// commands per message. Only the write commands listed in WRITE_SCRIPT pass; each call covers at
// most MAX_ARGS arguments, so Redis is never held by one call for more than a few milliseconds.
// Each call's arguments are encoded as they are added, straight into the bytes sent (resp-writer.ts).
import { createHash } from 'node:crypto'
import { Command, type Redis } from 'ioredis'
import { RespWriter } from './resp-writer.js'

/** KEYS[i] is the key of the i-th write; ARGV holds per write its command, argument count and arguments. */
export const WRITE_SCRIPT = `
local allowed = { HSET = true, LPUSH = true, LTRIM = true, EXPIRE = true, ZADD = true, SADD = true, SREM = true }
local a = 1
for i = 1, #KEYS do
  local cmd, n = ARGV[a], tonumber(ARGV[a + 1])
  if not allowed[cmd] or n == nil then return redis.error_reply('ERR fleet write batch: command not allowed: ' .. tostring(cmd)) end
  redis.call(cmd, KEYS[i], unpack(ARGV, a + 2, a + 1 + n))
  a = a + 2 + n
end
return #KEYS
`
const SHA = createHash('sha1').update(WRITE_SCRIPT).digest('hex')

/** ARGV entries per call (Lua's unpack and the time Redis is held bound it). */
export const MAX_ARGS = 8_192
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
  /** Sends every write (in order, on one connection); rejects with the first error. */
  send: (redis: Redis) => Promise<void>
}

/** One script call being built: its keys and its ARGV, each already in RESP, and the command sent. */
interface Call { keys: RespWriter, argv: RespWriter, out: RespWriter }

/**
 * Writers whose calls Redis has answered, kept for the next batch: a batch encodes about a
 * megabyte, and fresh Buffers of that size each batch (grown by doubling) are memory the GC has
 * to account for and clear. Only answered calls give theirs back: ioredis may send a call again
 * after a reconnect, from the same bytes.
 */
const pool: RespWriter[] = []
const POOL_MAX = 24
const take = (initial: number) => {
  const w = pool.pop() ?? new RespWriter(initial)
  w.reset()
  return w
}
const newCall = (): Call => ({ keys: take(16 * 1024), argv: take(256 * 1024), out: take(256 * 1024) })
const release = (c: Call) => {
  if (pool.length + 3 <= POOL_MAX) pool.push(c.keys, c.argv, c.out)
}

export function createWriteBatch (): WriteBatch {
  const calls: Call[] = []
  let cur = newCall()
  let writes = 0
  const add = (cmd: string, key: string, args: ReadonlyArray<WriteArg>, from = 0, to = args.length) => {
    const n = to - from
    if (cur.argv.count > 0 && cur.argv.count + n + 2 > MAX_ARGS) {
      calls.push(cur)
      cur = newCall()
    }
    cur.keys.arg(key)
    cur.argv.arg(cmd)
    cur.argv.arg(n)
    for (let i = from; i < to; i++) cur.argv.arg(args[i]!)
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
    async send (redis) {
      if (cur.keys.count > 0) calls.push(cur)
      cur = newCall()
      const [first, ...rest] = calls.splice(0)
      if (first === undefined) return
      // The first call alone, so that a Redis without the script (restarted, failed over) loads it
      // before the others run: a car's writes may span two calls and must keep their order. The
      // rest go together, written in this order on ioredis' one connection.
      await evalWrites(redis, first)
      release(first)
      await Promise.all(rest.map(async c => {
        await evalWrites(redis, c)
        release(c)
      }))
    }
  }
}

/**
 * A command whose bytes are already encoded: ioredis writes what toWritable returns, so the
 * arguments are not flattened, measured and concatenated again. `args` holds only the script
 * and key count, for ioredis' debug log.
 */
class EncodedCommand extends Command {
  constructor (name: string, shown: string[], private readonly encoded: Buffer) {
    super(name, [], { replyEncoding: 'utf8' })
    this.args = shown
  }

  override toWritable (): Buffer {
    return this.encoded
  }
}

/** EVALSHA, and EVAL once when Redis does not hold the script (a restart, a failover to a new master). */
async function evalWrites (redis: Redis, call: Call): Promise<unknown> {
  try {
    return await send(redis, 'evalsha', SHA, call)
  } catch (err) {
    if (!(err as Error).message.startsWith('NOSCRIPT')) throw err
    return await send(redis, 'eval', WRITE_SCRIPT, call)
  }
}

function send (redis: Redis, name: 'eval' | 'evalsha', script: string, call: Call): Promise<unknown> {
  const { out } = call
  out.reset()
  out.put(Buffer.from(`*${3 + call.keys.count + call.argv.count}\r\n`, 'latin1'))
  out.arg(name)
  out.arg(script)
  out.arg(call.keys.count)
  out.put(call.keys.view())
  out.put(call.argv.view())
  return redis.sendCommand(new EncodedCommand(name, [name === 'evalsha' ? script : '(script)', String(call.keys.count)], out.view())) as Promise<unknown>
}
