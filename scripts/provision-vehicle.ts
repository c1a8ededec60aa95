// Provisions cars: registers each in Redis (fleet:vehicle:{id}), lifts a revocation, and prints
// its MQTT credentials (username = vehicleId, password = token signed with FLEET_VEHICLE_TOKEN_KEY).
//   npm run provision -- car-0001 car-0002        provision and print credentials
//   npm run provision -- --revoke car-0001        drop it now and refuse it at connect from now on
import { Redis } from 'ioredis'
import { readConfig, str } from '../services/shared/src/config.js'
import { redisSettings } from '../services/shared/src/common-config.js'
import { isVehicleId } from '../services/shared/src/topics.js'
import { DEV_SIGNING_KEY, REVOCATIONS_CHANNEL, REVOKED_VEHICLES_KEY, vehicleKey, vehicleToken } from '../services/shared/src/vehicle-credentials.js'

const config = readConfig({ ...redisSettings, vehicleTokenKey: str('FLEET_VEHICLE_TOKEN_KEY', DEV_SIGNING_KEY, 'signing key') })
const args = process.argv.slice(2)
const revoke = args[0] === '--revoke'
const ids = revoke ? args.slice(1) : args
if (ids.length === 0) {
  console.error('usage: npm run provision -- [--revoke] <vehicleId> [...]')
  process.exit(2)
}
const bad = ids.filter(id => !isVehicleId(id))
if (bad.length > 0) {
  console.error(`not a valid vehicle id (letters, digits, . _ -; at most 64): ${bad.join(', ')}`)
  process.exit(2)
}
if (config.vehicleTokenKey === DEV_SIGNING_KEY) console.error('warning: FLEET_VEHICLE_TOKEN_KEY is not set; using the development key')
const redis = new Redis(config.redisUrl)
try {
  for (const id of ids) {
    if (revoke) {
      await redis.multi().sadd(REVOKED_VEHICLES_KEY, id).hset(vehicleKey(id), 'revokedAt', new Date().toISOString()).publish(REVOCATIONS_CHANNEL, id).exec()
      console.log(`${id}\trevoked`)
    } else {
      await redis.multi().srem(REVOKED_VEHICLES_KEY, id).hset(vehicleKey(id), 'provisionedAt', new Date().toISOString()).hdel(vehicleKey(id), 'revokedAt').exec()
      console.log(`${id}\tusername=${id}\tpassword=${vehicleToken(config.vehicleTokenKey, id)}`)
    }
  }
} finally {
  redis.disconnect()
}
