// bench:vehicle-index — Redis time of the api's list of cars at fleet size, before and after the
// set of known vehicles: CARS cars written into a Redis database of their own as a soak leaves
// them (provisioning, presence, state, MQTT session hash; the scores zset, the online set), then
//   before  the refresh the api ran every 30 s up to 5866c80 (SMEMBERS online, ZRANGE scores,
//           SCAN fleet:vehicle:* and fleet:presence:*, a sorted copy in the api), ROUNDS times;
//   build   the one-time upgrade that makes fleet:vehicles:known from those keys;
//   after   what remains periodic (ZCARD of the set per summary sample), a page of 50 ids by
//           ZRANGE BYLEX, and what a writer adds per car (a ZADD).
// Redis CPU is its main thread's (INFO cpu, server-wide: run it on a Redis nothing else uses).
//   CARS=100000 ROUNDS=5 npm run bench:vehicle-index     (FLEET_REDIS_URL; writes results/bench-vehicle-index.json)
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { addLegacyVehicles } from '../services/api/src/vehicle-index-build.js'
import { ONLINE_VEHICLES_KEY, presenceKey } from '../services/shared/src/presence.js'
import { vehicleKey } from '../services/shared/src/vehicle-credentials.js'
import { KNOWN_VEHICLES_KEY } from '../services/shared/src/vehicle-index.js'
import { SCORES_KEY, vehicleStateKey } from '../services/shared/src/vehicle-state.js'

const CARS = Number(process.env.CARS ?? 100_000)
const ROUNDS = Number(process.env.ROUNDS ?? 5)
const DB = Number(process.env.DB ?? 11)
const url = new URL(process.env.FLEET_REDIS_URL ?? 'redis://127.0.0.1:16379')
url.pathname = `/${DB}`
const redis = new Redis(url.toString())
const root = join(import.meta.dirname, '..')

async function redisCpuMs (): Promise<number> {
  const info = await redis.info('cpu')
  const v = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? NaN)
  return (v('used_cpu_user_main_thread') + v('used_cpu_sys_main_thread')) * 1000
}

/** Redis main-thread CPU ms and wall ms of fn, and the commands it ran (INFO commandstats delta). */
async function measure (fn: () => Promise<unknown>) {
  const stats = async () => Object.fromEntries([...(await redis.info('commandstats')).matchAll(/cmdstat_(\w+):calls=(\d+),usec=(\d+)/g)].map(m => [m[1]!, { calls: Number(m[2]), usec: Number(m[3]) }]))
  const [s0, c0] = [await stats(), await redisCpuMs()]
  const t0 = performance.now()
  await fn()
  const wallMs = performance.now() - t0
  const [c1, s1] = [await redisCpuMs(), await stats()]
  const commands: Record<string, { calls: number, usec: number }> = {}
  for (const [k, v] of Object.entries(s1)) {
    const d = { calls: v.calls - (s0[k]?.calls ?? 0), usec: v.usec - (s0[k]?.usec ?? 0) }
    if (d.calls > 0 && k !== 'info') commands[k] = d
  }
  return { redisCpuMs: c1 - c0, wallMs, commands }
}

const ids = Array.from({ length: CARS }, (_, i) => `bench-car-${String(i).padStart(6, '0')}`)
await redis.flushdb()
const now = new Date().toISOString()
for (let i = 0; i < CARS; i += 2_000) {
  const m = redis.pipeline()
  for (const id of ids.slice(i, i + 2_000)) {
    m.hset(vehicleKey(id), 'provisionedAt', now, 'c:AAAAAAAAAAAAAAAA', `${'v'.repeat(43)}:0:${Date.now()}`)
    m.hset(presenceKey(id), 'online', '0', 'brokerId', 'broker-0', 'conn', 'c', 'since', now)
    m.hset(vehicleStateKey(id), 'telemetry', '{"vehicleId":"x"}', 'seq', '1', 'ts', '1', 'score', '0.1', 'rowScore', '0.1', 'threshold', '1', 'anomalous', '0', 'failureMode', '', 'modelVersion', 'm', 'scoredAt', now)
    m.hset(`client:${id}`, 'clean', 'false')
    m.zadd(SCORES_KEY, Math.random(), id)
  }
  await m.exec()
}
await redis.sadd(ONLINE_VEHICLES_KEY, ...ids.slice(0, 1_000))
const keys = await redis.dbsize()

