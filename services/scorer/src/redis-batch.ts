// A micro-batch's Redis writes sent as a few EVALSHA calls of one small Lua script instead of a
// pipeline of thousands of commands: ioredis spends several µs of CPU per command (a Command
// object, its promise, its reply) and little per argument, and the scorer writes one to three
// commands per message. Only the write commands listed in WRITE_SCRIPT pass; each call covers at
// most MAX_ARGS arguments, so Redis is never held by one call for more than a few milliseconds.
import { createHash } from 'node:crypto'
import { Command, type Redis } from 'ioredis'

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

/** The write commands car-history.ts needs; an ioredis pipeline has them too. */
export interface ListWrites {
  lpush: (key: string, ...values: string[]) => unknown
  ltrim: (key: string, start: number, stop: number) => unknown
  expire: (key: string, seconds: number) => unknown
}

export interface WriteBatch extends ListWrites {
  hset: (key: string, ...fieldsAndValues: string[]) => void
  /** `scoresAndMembers`: score, member, score, member… */
  zadd: (key: string, scoresAndMembers: Array<string | number>) => void
  sadd: (key: string, ...members: string[]) => void
  srem: (key: string, ...members: string[]) => void
  readonly writes: number
  /** Sends every write (in order, on one connection); rejects with the first error. */
  send: (redis: Redis) => Promise<void>
}

export function createWriteBatch (): WriteBatch {
  const calls: Array<{ keys: string[], argv: string[] }> = []
  let cur = { keys: [] as string[], argv: [] as string[] }
  let writes = 0
  const add = (cmd: string, key: string, args: ReadonlyArray<string | number>) => {
    if (cur.argv.length > 0 && cur.argv.length + args.length + 2 > MAX_ARGS) {
      calls.push(cur)
      cur = { keys: [], argv: [] }
    }
    cur.keys.push(key)
    cur.argv.push(cmd, String(args.length))
    for (const a of args) cur.argv.push(typeof a === 'string' ? a : String(a))
    writes++
  }
  const members = (cmd: string, key: string, list: ReadonlyArray<string | number>, per: number) => {
    for (let i = 0; i < list.length; i += per) add(cmd, key, list.slice(i, i + per))
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
      if (cur.keys.length > 0) calls.push(cur)
      cur = { keys: [], argv: [] }
      const [first, ...rest] = calls.splice(0)
      if (first === undefined) return
      // The first call alone, so that a Redis without the script (restarted, failed over) loads it
      // before the others run: a car's writes may span two calls and must keep their order. The
      // rest go together, written in this order on ioredis' one connection.
      await evalWrites(redis, first.keys, first.argv)
      await Promise.all(rest.map(c => evalWrites(redis, c.keys, c.argv)))
    }
  }
}

/** EVALSHA, and EVAL once when Redis does not hold the script (a restart, a failover to a new master). */
async function evalWrites (redis: Redis, keys: string[], argv: string[]): Promise<unknown> {
  try {
    return await send(redis, 'evalsha', SHA, keys, argv)
  } catch (err) {
    if (!(err as Error).message.startsWith('NOSCRIPT')) throw err
    return await send(redis, 'eval', WRITE_SCRIPT, keys, argv)
  }
}

function send (redis: Redis, name: 'eval' | 'evalsha', script: string, keys: string[], argv: string[]): Promise<unknown> {
  // ioredis flattens a command's arguments in its constructor (Array.prototype.flat, ~0.3 µs per
  // element in V8: 2 ms for one call of MAX_ARGS); these are flat strings already, so they are set
  // after it. Command and sendCommand are ioredis' public API for commands built by hand.
  const cmd = new Command(name, [], { replyEncoding: 'utf8' })
  cmd.args = [script, String(keys.length)].concat(keys, argv)
  return redis.sendCommand(cmd) as Promise<unknown>
}
