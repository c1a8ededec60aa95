// Keeps the fleet's presence in Redis (layout in services/shared/src/presence.ts): a car is
// marked online when its CONNACK went out and offline when its connection ends; the same writes
// remove and set the expiry of its session (session-expiry.ts): the server's FLEET_SESSION_EXPIRY_S, or
// what an MQTT 5 car asked for in its Session Expiry Interval (at most that). Failures are counted and logged
// but never refuse or drop a car.
import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { Logger } from '../../shared/src/logger.js'
import { ONLINE_VEHICLES_KEY, presenceKey } from '../../shared/src/presence.js'
import { KNOWN_VEHICLES_KEY } from '../../shared/src/vehicle-index.js'
import type { BrokerMetrics } from './broker-metrics.js'
import { MARK_OFFLINE_AND_EXPIRE_LUA, liveSessionKeys, sessionKeys, type Client, type MqttEngine } from './mqtt-engine/index.js'
import type { VehicleIdentity } from './vehicle-auth.js'

export function trackPresence (engine: Pick<MqttEngine, 'onClientReady' | 'onClientDisconnect' | 'sessionExpiryOf'>, opts: { redis: Redis, identity: VehicleIdentity, brokerId: string, sessionExpirySeconds: number, metrics: BrokerMetrics, log: Logger }): void {
  const { redis, identity, metrics, log } = opts
  const conns = new WeakMap<Client, string>()
  const failed = (err: Error) => {
    metrics.presenceErrors.inc()
    log.debug({ err: err.message }, 'presence write failed')
  }
  engine.onClientReady((client: Client) => {
    const vehicleId = identity.get(client)
    if (vehicleId === undefined) return
    const conn = randomUUID()
    conns.set(client, conn)
    const write = redis.multi()
      .hset(presenceKey(vehicleId), 'online', '1', 'brokerId', opts.brokerId, 'conn', conn, 'since', new Date().toISOString())
      .sadd(ONLINE_VEHICLES_KEY, vehicleId)
      // a car with a certificate, or any car in development mode, may be known by nothing else
      .zadd(KNOWN_VEHICLES_KEY, 0, vehicleId)
    if (!client.clean) for (const key of liveSessionKeys(client.id)) write.persist(key)
    write.exec().catch(failed)
  })
  engine.onClientDisconnect((client: Client) => {
    const vehicleId = identity.get(client)
    const conn = conns.get(client)
    if (vehicleId === undefined || conn === undefined) return
    const session = sessionKeys(client.id)
    redis.eval(MARK_OFFLINE_AND_EXPIRE_LUA, 2 + session.length, presenceKey(vehicleId), ONLINE_VEHICLES_KEY, ...session, conn, vehicleId, new Date().toISOString(), engine.sessionExpiryOf(client) ?? opts.sessionExpirySeconds).catch(failed)
  })
}
