// The upgrade to the set of known vehicles on real Redis: a database holding only what the previous
// version wrote (provisioning and presence hashes, the scorer's state and ranking, no set) gets the
// set built once, by one process of several, and after that the api lists every car without any
// SCAN at start or later; a large online set is filtered by walking the known set. Runs in a Redis
// database of its own (the stack's Redis, db 9).
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import { Registry } from 'prom-client'
import { createVehicleIndexBuilder } from '../services/api/src/vehicle-index-build.js'
import { createLogger } from '../services/shared/src/logger.js'
import { ONLINE_VEHICLES_KEY, presenceKey } from '../services/shared/src/presence.js'
import { vehicleKey } from '../services/shared/src/vehicle-credentials.js'
import { KNOWN_VEHICLES_BUILT_KEY, KNOWN_VEHICLES_KEY } from '../services/shared/src/vehicle-index.js'
import { SCORES_KEY, vehicleStateKey } from '../services/shared/src/vehicle-state.js'
import { READER_KEY, startTestApi } from './helpers/api.js'
import { uniqueFleetPrefix } from './helpers/cars.js'

const DB = 9
const base = new URL(process.env.FLEET_REDIS_URL ?? 'redis://127.0.0.1:16379')
base.pathname = `/${DB}`
const redisUrl = base.toString()
const p = uniqueFleetPrefix('index')
const PROVISIONED = 2_500 // more than one SCAN step and one write chunk
const ids = {
  provisioned: Array.from({ length: PROVISIONED }, (_, i) => `${p}-prov-${String(i).padStart(5, '0')}`),
  certificate: `${p}-cert`, // connected with a certificate: a presence hash only
  devScored: `${p}-dev` // development car the scorer saw but no broker: state and ranking only
}
const all = [...ids.provisioned, ids.certificate, ids.devScored].sort()
let redis: Redis

/** How many SCANs Redis has run (INFO commandstats, server-wide: nothing else uses this stack now). */
async function scans (): Promise<number> {
  const m = /cmdstat_scan:calls=(\d+)/.exec(await redis.info('commandstats'))
  return m === null ? 0 : Number(m[1])
}

async function listAll (url: string): Promise<string[]> {
  const seen: string[] = []
  let cursor: string | null = null
  do {
    const res = await fetch(`${url}/v1/vehicles?limit=500${cursor === null ? '' : `&cursor=${cursor}`}`, { headers: { 'x-api-key': READER_KEY } })
    assert.equal(res.status, 200)
    const page = await res.json() as { items: Array<{ vehicleId: string }>, nextCursor: string | null }
    seen.push(...page.items.map(v => v.vehicleId))
    cursor = page.nextCursor
  } while (cursor !== null)
  return seen
}

before(async () => {
  redis = new Redis(redisUrl)
  await redis.flushdb()
  const now = new Date().toISOString()
  const m = redis.pipeline()
  for (const id of ids.provisioned) m.hset(vehicleKey(id), 'provisionedAt', now)
  m.hset(presenceKey(ids.certificate), 'online', '1', 'brokerId', 'b1', 'conn', 'x', 'since', now).sadd(ONLINE_VEHICLES_KEY, ids.certificate)
  m.hset(vehicleStateKey(ids.devScored), 'telemetry', '{}', 'score', '0.5').zadd(SCORES_KEY, 0.5, ids.devScored)
  await m.exec()
})

after(async () => {
  await redis.flushdb()
  redis.disconnect()
})

test('two processes upgrading at once: one builds the set, the other waits for it', async () => {
  const log = createLogger('test', 'silent')
  const builders = [1, 2].map(() => createVehicleIndexBuilder({ redis, log, registry: new Registry(), retryMs: 100 }))
  const outcomes = await Promise.all(builders.map(b => b.ensure()))
  assert.deepEqual(outcomes.sort(), ['built', 'busy'])
  assert.deepEqual(await redis.zrange(KNOWN_VEHICLES_KEY, 0, -1), all, 'every car the old keys name, in id order')
  assert.equal(await builders[1]!.ensure(), 'present')
  // back to the state before the upgrade for the next test
  await redis.del(KNOWN_VEHICLES_KEY, KNOWN_VEHICLES_BUILT_KEY)
})

test('an api started on a Redis of the previous version lists every car; later starts never SCAN', async () => {
  const first = await startTestApi({ FLEET_REDIS_URL: redisUrl, FLEET_API_SAMPLE_INTERVAL_MS: '200' })
  try {
    assert.deepEqual(await listAll(first.url), all, 'complete as soon as the api is up')
    assert.ok(await redis.get(KNOWN_VEHICLES_BUILT_KEY))
  } finally {
    await first.stop()
  }
  const before = await scans()
  const second = await startTestApi({ FLEET_REDIS_URL: redisUrl, FLEET_API_SAMPLE_INTERVAL_MS: '200' })
  try {
    // a car provisioned now by the new version's code is in the set already
    await redis.multi().hset(vehicleKey(`${p}-zz-new`), 'provisionedAt', new Date().toISOString()).zadd(KNOWN_VEHICLES_KEY, 0, `${p}-zz-new`).exec()
    await new Promise(resolve => setTimeout(resolve, 1_000)) // five samples
    assert.deepEqual(await listAll(second.url), [...all, `${p}-zz-new`])
    const summary = await (await fetch(`${second.url}/v1/fleet/summary`, { headers: { 'x-api-key': READER_KEY } })).json() as { latest: { vehicles: { known: number } } }
    assert.equal(summary.latest.vehicles.known, all.length + 1)
    assert.equal(await scans(), before, 'no SCAN: neither at start nor while sampling')
    const metrics = await (await fetch(`http://127.0.0.1:${second.opsPort}/metrics`)).text()
    assert.match(metrics, /^fleet_api_vehicle_index_ready{service="api"} 1$/m)
  } finally {
    await second.stop()
  }
})

test('online=true over an online set too large to read whole walks the known set, every online car once', async () => {
  const many = Array.from({ length: 5_100 }, (_, i) => `${p}-on-${String(i).padStart(5, '0')}`)
  const now = new Date().toISOString()
  const m = redis.pipeline()
  for (const id of many) m.hset(presenceKey(id), 'online', '1', 'brokerId', 'b1', 'conn', 'x', 'since', now).zadd(KNOWN_VEHICLES_KEY, 0, id)
  m.sadd(ONLINE_VEHICLES_KEY, ...many)
  await m.exec()
  const api = await startTestApi({ FLEET_REDIS_URL: redisUrl })
  try {
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const res = await fetch(`${api.url}/v1/vehicles?online=true&limit=500${cursor === null ? '' : `&cursor=${cursor}`}`, { headers: { 'x-api-key': READER_KEY } })
      const page = await res.json() as { items: Array<{ vehicleId: string, online: boolean }>, nextCursor: string | null }
      assert.ok(page.items.every(v => v.online))
      seen.push(...page.items.map(v => v.vehicleId))
      cursor = page.nextCursor
    } while (cursor !== null)
    assert.deepEqual(seen, [...many, ids.certificate].sort())
  } finally {
    await api.stop()
  }
})
