// The upgrade from a Redis written before the known set existed (vehicle-index.ts): one api
// process, the holder of a lock, SCANs once for the provisioning and presence hashes and reads the
// scores zset, adds those cars, then sets a flag; every process stops looking once the flag is
// there. Until then the list may miss cars that nothing has touched since the upgrade.
import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import { Gauge, type Registry } from 'prom-client'
import type { Logger } from '../../shared/src/logger.js'
import { presenceKey } from '../../shared/src/presence.js'
import { vehicleKey } from '../../shared/src/vehicle-credentials.js'
import { KNOWN_VEHICLES_BUILT_KEY, KNOWN_VEHICLES_KEY, KNOWN_VEHICLES_LOCK_KEY } from '../../shared/src/vehicle-index.js'
import { SCORES_KEY } from '../../shared/src/vehicle-state.js'

// KEYS[1] = known set, KEYS[2] = scores zset; ARGV[1], ARGV[2] = the provisioning and presence
// key prefixes (vehicleKey(''), presenceKey('')), ARGV[3..] = ids. A car decommissioned between
// the SCAN and this call has no key left and is not added back (single-node Redis, like
// credential-store.ts' bulk provisioning).
const ADD_IF_KNOWN = `
local n = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  if redis.call('EXISTS', ARGV[1] .. id, ARGV[2] .. id) > 0 or redis.call('ZSCORE', KEYS[2], id) then
    redis.call('ZADD', KEYS[1], 0, id)
    n = n + 1
  end
end
return n`

// compare-and-delete: a lock that expired and was taken by another process is not ours to end
const RELEASE = 'if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0'
const RENEW = 'if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0'

const CHUNK = 1_000
const vehiclePrefix = vehicleKey('')
const presencePrefix = presenceKey('')

/** Adds every car the old keys name to the known set; returns how many ids it looked at. */
export async function addLegacyVehicles (redis: Redis, onChunk: () => Promise<void> = async () => {}): Promise<number> {
  // most cars have a provisioning hash, a presence hash and a ranking: check each id once (this
  // copy of the ids lives for the build only)
  const seen = new Set<string>()
  const add = async (found: string[]) => {
    const ids = found.filter(id => !seen.has(id))
    for (const id of ids) seen.add(id)
    if (ids.length > 0) await redis.eval(ADD_IF_KNOWN, 2, KNOWN_VEHICLES_KEY, SCORES_KEY, vehiclePrefix, presencePrefix, ...ids)
    await onChunk()
  }
  for (const prefix of [vehiclePrefix, presencePrefix]) {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', CHUNK)
      await add(keys.map(k => k.slice(prefix.length)))
      cursor = next
    } while (cursor !== '0')
  }
  // ZSCAN, not ranges by rank: the scorer re-ranks cars meanwhile, and only a SCAN returns every
  // member present from start to end
  let cursor = '0'
  do {
    const [next, pairs] = await redis.zscan(SCORES_KEY, cursor, 'COUNT', CHUNK)
    await add(pairs.filter((_, i) => i % 2 === 0))
    cursor = next
  } while (cursor !== '0')
  return seen.size
}

export interface VehicleIndexBuilder {
  /** One attempt: 'present' (nothing to do), 'built' (this process built it), 'busy' (another one is building). */
  ensure: () => Promise<'present' | 'built' | 'busy'>
  /** Tries now, then every retryMs until the set is complete. */
  start: () => Promise<void>
  stop: () => void
}

export function createVehicleIndexBuilder (opts: { redis: Redis, log: Logger, registry: Registry, retryMs: number, lockMs?: number }): VehicleIndexBuilder {
  const { redis, log } = opts
  const lockMs = opts.lockMs ?? 60_000
  const ready = new Gauge({ name: 'fleet_api_vehicle_index_ready', help: '1 once fleet:vehicles:known holds every car (built by one api after an upgrade), else 0', registers: [opts.registry] })
  let done = false
  let timer: NodeJS.Timeout | null = null

  async function ensure (): Promise<'present' | 'built' | 'busy'> {
    if (done || await redis.exists(KNOWN_VEHICLES_BUILT_KEY) === 1) {
      done = true
      ready.set(1)
      return 'present'
    }
    const token = randomUUID()
    if (await redis.set(KNOWN_VEHICLES_LOCK_KEY, token, 'PX', lockMs, 'NX') !== 'OK') return 'busy'
    const t0 = Date.now()
    try {
      log.info('building the set of known vehicles from the provisioning and presence keys (once, after an upgrade)')
      // keep the lock while a large keyspace is walked; give up if another process holds it now
      const renew = async () => {
        if (await redis.eval(RENEW, 1, KNOWN_VEHICLES_LOCK_KEY, token, lockMs) !== 1) throw new Error('lost the vehicle index lock')
      }
      const seen = await addLegacyVehicles(redis, renew)
      await redis.set(KNOWN_VEHICLES_BUILT_KEY, new Date().toISOString())
      done = true
      ready.set(1)
      log.info({ ids: seen, known: await redis.zcard(KNOWN_VEHICLES_KEY), ms: Date.now() - t0 }, 'set of known vehicles built')
      return 'built'
    } finally {
      await redis.eval(RELEASE, 1, KNOWN_VEHICLES_LOCK_KEY, token).catch(() => {})
    }
  }

  const retry = () => {
    ensure()
      .then(r => {
        if (r === 'busy' || timer === null) return
        clearInterval(timer)
        timer = null
      })
      .catch(err => log.warn({ err: (err as Error).message }, 'building the set of known vehicles failed; trying again'))
  }

  return {
    ensure,
    async start () {
      ready.set(0)
      if (await ensure().catch(err => { log.warn({ err: (err as Error).message }, 'building the set of known vehicles failed; trying again'); return 'busy' as const }) !== 'busy') return
      timer = setInterval(retry, opts.retryMs)
    },
    stop () {
      if (timer !== null) clearInterval(timer)
      timer = null
    }
  }
}
