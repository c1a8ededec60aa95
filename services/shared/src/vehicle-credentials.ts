// Per-car MQTT credentials: username = vehicleId, password = a token signed with the fleet's
// signing key (HMAC-SHA256). Stateless to check at connect; revocation is a deny list in Redis.
import { createHmac, timingSafeEqual } from 'node:crypto'

const PREFIX = 'v1.'

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

/** Redis set of revoked vehicle ids: a car in it is refused at connect. */
export const REVOKED_VEHICLES_KEY = 'fleet:vehicles:revoked'
/** Redis hash per provisioned car (provisionedAt, …), so operators and the api can list the fleet. */
export const vehicleKey = (vehicleId: string) => `fleet:vehicle:${vehicleId}`

/** MQTT user name prefix of fleet's own services (never a valid vehicle id: ':' is not allowed). */
export const SERVICE_USER_PREFIX = 'service:'

/** Password of a fleet service's MQTT account (e.g. the commander): username `service:<name>`. */
export function serviceToken (signingKey: string, name: string): string {
  return PREFIX + createHmac('sha256', signingKey).update(`fleet/service/v1/${name}`).digest('base64url')
}

export function verifyServiceToken (signingKey: string, name: string, password: Buffer | string | undefined): boolean {
  if (password === undefined) return false
  const given = Buffer.isBuffer(password) ? password : Buffer.from(password)
  const expected = Buffer.from(serviceToken(signingKey, name))
  return given.length === expected.length && timingSafeEqual(given, expected)
}

/** Redis pub/sub channel: a vehicleId published here is dropped by every broker pod at once. */
export const REVOCATIONS_CHANNEL = 'fleet:vehicles:revocations'