// main's FleetReader.refreshIndex, as it ran every FLEET_API_VEHICLE_INDEX_REFRESH_MS (30 s)
async function oldRefresh (): Promise<number> {
  const set = new Set<string>(await redis.smembers(ONLINE_VEHICLES_KEY))
  for (const id of await redis.zrange(SCORES_KEY, 0, -1)) set.add(id)
  for (const match of ['fleet:vehicle:', 'fleet:presence:']) {
    let cursor = '0'
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${match}*`, 'COUNT', 1000)
      for (const k of found) set.add(k.slice(match.length))
      cursor = next
    } while (cursor !== '0')
  }
  return [...set].sort().length
}

const before = []
for (let r = 0; r < ROUNDS; r++) before.push(await measure(oldRefresh))
const build = await measure(() => addLegacyVehicles(redis))
const known = await redis.zcard(KNOWN_VEHICLES_KEY)
const zcard = await measure(async () => { for (let i = 0; i < 1_000; i++) await redis.zcard(KNOWN_VEHICLES_KEY) })
const page = await measure(async () => {
  let after = '-'
  for (let i = 0; i < 100; i++) {
    const got = await redis.zrange(KNOWN_VEHICLES_KEY, after, '+', 'BYLEX', 'LIMIT', 0, 50)
    after = `(${got.at(-1)!}`
  }
})
// what the writers now add: one ZADD of a car already in the set (a reconnect, a provision again)
const zadd = await measure(async () => {
  const m = redis.pipeline()
  for (const id of ids.slice(0, 10_000)) m.zadd(KNOWN_VEHICLES_KEY, 0, id)
  await m.exec()
})
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const refreshCpu = median(before.map(b => b.redisCpuMs))
const result = {
  at: new Date().toISOString(),
  cars: CARS,
  keys,
  known,
  before: { refreshRedisCpuMs: refreshCpu, refreshWallMs: median(before.map(b => b.wallMs)), shareOfCoreAt30s: refreshCpu / 30_000, commands: before[0]!.commands },
  build: { redisCpuMs: build.redisCpuMs, wallMs: build.wallMs, commands: build.commands },
  after: {
    zcardUsec: zcard.commands.zcard === undefined ? null : zcard.commands.zcard.usec / zcard.commands.zcard.calls,
    shareOfCoreAt5sSamples: zcard.redisCpuMs / 1_000 / 5_000,
    pageOf50RedisUsec: page.commands.zrange === undefined ? null : page.commands.zrange.usec / page.commands.zrange.calls,
    writerZaddUsec: zadd.commands.zadd === undefined ? null : zadd.commands.zadd.usec / zadd.commands.zadd.calls
  }
}
console.log(`${CARS} cars, ${keys} keys in the database`)
console.log(`before: one refresh ${refreshCpu.toFixed(0)} ms of Redis CPU (${result.before.refreshWallMs.toFixed(0)} ms wall) = ${(result.before.shareOfCoreAt30s * 100).toFixed(2)} % of a core at one per 30 s`)
console.log(`build once: ${build.redisCpuMs.toFixed(0)} ms of Redis CPU, ${build.wallMs.toFixed(0)} ms wall, ${known} cars in the set`)
console.log(`after: ZCARD ${result.after.zcardUsec?.toFixed(2)} us per sample; a page of 50 ids by BYLEX ${result.after.pageOf50RedisUsec?.toFixed(1)} us of Redis; a writer's ZADD ${result.after.writerZaddUsec?.toFixed(2)} us`)
mkdirSync(join(root, 'results'), { recursive: true })
writeFileSync(process.env.OUT ?? join(root, 'results', 'bench-vehicle-index.json'), JSON.stringify(result, null, 2) + '\n')
await redis.flushdb()
redis.disconnect()
