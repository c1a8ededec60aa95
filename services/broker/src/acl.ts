// Topic ACL: a car publishes only to vehicles/{own id}/telemetry, /status and /commands/ack, and
// subscribes only to vehicles/{own id}/commands. No MQTT identity publishes to a commands topic:
// commands enter the broker from Kafka (command-intake.ts). A refused subscription gets SUBACK
// 0x80 [MQTT-3.9.3]; the connection stays.
import type { Logger } from '../../shared/src/logger.js'
import { parseVehicleTopic, type VehicleTopic } from '../../shared/src/topics.js'
import type { BrokerMetrics } from './broker-metrics.js'
import type { AuthorizeSubscribeHandler, Client } from './mqtt-engine/index.js'
import type { VehicleIdentity } from './vehicle-auth.js'

/** The topics a car publishes to: its commands topic is not one of them. */
export interface CarPublishTopic { vehicleId: string, kind: 'telemetry' | 'status' | 'commandAck' }
const publishable = (t: VehicleTopic): t is CarPublishTopic => t.kind !== 'commands'

/** The car's own topic it may publish to, or null. */
export function publishTopicFor (identity: VehicleIdentity, client: Client, topic: string): CarPublishTopic | null {
  const principal = identity.principal(client)
  const t = parseVehicleTopic(topic)
  if (principal === undefined || t === null) return null
  return t.vehicleId === principal.vehicleId && publishable(t) ? t : null
}

/** A car may subscribe to its own commands topic, and nothing else may subscribe to anything. */
export function maySubscribe (identity: VehicleIdentity, client: Client, filter: string): boolean {
  const vehicleId = identity.get(client)
  const t = parseVehicleTopic(filter)
  return vehicleId !== undefined && t !== null && t.vehicleId === vehicleId && t.kind === 'commands'
}

/**
 * The one client that may hold a subscription to this exact topic: a car's commands topic can
 * only be held by the car (client id = vehicle id, vehicle-auth.ts), so sessions can answer for
 * it (session-index.ts). Null for every other filter.
 */
export function commandsTopicOwner (filter: string): string | null {
  const t = parseVehicleTopic(filter)
  return t !== null && t.kind === 'commands' && filter === `vehicles/${t.vehicleId}/commands` ? t.vehicleId : null
}

export function createAuthorizeSubscribe (identity: VehicleIdentity, metrics: BrokerMetrics, log: Logger): AuthorizeSubscribeHandler {
  return (client, sub, done) => {
    if (maySubscribe(identity, client, sub.topic)) {
      done(null, sub)
      return
    }
    metrics.refused.inc({ reason: 'subscribe_denied' })
    log.warn({ vehicleId: identity.get(client), topicLength: sub.topic.length }, 'subscription refused')
    done(null, null)
  }
}
