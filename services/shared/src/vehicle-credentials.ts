// Per-principal MQTT credentials (cars, and fleet services such as the commander), none derivable
// from a fleet-wide secret. A credential is made at provisioning: a random credential id (96 bits,
// never reused) and a random secret (256 bits). The MQTT password is `fc1.<credId>.<secret>`;
// Redis keeps only a verifier, SHA-256 over the principal, the credential id and the secret, so a
// copy of Redis lets nobody connect (docs/security.md, "Credentials", says why a fast hash is right
// for random secrets). Layout, one hash per principal so CONNECT needs one Redis round trip:
//   fleet:vehicle:{id} / fleet:service:{name}  hash: provisionedAt, revokedAt (whole principal
//       revoked), c:<credId> = <verifier>:<notAfter ms, 0 = none>:<createdAt ms>
//   fleet:vehicles:revoked                    set of revoked vehicle ids (also read by the api)
//   fleet:certs:revoked                       set of revoked certificate serials (hex, upper case)
//   fleet:certs:issued-after                  hash vehicleId → ms: certificates issued (notBefore)
//                                             at or before it are refused (set at revocation)
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Redis } from 'ioredis'

/** Redis set of revoked vehicle ids: a car in it is refused at connect. */
export const REVOKED_VEHICLES_KEY = 'fleet:vehicles:revoked'
/** Redis hash per provisioned car: provisionedAt, revokedAt and its credential verifiers. */
export const vehicleKey = (vehicleId: string) => `fleet:vehicle:${vehicleId}`
/** Redis hash per fleet service account (e.g. the commander), laid out like a car's. */
export const serviceKey = (name: string) => `fleet:service:${name}`
/** Redis set of revoked certificate serial numbers (upper-case hex, no separators). */
export const REVOKED_SERIALS_KEY = 'fleet:certs:revoked'
/** Redis hash vehicleId → ms: the car's certificates with notBefore at or before it are refused. */
export const CERTS_ISSUED_AFTER_KEY = 'fleet:certs:issued-after'
/** Redis pub/sub channel: a vehicleId published here is dropped by every broker pod at once. */
export const REVOCATIONS_CHANNEL = 'fleet:vehicles:revocations'

/** MQTT user name prefix of fleet's own services (never a valid vehicle id: ':' is not allowed). */
export const SERVICE_USER_PREFIX = 'service:'

/** Live credentials one principal may hold at once (a rotation overlap needs two). */
export const MAX_CREDENTIALS = 4

export type CredentialPrincipal = { kind: 'vehicle', id: string } | { kind: 'service', id: string }

export const principalKey = (p: CredentialPrincipal) => p.kind === 'vehicle' ? vehicleKey(p.id) : serviceKey(p.id)
const principalName = (p: CredentialPrincipal) => `${p.kind}:${p.id}`

const PASSWORD = /^fc1\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{43})$/
const FIELD_PREFIX = 'c:'

export interface IssuedCredential { credentialId: string, password: string, notAfter: string | null }

export function parsePassword (password: Buffer | string | undefined): { credentialId: string, secret: string } | null {
  if (password === undefined || password.length > 128) return null
  const m = PASSWORD.exec(Buffer.isBuffer(password) ? password.toString('latin1') : password)
  return m === null ? null : { credentialId: m[1]!, secret: m[2]! }
}

export function verifierOf (p: CredentialPrincipal, credentialId: string, secret: string): string {
  return createHash('sha256').update(`fleet/credential/v1\0${principalName(p)}\0${credentialId}\0${secret}`).digest('base64url')
}

/** A new credential and the hash field that stores its verifier. */
export function makeCredential (p: CredentialPrincipal, now: number, notAfter: number | null = null): { issued: IssuedCredential, field: string, value: string } {
  const credentialId = randomBytes(12).toString('base64url')
  const secret = randomBytes(32).toString('base64url')
  return {
    issued: { credentialId, password: `fc1.${credentialId}.${secret}`, notAfter: notAfter === null ? null : new Date(notAfter).toISOString() },
    field: FIELD_PREFIX + credentialId,
    value: `${verifierOf(p, credentialId, secret)}:${notAfter ?? 0}:${now}`
  }
}

export interface StoredCredential { credentialId: string, verifier: string, notAfter: number | null, createdAt: number }

export function parseStored (field: string, value: string): StoredCredential | null {
  if (!field.startsWith(FIELD_PREFIX)) return null
  const [verifier, notAfter, createdAt] = value.split(':')
  if (verifier === undefined || notAfter === undefined) return null
  const n = Number(notAfter)
  return { credentialId: field.slice(FIELD_PREFIX.length), verifier, notAfter: n > 0 ? n : null, createdAt: Number(createdAt ?? 0) }
}

export type CheckResult = 'ok' | 'bad_credentials' | 'expired' | 'revoked' | 'not_registered'

/**
 * The CONNECT check against what one HMGET returned: `revokedAt` and the credential's field.
 * Constant-time comparison of verifiers; nothing here can be computed from a copy of Redis.
 */
export function checkPassword (p: CredentialPrincipal, password: Buffer | string | undefined, revokedAt: string | null, stored: string | null, now: number): CheckResult {
  if (revokedAt !== null) return 'revoked'
  const given = parsePassword(password)
  if (given === null || stored === null) return 'bad_credentials'
  const s = parseStored(FIELD_PREFIX + given.credentialId, stored)
  if (s === null) return 'bad_credentials'
  const want = Buffer.from(s.verifier)
  const got = Buffer.from(verifierOf(p, given.credentialId, given.secret))
  if (want.length !== got.length || !timingSafeEqual(want, got)) return 'bad_credentials'
  if (s.notAfter !== null && s.notAfter <= now) return 'expired'
  return 'ok'
}

/** The hash field a password names (for the one HMGET at CONNECT), or null if malformed. */
export function credentialField (password: Buffer | string | undefined): string | null {
  const given = parsePassword(password)
  return given === null ? null : FIELD_PREFIX + given.credentialId
}

/** Certificate serials as Node prints them (hex) and CRLs list them: upper case, no separators. */
export const normaliseSerial = (serial: string) => serial.replace(/[^0-9a-f]/gi, '').replace(/^0+(?=.)/, '').toUpperCase()

export { DEV_SIGNING_KEY } from './legacy-tokens.js'

/** For a reader of the hash: its live credentials (not the verifiers). */
export function listCredentials (hash: Record<string, string>, now: number): Array<{ credentialId: string, notAfter: string | null, createdAt: string, expired: boolean }> {
  return Object.entries(hash).flatMap(([f, v]) => {
    const s = parseStored(f, v)
    if (s === null) return []
    return [{ credentialId: s.credentialId, notAfter: s.notAfter === null ? null : new Date(s.notAfter).toISOString(), createdAt: new Date(s.createdAt).toISOString(), expired: s.notAfter !== null && s.notAfter <= now }]
  })
}

export type { Redis }
