// Making, rotating and revoking MQTT credentials in Redis (layout: vehicle-credentials.ts). Used by
// the api's lifecycle routes, `npm run provision`, the commander's dev-mode self-provisioning and
// the load tools' bulk provisioning. Every change to a car's credentials that must end a live
// connection is published on REVOCATIONS_CHANNEL.
import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import {
  CERTS_ISSUED_AFTER_KEY, MAX_CREDENTIALS, REVOCATIONS_CHANNEL, REVOKED_SERIALS_KEY, REVOKED_VEHICLES_KEY, listCredentials, makeCredential,
  normaliseSerial, parseStored, principalKey, verifierOf, type CredentialPrincipal, type IssuedCredential
} from './vehicle-credentials.js'
import { KNOWN_VEHICLES_KEY } from './vehicle-index.js'

export interface CredentialInfo {
  provisionedAt: string | null
  revokedAt: string | null
  credentials: ReturnType<typeof listCredentials>
}

/** A service runs several instances, and development processes provision their own (expiring) credentials. */
const MAX_SERVICE_CREDENTIALS = 256

export class CredentialLimitError extends Error {}

export interface CredentialStore {
  /** A new credential for the principal (also lifts a whole-principal revocation; old credentials stay gone). */
  provision: (p: CredentialPrincipal, opts?: { notAfter?: number }) => Promise<IssuedCredential>
  /** A new credential; every other one now ends within `overlapS` (0 = at once). */
  rotate: (p: CredentialPrincipal, overlapS: number) => Promise<IssuedCredential>
  /** Removes one credential; false if the principal has no such credential. */
  revokeCredential: (p: CredentialPrincipal, credentialId: string) => Promise<boolean>
  /** Revokes the principal: every credential and certificate issued so far, now and for good. */
  revoke: (p: CredentialPrincipal) => Promise<void>
  revokeSerial: (serial: string) => Promise<void>
  info: (p: CredentialPrincipal) => Promise<CredentialInfo | null>
}

export function createCredentialStore (redis: Redis, clock: () => number = Date.now): CredentialStore {
  const dropCar = (p: CredentialPrincipal, m: ReturnType<Redis['multi']>) => p.kind === 'vehicle' ? m.publish(REVOCATIONS_CHANNEL, p.id) : m

  /** Field names of expired credentials, and the count of live ones. */
  const liveness = (hash: Record<string, string>, now: number) => {
    const expired: string[] = []
    let live = 0
    for (const [f, v] of Object.entries(hash)) {
      const s = parseStored(f, v)
      if (s === null) continue
      if (s.notAfter !== null && s.notAfter <= now) expired.push(f)
      else live++
    }
    return { expired, live }
  }

  async function add (p: CredentialPrincipal, overlapS: number | null, notAfter: number | null): Promise<IssuedCredential> {
    const key = principalKey(p)
    const now = clock()
    const hash = await redis.hgetall(key)
    const { expired, live } = liveness(hash, now)
    const cred = makeCredential(p, now, notAfter)
    const m = redis.multi()
    if (expired.length > 0) m.hdel(key, ...expired)
    if (overlapS !== null) {
      // rotation: every other live credential ends within the overlap
      const end = now + overlapS * 1000
      for (const [f, v] of Object.entries(hash)) {
        const s = parseStored(f, v)
        if (s === null || expired.includes(f) || (s.notAfter !== null && s.notAfter <= end)) continue
        m.hset(key, f, `${s.verifier}:${end}:${s.createdAt}`)
      }
    } else if (live >= (p.kind === 'vehicle' ? MAX_CREDENTIALS : MAX_SERVICE_CREDENTIALS)) {
      throw new CredentialLimitError(`${p.kind} ${p.id} already holds ${live} live credentials (at most ${MAX_CREDENTIALS}); revoke or rotate`)
    }
    m.hset(key, 'provisionedAt', new Date(now).toISOString(), cred.field, cred.value).hdel(key, 'revokedAt')
    if (p.kind === 'vehicle') m.srem(REVOKED_VEHICLES_KEY, p.id).zadd(KNOWN_VEHICLES_KEY, 0, p.id)
    await m.exec()
    return cred.issued
  }

  return {
    provision: (p, opts = {}) => add(p, null, opts.notAfter ?? null),
    rotate: (p, overlapS) => add(p, overlapS, null),
    async revokeCredential (p, credentialId) {
      const m = redis.multi().hdel(principalKey(p), `c:${credentialId}`)
      const [[, removed] = []] = await dropCar(p, m).exec() ?? []
      return removed === 1
    },
    async revoke (p) {
      const key = principalKey(p)
      const now = clock()
      const fields = Object.keys(await redis.hgetall(key)).filter(f => f.startsWith('c:'))
      const m = redis.multi()
      if (fields.length > 0) m.hdel(key, ...fields)
      m.hset(key, 'revokedAt', new Date(now).toISOString())
      // a revoked id stays listed (revoked), even one never provisioned: it may hold certificates
      if (p.kind === 'vehicle') m.sadd(REVOKED_VEHICLES_KEY, p.id).hset(CERTS_ISSUED_AFTER_KEY, p.id, String(now)).zadd(KNOWN_VEHICLES_KEY, 0, p.id)
      await dropCar(p, m).exec()
    },
    async revokeSerial (serial) {
      await redis.sadd(REVOKED_SERIALS_KEY, normaliseSerial(serial))
    },
    async info (p) {
      const hash = await redis.hgetall(principalKey(p))
      if (Object.keys(hash).length === 0) return null
      return { provisionedAt: hash.provisionedAt ?? null, revokedAt: hash.revokedAt ?? null, credentials: listCredentials(hash, clock()) }
    }
  }
}

