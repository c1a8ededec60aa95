// Drops a car the moment it is revoked: every pod listens on a Redis channel (REVOCATIONS_CHANNEL)
// and closes the revoked car's connection if it holds it. A car's client id is its vehicle id
// (vehicle-auth.ts) and aedes keeps one connection per client id, so `clientById(vehicleId)` is the
// car's only registered connection on this pod. A connection whose credential check passed just
// before the revocation but that registers after it is caught too: the pod remembers revocations
// for a while and closes such a car when it becomes ready. The revocation set itself refuses the
// car at its next CONNECT.
import type { Redis } from 'ioredis'
import type { Logger } from '../../shared/src/logger.js'
import { REVOCATIONS_CHANNEL } from '../../shared/src/vehicle-credentials.js'
import type { BrokerMetrics } from './broker-metrics.js'
import type { Client, MqttEngine } from './mqtt-engine/index.js'
import type { VehicleIdentity } from './vehicle-auth.js'

/** How long a pod remembers a revocation for connections still completing their CONNECT. */
const REMEMBER_MS = 30_000
/** Most revocations remembered at once (a mass revocation beyond it forgets the oldest first). */
const REMEMBER_MAX = 100_000

export async function watchRevocations (opts: { engine: Pick<MqttEngine, 'clientById' | 'onClientReady'>, subscriber: Redis, identity: VehicleIdentity, metrics: BrokerMetrics, log: Logger, now?: () => number }): Promise<void> {
  const { engine, subscriber, identity, metrics, log } = opts
  const now = opts.now ?? Date.now
  const recent = new Map<string, number>()
  const drop = (client: Client, vehicleId: string) => {
    metrics.refused.inc({ reason: 'revoked_while_connected' })
    log.warn({ vehicleId }, 'revoked car dropped')
    client.close()
  }
  subscriber.on('message', (_channel: string, vehicleId: string) => {
    recent.delete(vehicleId)
    recent.set(vehicleId, now() + REMEMBER_MS)
    if (recent.size > REMEMBER_MAX) recent.delete(recent.keys().next().value!)
    const client = engine.clientById(vehicleId)
    if (client !== undefined && identity.get(client) === vehicleId) drop(client, vehicleId)
  })
  engine.onClientReady((client: Client) => {
    if (recent.size === 0) return
    const vehicleId = identity.get(client)
    if (vehicleId === undefined) return
    const until = recent.get(vehicleId)
    if (until === undefined) return
    if (until < now()) recent.delete(vehicleId)
    else drop(client, vehicleId)
  })
  await subscriber.subscribe(REVOCATIONS_CHANNEL)
}
