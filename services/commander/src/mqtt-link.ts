// The commander's MQTT connection to the broker: the service account `service:commander` with its
// own provisioned credential (separately revocable; commander-credential.js), clean
// session, reconnecting by itself. The broker allows it to publish only on vehicles/{id}/commands.
import mqtt, { type MqttClient } from 'mqtt'
import type { Logger } from '../../shared/src/logger.js'
import { SERVICE_USER_PREFIX } from '../../shared/src/vehicle-credentials.js'

export interface CommandLink {
  /** Resolves when the broker PUBACKed the QoS 1 publish. */
  publish: (topic: string, payload: string) => Promise<void>
  connected: () => boolean
  /** Resolves at the first CONNACK (or rejects when the broker refuses the account). */
  ready: () => Promise<void>
  close: () => Promise<void>
}

export function connectCommandLink (opts: { url: string, password: string, instanceId: string, log: Logger, onState?: (connected: boolean) => void, ca?: string }): CommandLink {
  const username = `${SERVICE_USER_PREFIX}commander`
  const client: MqttClient = mqtt.connect(opts.url, {
    username,
    password: opts.password,
    // The broker requires a service's client id to start with its user name.
    clientId: `${username}:${opts.instanceId}`.slice(0, 128),
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 1_000,
    connectTimeout: 5_000,
    keepalive: 30,
    // mqtts://: the broker's certificate is verified against this CA (TLS-only brokers).
    ...(opts.ca === undefined ? {} : { ca: opts.ca })
  })
  let first: { resolve: () => void, reject: (err: Error) => void } | null = null
  const ready = new Promise<void>((resolve, reject) => { first = { resolve, reject } })
  ready.catch(() => {})
  // One warning per outage; the reconnect attempts (every second) only at debug.
  let warned = false
  client.on('connect', () => {
    warned = false
    opts.log.info({ url: opts.url }, 'connected to the broker')
    opts.onState?.(true)
    first?.resolve()
  })
  client.on('close', () => opts.onState?.(false))
  client.on('error', err => {
    opts.log[warned ? 'debug' : 'warn']({ err: err.message }, 'broker connection error; reconnecting')
    warned = true
    // CONNACK 4/5: the account is refused; retrying will not help until the key is fixed.
    if ((err as { code?: number }).code === 4 || (err as { code?: number }).code === 5) first?.reject(err)
  })
  return {
    publish: async (topic, payload) => { await client.publishAsync(topic, payload, { qos: 1 }) },
    connected: () => client.connected,
    ready: () => ready,
    close: async () => { await client.endAsync(true).catch(() => {}) }
  }
}