// KEYS[1] = revoked set, KEYS[2] = known set; ARGV = provisionedAt, then (vehicleId, field, value) triples. One call per
// chunk: Redis loops, so the client builds one command instead of three per car.
const PROVISION_CHUNK = `
for i = 2, #ARGV, 3 do
  local key = 'fleet:vehicle:' .. ARGV[i]
  redis.call('HSET', key, 'provisionedAt', ARGV[1], ARGV[i + 1], ARGV[i + 2])
  redis.call('HDEL', key, 'revokedAt')
  redis.call('SREM', KEYS[1], ARGV[i])
  redis.call('ZADD', KEYS[2], 0, ARGV[i])
end
return (#ARGV - 1) / 3`

/**
 * Load tools and tests: a credential for each car, written by a Lua loop per chunk of 2,000 (no
 * read first: these cars are new or their existing credentials may stay). 100,000 cars take
 * seconds. Keys follow vehicleKey() (the script names them itself: single-node Redis only).
 */
export async function provisionBulk (redis: Redis, vehicleIds: readonly string[], opts: { chunk?: number, clock?: () => number } = {}): Promise<Map<string, string>> {
  const chunk = opts.chunk ?? 2_000
  const now = (opts.clock ?? Date.now)()
  const at = new Date(now).toISOString()
  const out = new Map<string, string>()
  const pending: Array<Promise<unknown>> = []
  for (let i = 0; i < vehicleIds.length; i += chunk) {
    const ids = vehicleIds.slice(i, i + chunk)
    const random = randomBytes(ids.length * 44)
    const args: string[] = [at]
    ids.forEach((id, j) => {
      const credentialId = random.subarray(j * 44, j * 44 + 12).toString('base64url')
      const secret = random.subarray(j * 44 + 12, j * 44 + 44).toString('base64url')
      args.push(id, `c:${credentialId}`, `${verifierOf({ kind: 'vehicle', id }, credentialId, secret)}:0:${now}`)
      out.set(id, `fc1.${credentialId}.${secret}`)
    })
    pending.push(redis.eval(PROVISION_CHUNK, 2, REVOKED_VEHICLES_KEY, KNOWN_VEHICLES_KEY, ...args))
    // a few chunks in flight, not the whole fleet's arguments at once
    if (pending.length >= 4) await Promise.all(pending.splice(0))
  }
  await Promise.all(pending)
  return out
}
