// CONNECT policy: who may connect. A car: username = vehicleId, password = one of the car's
// provisioned credentials, or a verified car certificate (credential-check.ts decides, in one Redis
// round trip); revoked cars, credentials and certificates are refused. The client id must be the
// vehicleId, so no car can take over another car's session by borrowing its client id; an empty one
// (clean session only) becomes the vehicleId. A car so holds one connection: a new one takes over
// the old one on any pod [MQTT-3.1.4-2], and revocation finds it by its id. Nothing else logs in:
// fleet's services reach the broker through Kafka.
import type { Logger } from '../../shared/src/logger.js'
import { isVehicleId, parseVehicleTopic } from '../../shared/src/topics.js'
import type { CheckResult } from '../../shared/src/vehicle-credentials.js'
import type { BrokerMetrics } from './broker-metrics.js'
import type { ConnectShed } from './connect-shed.js'
import type { CredentialCheck, PeerCertificate } from './credential-check.js'
import { willOf, type AuthenticateError, type AuthenticateHandler, type Client, type PreConnectHandler } from './mqtt-engine/index.js'

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

export interface Principal { kind: 'vehicle', vehicleId: string }

export interface VehicleIdentity {
  /** The vehicleId of a connected car (undefined for unauthenticated clients). */
  get: (client: Client) => string | undefined
  principal: (client: Client) => Principal | undefined
}

/** What the connection's listener says about the client: how it may authenticate, and the
 *  vehicleId of a verified client certificate (CN), if any. */
export interface TransportIdentity { mode: 'password' | 'certificate' | 'either', certVehicleId: string | null, cert?: PeerCertificate }

export interface VehicleAuthOptions {
  transport?: (client: Client) => TransportIdentity
  /** Per-pod limits, charged once the credentials proved good (a wrong-password flood spends none). */
  admit?: () => string | null
  /** Overload shedding (connect-shed.ts): checked before the credential check; refusals are
   *  logged once per second at most, a storm would otherwise log a line per car. */
  shed?: Pick<ConnectShed, 'begin' | 'lateMs' | 'pending'>
  /** Failed credential checks per remote address (auth-failures.ts), checked before credentials. */
  failures?: { blocked: (address: string | undefined) => boolean, failed: (address: string | undefined) => void }
  remoteAddress?: (client: Client) => string | undefined
  check: CredentialCheck
  metrics: BrokerMetrics
  log: Logger
}

