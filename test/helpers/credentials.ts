// Provisioned credentials for system tests: the same shared module the api and the load tools use.
// `carPassword` provisions a car on first use (one pipelined write) and remembers its password.
import { Redis } from 'ioredis'
import { createCredentialStore, provisionBulk } from '../../services/shared/src/credential-store.js'
import { DEV_SIGNING_KEY, serviceToken, vehicleToken } from '../../services/shared/src/legacy-tokens.js'

/** Today's HMAC passwords under the published key: what an attacker can compute. */
export const legacyCarToken = (id: string) => vehicleToken(DEV_SIGNING_KEY, id)
export const legacyServiceToken = (name: string) => serviceToken(DEV_SIGNING_KEY, name)

export function credentialAdapter (redis: Redis) {
  const store = createCredentialStore(redis)
  return {
    provision: async (id: string) => (await store.provision({ kind: 'vehicle', id })).password,
    rotate: async (id: string, overlapS: number) => (await store.rotate({ kind: 'vehicle', id }, overlapS)).password,
    revoke: (id: string) => store.revoke({ kind: 'vehicle', id }),
    store
  }
}

let shared: Redis | null = null
const redis = () => {
  if (shared === null) {
    shared = new Redis(process.env.FLEET_REDIS_URL ?? 'redis://127.0.0.1:16379', { lazyConnect: false })
    // the tests' processes exit when their work is done; this connection must not hold them
    shared.on('connect', () => (shared as unknown as { stream?: { unref: () => void } }).stream?.unref())
  }
  return shared
}
const passwords = new Map<string, string>()

/** The car's password, provisioning the car on first use. */
export async function carPassword (vehicleId: string): Promise<string> {
  const known = passwords.get(vehicleId)
  if (known !== undefined) return known
  const made = await provisionBulk(redis(), [vehicleId])
  for (const [id, p] of made) passwords.set(id, p)
  return passwords.get(vehicleId)!
}

/** Provisions many cars at once (pipelined). */
export async function carPasswords (vehicleIds: readonly string[]): Promise<Map<string, string>> {
  const missing = vehicleIds.filter(id => !passwords.has(id))
  if (missing.length > 0) for (const [id, p] of await provisionBulk(redis(), missing)) passwords.set(id, p)
  return new Map(vehicleIds.map(id => [id, passwords.get(id)!]))
}

const servicePasswords = new Map<string, Promise<string>>()

/** A password of a service account (one credential per test process, expiring in an hour). */
export function servicePassword (name = 'commander'): Promise<string> {
  let p = servicePasswords.get(name)
  if (p === undefined) {
    p = createCredentialStore(redis()).provision({ kind: 'service', id: name }, { notAfter: Date.now() + 3600_000 }).then(c => c.password)
    servicePasswords.set(name, p)
  }
  return p
}

/** Forgets remembered passwords (after a test revoked or decommissioned cars). */
export const forgetPassword = (vehicleId: string) => passwords.delete(vehicleId)
