// A car's life in the fleet as operations: provision (one or many; each secret shown once),
// rotate, revoke one credential or the whole car, decommission. Each is recorded, with who did it,
// as an event on vehicle.lifecycle (key = vehicleId). Decommissioning revokes the car (so its old
// certificates stay dead if the id is ever provisioned again) and removes its credentials, MQTT
// session (aedes-persistence-redis keys and the broker's QoS 2 window), queued commands, latest
// state, ranking entries and its place in the list of known cars.
import type { Redis } from 'ioredis'
import { EXPIRING_COMMANDS_KEY, commandKey, vehicleCommandsKey } from './command-store.js'
import { createCredentialStore, type CredentialInfo, type CredentialStore } from './credential-store.js'
import { ONLINE_VEHICLES_KEY, presenceKey } from './presence.js'
import { KafkaTopics } from './topics.js'
import { ANOMALOUS_KEY, SCORES_KEY, vehicleAnomaliesKey, vehicleStateKey } from './vehicle-state.js'
import { vehicleKey, type IssuedCredential } from './vehicle-credentials.js'
import { KNOWN_VEHICLES_KEY } from './vehicle-index.js'

export type LifecycleAction = 'provisioned' | 'rotated' | 'credential_revoked' | 'revoked' | 'decommissioned'

export interface LifecycleEvent { action: LifecycleAction, subject: string, credentialId?: string, by: string, at: string }

export interface EventSink { send: (opts: { topic: string, messages: Array<{ key: string, value: string }> }) => Promise<unknown> }

export interface VehicleLifecycle {
  provision: (vehicleIds: string[], by: string) => Promise<Array<{ vehicleId: string } & IssuedCredential>>
  rotate: (vehicleId: string, overlapS: number, by: string) => Promise<IssuedCredential>
  revokeCredential: (subject: { kind: 'vehicle' | 'service', id: string }, credentialId: string, by: string) => Promise<boolean>
  revoke: (subject: { kind: 'vehicle' | 'service', id: string }, by: string) => Promise<void>
  decommission: (vehicleId: string, by: string) => Promise<void>
  credentials: (vehicleId: string) => Promise<CredentialInfo | null>
}

/** The keys of a client's MQTT session: aedes-persistence-redis' subscriptions and queue, and the
 *  broker's QoS 2 window (a copy of the broker's mqtt-engine sessionKeys, checked by its session-keys.test.ts). */
export const mqttSessionKeys = (clientId: string) => [`client:${encodeURIComponent(clientId)}`, `outgoing:${encodeURIComponent(clientId)}`, `fleet:qos2:${encodeURIComponent(clientId)}`]

export function createVehicleLifecycle (redis: Redis, events: EventSink, store: CredentialStore = createCredentialStore(redis)): VehicleLifecycle {
  const record = async (list: Array<Omit<LifecycleEvent, 'at'>>) => {
    const at = new Date().toISOString()
    await events.send({ topic: KafkaTopics.vehicleLifecycle, messages: list.map(e => ({ key: e.subject, value: JSON.stringify({ ...e, at }) })) })
  }
  const car = (id: string) => ({ kind: 'vehicle', id } as const)
  const name = (s: { kind: 'vehicle' | 'service', id: string }) => s.kind === 'vehicle' ? s.id : `service:${s.id}`
  return {
    async provision (vehicleIds, by) {
      const out: Array<{ vehicleId: string } & IssuedCredential> = []
      for (const vehicleId of vehicleIds) out.push({ vehicleId, ...await store.provision(car(vehicleId)) })
      await record(out.map(c => ({ action: 'provisioned', subject: c.vehicleId, credentialId: c.credentialId, by })))
      return out
    },
    async rotate (vehicleId, overlapS, by) {
      const c = await store.rotate(car(vehicleId), overlapS)
      await record([{ action: 'rotated', subject: vehicleId, credentialId: c.credentialId, by }])
      return c
    },
    async revokeCredential (subject, credentialId, by) {
      const removed = await store.revokeCredential(subject, credentialId)
      if (removed) await record([{ action: 'credential_revoked', subject: name(subject), credentialId, by }])
      return removed
    },
    async revoke (subject, by) {
      await store.revoke(subject)
      await record([{ action: 'revoked', subject: name(subject), by }])
    },
    async decommission (vehicleId, by) {
      await store.revoke(car(vehicleId))
      const commandIds = await redis.zrange(vehicleCommandsKey(vehicleId), 0, -1)
      const m = redis.multi()
        .del(vehicleKey(vehicleId), vehicleStateKey(vehicleId), vehicleAnomaliesKey(vehicleId), presenceKey(vehicleId), vehicleCommandsKey(vehicleId), ...mqttSessionKeys(vehicleId))
        .srem('clients', vehicleId)
        .srem(ONLINE_VEHICLES_KEY, vehicleId)
        .srem(ANOMALOUS_KEY, vehicleId)
        .zrem(SCORES_KEY, vehicleId)
        .zrem(KNOWN_VEHICLES_KEY, vehicleId)
      if (commandIds.length > 0) m.del(...commandIds.map(commandKey)).zrem(EXPIRING_COMMANDS_KEY, ...commandIds)
      await m.exec()
      await record([{ action: 'decommissioned', subject: vehicleId, by }])
    },
    credentials: vehicleId => store.info(car(vehicleId))
  }
}
