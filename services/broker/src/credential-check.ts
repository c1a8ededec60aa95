// The credential check at CONNECT, in one Redis round trip (a pipeline of reads): a password is
// checked against the verifier stored for its credential id; a car certificate (already verified
// by TLS against the fleet CA and the CRL file) against the revoked-serial set and the car's
// "certificates issued after" mark; a car or service revoked as a whole is refused. During a
// migration window (FLEET_LEGACY_TOKENS_UNTIL) today's HMAC tokens are accepted too.
import type { Redis } from 'ioredis'
import { verifyVehicleToken } from '../../shared/src/legacy-tokens.js'
import {
  CERTS_ISSUED_AFTER_KEY, REVOKED_SERIALS_KEY, REVOKED_VEHICLES_KEY, checkPassword, credentialField, normaliseSerial, principalKey,
  type CheckResult, type CredentialPrincipal
} from '../../shared/src/vehicle-credentials.js'

export interface PeerCertificate { serial: string, notBefore: number }

export interface CredentialCheck {
  password: (p: CredentialPrincipal, password: Buffer | string | undefined) => Promise<CheckResult>
  certificate: (vehicleId: string, cert: PeerCertificate) => Promise<CheckResult>
}

export interface CredentialCheckOptions {
  redis: Pick<Redis, 'pipeline'>
  /** Refuse certificate-authenticated cars that were never provisioned. */
  requireRegistered: boolean
  /** Today's HMAC tokens, accepted for cars until `until` (ms) when set. */
  legacy: { key: string, until: number } | null
  clock?: () => number
}

type Reply = [Error | null, unknown]
const value = (r: Reply | undefined): unknown => {
  if (r === undefined) throw new Error('no reply')
  if (r[0] !== null) throw r[0]
  return r[1]
}

export function createCredentialCheck (opts: CredentialCheckOptions): CredentialCheck {
  const clock = opts.clock ?? Date.now
  const legacyOn = () => opts.legacy !== null && clock() < opts.legacy.until

  async function legacy (vehicleId: string, password: Buffer | string | undefined): Promise<CheckResult> {
    if (!verifyVehicleToken(opts.legacy!.key, vehicleId, password)) return 'bad_credentials'
    const replies = await opts.redis.pipeline().hmget(principalKey({ kind: 'vehicle', id: vehicleId }), 'revokedAt', 'provisionedAt').sismember(REVOKED_VEHICLES_KEY, vehicleId).exec() ?? []
    const [revokedAt, provisionedAt] = value(replies[0]) as Array<string | null>
    if (revokedAt !== null || value(replies[1]) === 1) return 'revoked'
    return provisionedAt === null ? 'not_registered' : 'ok'
  }

  return {
    async password (p, password) {
      const field = credentialField(password)
      if (field === null) {
        if (p.kind === 'vehicle' && legacyOn() && password !== undefined) return legacy(p.id, password)
        return 'bad_credentials'
      }
      const pipe = opts.redis.pipeline().hmget(principalKey(p), 'revokedAt', field)
      if (p.kind === 'vehicle') pipe.sismember(REVOKED_VEHICLES_KEY, p.id)
      const replies = await pipe.exec() ?? []
      const [revokedAt, stored] = value(replies[0]) as Array<string | null>
      const inRevokedSet = p.kind === 'vehicle' && value(replies[1]) === 1
      return checkPassword(p, password, revokedAt ?? (inRevokedSet ? 'revoked' : null), stored ?? null, clock())
    },
    async certificate (vehicleId, cert) {
      const replies = await opts.redis.pipeline()
        .hmget(principalKey({ kind: 'vehicle', id: vehicleId }), 'revokedAt', 'provisionedAt')
        .sismember(REVOKED_VEHICLES_KEY, vehicleId)
        .sismember(REVOKED_SERIALS_KEY, normaliseSerial(cert.serial))
        .hget(CERTS_ISSUED_AFTER_KEY, vehicleId)
        .exec() ?? []
      const [revokedAt, provisionedAt] = value(replies[0]) as Array<string | null>
      if (revokedAt !== null || value(replies[1]) === 1 || value(replies[2]) === 1) return 'revoked'
      const issuedAfter = value(replies[3]) as string | null
      // a certificate from before the car's last revocation stays dead after re-provisioning
      if (issuedAfter !== null && cert.notBefore <= Number(issuedAfter)) return 'revoked'
      if (opts.requireRegistered && provisionedAt === null) return 'not_registered'
      return 'ok'
    }
  }
}
