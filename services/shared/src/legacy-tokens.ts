// Today's (pre-#21) car and service passwords: HMAC-SHA256 of the id under one fleet-wide signing
// key. Kept only for a fleet's migration window: the broker accepts them when
// FLEET_LEGACY_TOKENS_UNTIL is set (and not past), with a key that is not the published one
// outside development (docs/security.md, "Migrating from HMAC tokens").
import { createHmac, timingSafeEqual } from 'node:crypto'

const PREFIX = 'v1.'

/** Published in the repository: never a credential outside development. */
export const DEV_SIGNING_KEY = 'fleet-dev-signing-key-do-not-use-in-production'

export function vehicleToken (signingKey: string, vehicleId: string): string {
  return PREFIX + createHmac('sha256', signingKey).update(`fleet/vehicle/v1/${vehicleId}`).digest('base64url')
}

export function verifyVehicleToken (signingKey: string, vehicleId: string, password: Buffer | string | undefined): boolean {
  if (password === undefined) return false
  const given = Buffer.isBuffer(password) ? password : Buffer.from(password)
  const expected = Buffer.from(vehicleToken(signingKey, vehicleId))
  return given.length === expected.length && timingSafeEqual(given, expected)
}

/** The commander's old password: HMAC of `fleet/service/v1/<name>` under the same key. */
export function serviceToken (signingKey: string, name: string): string {
  return PREFIX + createHmac('sha256', signingKey).update(`fleet/service/v1/${name}`).digest('base64url')
}