export function createVehicleAuth (opts: VehicleAuthOptions): { preConnect: PreConnectHandler, authenticate: AuthenticateHandler, identity: VehicleIdentity } {
  const { metrics, log } = opts
  const principals = new WeakMap<Client, Principal>()
  const emptyIdPersistent = new WeakSet<Client>()
  const emptyId = new WeakSet<Client>()

  const preConnect: PreConnectHandler = (client, packet, callback) => {
    // [MQTT-3.1.3-8] a zero-length client id with CleanSession=0 gets CONNACK 0x02.
    if (packet.clientId === '' && packet.clean === false) emptyIdPersistent.add(client)
    else if (packet.clientId === '') emptyId.add(client)
    callback(null, true)
  }

  const refuse = (client: Client, done: (err: AuthenticateError | null, ok: boolean | null) => void, code: Code, result: string, message: string) => {
    metrics.connects.inc({ result })
    if (result === 'bad_credentials' || result === 'expired_credential') opts.failures?.failed(opts.remoteAddress?.(client))
    log.warn({ clientId: client.id.slice(0, 80), result }, 'connect refused')
    done(refusal(code, message), null)
  }

  function admitVehicle (client: Client, username: string, done: (err: AuthenticateError | null, ok: boolean | null) => void, accepted: string, verify: () => Promise<CheckResult>): void {
    // [MQTT-3.1.3-6] lets the server assign an empty id; it assigns the car's own (aedes would
    // assign `aedes_<uuid>`, a second identity revocation and takeover never find).
    if (emptyId.has(client)) client.id = username
    if (client.id !== username) {
      return refuse(client, done, ConnackCode.identifierRejected, 'identifier_rejected', 'the client id must be the vehicle id')
    }
    const will = willOf(client)
    if (will) {
      const t = parseVehicleTopic(will.topic)
      if (t === null || t.vehicleId !== username || t.kind !== 'status') {
        return refuse(client, done, ConnackCode.notAuthorized, 'will_denied', 'a will may only be published to the car\'s own status topic')
      }
    }
    verify().then(result => {
      if (result === 'revoked') return refuse(client, done, ConnackCode.notAuthorized, 'revoked', 'this vehicle or credential is revoked')
      if (result === 'not_registered') return refuse(client, done, ConnackCode.notAuthorized, 'not_registered', 'this vehicle is not provisioned')
      if (result !== 'ok') return refuse(client, done, ConnackCode.badUsernameOrPassword, result === 'expired' ? 'expired_credential' : 'bad_credentials', 'bad user name or password')
      if (!admitted(client, done)) return
      principals.set(client, { kind: 'vehicle', vehicleId: username })
      metrics.connects.inc({ result: accepted })
      done(null, true)
    }, (err: Error) => {
      log.error({ err: err.message }, 'credential store unavailable')
      refuse(client, done, ConnackCode.serverUnavailable, 'server_unavailable', 'credential store unavailable')
    })
  }

  /** Charges the per-pod budget; false (and CONNACK 3) when it is spent. */
  const admitted = (client: Client, done: (err: AuthenticateError | null, ok: boolean | null) => void): boolean => {
    const limited = opts.admit?.() ?? null
    if (limited === null) return true
    metrics.refused.inc({ reason: limited })
    refuse(client, done, ConnackCode.serverUnavailable, limited, 'server busy: try again later')
    return false
  }

  let shedSince = 0
  let shedLoggedAt = 0
  const shedRefusal = (client: Client, done: (err: AuthenticateError | null, ok: boolean | null) => void, reason: string) => {
    metrics.refused.inc({ reason })
    metrics.connects.inc({ result: reason })
    shedSince++
    const t = Date.now()
    if (t - shedLoggedAt >= 1_000) {
      log.warn({ refused: shedSince, reason, eventLoopLateMs: Math.round(opts.shed?.lateMs() ?? 0), connectsPending: opts.shed?.pending() ?? 0 }, 'pod behind: new connects refused (CONNACK 3) until it catches up')
      shedLoggedAt = t
      shedSince = 0
    }
    done(refusal(ConnackCode.serverUnavailable, 'server busy: try again later'), null)
  }

  const authenticate: AuthenticateHandler = (client, username, password, done) => {
    if (opts.failures?.blocked(opts.remoteAddress?.(client)) === true) {
      metrics.refused.inc({ reason: 'auth_failure_rate' })
      return refuse(client, done, ConnackCode.serverUnavailable, 'auth_failure_rate', 'too many failed logins from this address: try again later')
    }
    const shed = opts.shed?.begin(client) ?? null
    if (shed !== null) return shedRefusal(client, done, shed)
    if (emptyIdPersistent.has(client)) {
      return refuse(client, done, ConnackCode.identifierRejected, 'identifier_rejected', 'a zero-length client id needs a clean session')
    }
    const transport = opts.transport?.(client) ?? { mode: 'password', certVehicleId: null }
    if (transport.certVehicleId !== null) {
      // The verified certificate names the car; a user name, if sent, must agree; no password needed.
      if (username !== undefined && username !== '' && username !== transport.certVehicleId) {
        return refuse(client, done, ConnackCode.badUsernameOrPassword, 'bad_credentials', 'user name differs from the certificate')
      }
      const vehicleId = transport.certVehicleId
      const cert = transport.cert ?? { serial: '', notBefore: 0 }
      return admitVehicle(client, vehicleId, done, 'accepted_certificate', () => opts.check.certificate(vehicleId, cert))
    }
    if (transport.mode === 'certificate') {
      return refuse(client, done, ConnackCode.notAuthorized, 'certificate_required', 'this listener requires a car certificate')
    }
    if (username === undefined || !isVehicleId(username) || password === undefined) {
      return refuse(client, done, ConnackCode.badUsernameOrPassword, 'bad_credentials', 'bad user name or password')
    }
    admitVehicle(client, username, done, 'accepted', () => opts.check.password({ kind: 'vehicle', id: username }, password))
  }

  const identity: VehicleIdentity = {
    principal: client => principals.get(client),
    get: client => {
      const p = principals.get(client)
      return p?.kind === 'vehicle' ? p.vehicleId : undefined
    }
  }
  return { preConnect, authenticate, identity }
}
