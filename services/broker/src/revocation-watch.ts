// Drops a car the moment it is revoked: every pod listens on a Redis channel (REVOCATIONS_CHANNEL)
// and closes the revoked car's connection if it holds it. The revocation set itself refuses the
// car at its next CONNECT (vehicle-auth.ts).
import type { Aedes, Client } from 'aedes'
import type { Redis } from 'ioredis'
import type { Logger } from '../../shared/src/logger.js'
import { REVOCATIONS_CHANNEL } from '../../shared/src/vehicle-credentials.js'
import type { BrokerMetrics } from './broker-metrics.js'
import type { VehicleIdentity } from './vehicle-auth.js'

export async function watchRevocations (opts: { aedes: Aedes, subscriber: Redis, identity: VehicleIdentity, metrics: BrokerMetrics, log: Logger }): Promise<void> {
  const { aedes, subscriber, identity, metrics, log } = opts
  subscriber.on('message', (_channel: string, vehicleId: string) => {
    const client = (aedes as unknown as { clients: Record<string, Client> }).clients[vehicleId]
    if (client === undefined || identity.get(client) !== vehicleId) return
    metrics.refused.inc({ reason: 'revoked_while_connected' })
    log.warn({ vehicleId }, 'revoked car dropped')
    client.close()
  })
  await subscriber.subscribe(REVOCATIONS_CHANNEL)
}
