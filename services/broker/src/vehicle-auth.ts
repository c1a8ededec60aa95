// CONNECT policy: who may connect. username = vehicleId, password = the car's signed token
// (services/shared/src/vehicle-credentials.ts); revoked cars (a Redis set) are refused. The client
// id must be the vehicleId (or empty with a clean session), so no car can take over another car's
// session by borrowing its client id.
import type { AuthenticateError, Client, PreConnectHandler, AuthenticateHandler } from 'aedes'
import type { Redis } from 'ioredis'
import type { Logger } from '../../shared/src/logger.js'
import { isVehicleId, parseVehicleTopic } from '../../shared/src/topics.js'
import { REVOKED_VEHICLES_KEY, vehicleKey, verifyVehicleToken } from '../../shared/src/vehicle-credentials.js'
import type { BrokerMetrics } from './broker-metrics.js'

/** CONNACK return codes of MQTT 3.1.1 (section 3.2.2.3). */
export const ConnackCode = {
  identifierRejected: 2,
  serverUnavailable: 3,
  badUsernameOrPassword: 4,
  notAuthorized: 5
} as const

type Code = typeof ConnackCode[keyof typeof ConnackCode]

function refusal (returnCode: Code, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode })
}

export interface VehicleIdentity {
  get: (client: Client) => string | undefined
}

export interface VehicleAuthOptions {
  signingKey: string
  redis: Pick<Redis, 'sismember' | 'exists'>
  requireRegistered: boolean
  metrics: BrokerMetrics
  log: Logger
}

export function createVehicleAuth (opts: VehicleAuthOptions): { preConnect: PreConnectHandler, authenticate: AuthenticateHandler, identity: VehicleIdentity } {
  const { metrics, log } = opts
  const vehicles = new WeakMap<Client, string>()
  const emptyIdPersistent = new WeakSet<Client>()

  const preConnect: PreConnectHandler = (client, packet, callback) => {
    // [MQTT-3.1.3-8] a zero-length client id with CleanSession=0 gets CONNACK 0x02.
    if (packet.clientId === '' && packet.clean === false) emptyIdPersistent.add(client)
    callback(null, true)
  }

  const refuse = (client: Client, done: (err: AuthenticateError | null, ok: boolean | null) => void, code: Code, result: string, message: string) => {
    metrics.connects.inc({ result })
    log.warn({ clientId: client.id.slice(0, 80), result }, 'connect refused')
    done(refusal(code, message), null)
  }

  const authenticate: AuthenticateHandler = (client, username, password, done) => {
    if (emptyIdPersistent.has(client)) {
      return refuse(client, done, ConnackCode.identifierRejected, 'identifier_rejected', 'a zero-length client id needs a clean session')
    }
    if (username === undefined || !isVehicleId(username) || !verifyVehicleToken(opts.signingKey, username, password)) {
      return refuse(client, done, ConnackCode.badUsernameOrPassword, 'bad_credentials', 'bad user name or password')
    }
    const generatedId = client.id.startsWith('aedes_') && client.clean
    if (client.id !== username && !generatedId) {
      return refuse(client, done, ConnackCode.identifierRejected, 'identifier_rejected', 'the client id must be the vehicle id')
    }
    const will = (client as Client & { _will?: { topic: string } })._will
    if (will) {
      const t = parseVehicleTopic(will.topic)
      if (t === null || t.vehicleId !== username || t.kind !== 'status') {
        return refuse(client, done, ConnackCode.notAuthorized, 'will_denied', 'a will may only be published to the car\'s own status topic')
      }
    }
    const checks: Array<Promise<number>> = [opts.redis.sismember(REVOKED_VEHICLES_KEY, username)]
    if (opts.requireRegistered) checks.push(opts.redis.exists(vehicleKey(username)))
    Promise.all(checks).then(([revoked, registered]) => {
      if (revoked === 1) return refuse(client, done, ConnackCode.notAuthorized, 'revoked', 'this vehicle is revoked')
      if (opts.requireRegistered && registered !== 1) return refuse(client, done, ConnackCode.notAuthorized, 'not_registered', 'this vehicle is not provisioned')
      vehicles.set(client, username)
      metrics.connects.inc({ result: 'accepted' })
      done(null, true)
    }, (err: Error) => {
      log.error({ err: err.message }, 'credential store unavailable')
      refuse(client, done, ConnackCode.serverUnavailable, 'server_unavailable', 'credential store unavailable')
    })
  }

  return { preConnect, authenticate, identity: { get: client => vehicles.get(client) } }
}
